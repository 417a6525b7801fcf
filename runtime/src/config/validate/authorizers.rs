//! `[apis.authorizers.NAME]`: what each authorizer type takes and needs.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::Validator;
use crate::config::model::*;
use crate::config::raw::{self, RawApi};
use crate::config::units;

impl Validator {
    pub(super) fn authorizers(
        &mut self,
        api: &RawApi,
        key: &str,
        plugins: &[PluginConfig],
    ) -> Vec<AuthorizerConfig> {
        let mut out = Vec::new();
        for (name, authorizer) in &api.authorizers {
            let span = authorizer.span();
            let authorizer = authorizer.get_ref();
            let key = format!("{key}.authorizers.{name}");
            let kind_name = authorizer.kind.get_ref().as_str();
            if let Some(allowed) = keys_of(kind_name) {
                self.keys_of_type(
                    &present_keys(authorizer),
                    allowed,
                    &key,
                    "authorizers",
                    kind_name,
                );
            }
            let kind = match kind_name {
                "wasm" => {
                    let Some(plugin_name) = &authorizer.plugin else {
                        self.problem(span, key, "a `wasm` authorizer needs a `plugin`");
                        continue;
                    };
                    let lambda = match authorizer
                        .format
                        .as_ref()
                        .map(|f| (f, f.get_ref().as_str()))
                    {
                        None | Some((_, "turnpike")) => false,
                        Some((_, "lambda")) => true,
                        Some((f, other)) => {
                            self.problem(
                                f.span(),
                                format!("{key}.format"),
                                format!("`{other}` is not an authorizer format: \"turnpike\" (the authorizer world) or \"lambda\" (a Lambda authorizer's events and answers)"),
                            );
                            continue;
                        }
                    };
                    let Some(payload_format) =
                        self.payload_format(authorizer.payload_format.as_ref(), &key)
                    else {
                        continue;
                    };
                    if let (Some(_), Some(f), false) =
                        (payload_format, &authorizer.payload_format, lambda)
                    {
                        self.problem(
                            f.span(),
                            format!("{key}.payload_format"),
                            "`payload_format` applies to `format = \"lambda\"` authorizers only",
                        );
                        continue;
                    }
                    let payload_format = payload_format.unwrap_or(PayloadFormat::V1);
                    let world = if lambda {
                        PluginWorld::Lambda
                    } else {
                        PluginWorld::Authorizer
                    };
                    let Some(plugin) =
                        self.plugin_ref(plugin_name, format!("{key}.plugin"), plugins, world)
                    else {
                        continue;
                    };
                    if lambda {
                        AuthorizerKind::Lambda {
                            plugin,
                            payload_format,
                        }
                    } else {
                        AuthorizerKind::Wasm { plugin }
                    }
                }
                "jwt" => match self.jwt(authorizer, &span, &key) {
                    Some(jwt) => AuthorizerKind::Jwt(Arc::new(jwt)),
                    None => continue,
                },
                "sigv4" => match self.sigv4(authorizer, &span, &key) {
                    Some(sigv4) => AuthorizerKind::SigV4(Arc::new(sigv4)),
                    None => continue,
                },
                other => {
                    self.problem(
                        authorizer.kind.span(),
                        format!("{key}.type"),
                        format!(
                            "unknown authorizer type `{other}` (expected `wasm`, `jwt` or `sigv4`)"
                        ),
                    );
                    continue;
                }
            };
            let payload = match authorizer.payload.as_ref().map(|p| p.get_ref().as_str()) {
                None | Some("token") => AuthorizerPayload::Token,
                Some("request") => AuthorizerPayload::Request,
                Some(other) => {
                    if let Some(p) = &authorizer.payload {
                        self.problem(
                            p.span(),
                            format!("{key}.payload"),
                            format!("`{other}` is not `token` or `request`"),
                        );
                    }
                    AuthorizerPayload::Token
                }
            };
            let mut identity_sources = Vec::new();
            match authorizer.identity_sources.as_ref().map(|s| s.get_ref()) {
                None => identity_sources.push(IdentitySource::Header(http::header::AUTHORIZATION)),
                Some(sources) => {
                    for (i, source) in sources.iter().enumerate() {
                        match IdentitySource::parse(source.get_ref()) {
                            Ok(s) => identity_sources.push(s),
                            Err(why) => self.problem(
                                source.span(),
                                format!("{key}.identity_sources[{i}]"),
                                why,
                            ),
                        }
                    }
                    if sources.is_empty() {
                        self.problem(
                            span.clone(),
                            format!("{key}.identity_sources"),
                            "at least one identity source is needed",
                        );
                    }
                    if payload == AuthorizerPayload::Token && sources.len() > 1 {
                        self.problem(
                            span.clone(),
                            format!("{key}.identity_sources"),
                            "a `token` authorizer takes exactly one identity source; use `payload = \"request\"` for several",
                        );
                    }
                }
            }
            let cache_ttl = match &authorizer.cache_ttl {
                None => DEFAULT_AUTHORIZER_TTL,
                Some(t) if t.get_ref().trim_end_matches(['s', 'm', 'h']).trim() == "0" => {
                    Duration::ZERO
                }
                Some(t) => match units::parse_duration(t.get_ref()) {
                    Ok(d) => d,
                    Err(why) => {
                        self.problem(t.span(), format!("{key}.cache_ttl"), why);
                        DEFAULT_AUTHORIZER_TTL
                    }
                },
            };
            let on_error = match authorizer.on_error.as_ref().map(|p| p.get_ref().as_str()) {
                None | Some("deny") => OnError::Deny,
                Some("allow") => OnError::Allow,
                Some(other) => {
                    if let Some(p) = &authorizer.on_error {
                        self.problem(
                            p.span(),
                            format!("{key}.on_error"),
                            format!("`{other}` is not `deny` or `allow`"),
                        );
                    }
                    OnError::Deny
                }
            };
            let identity_validation = match &authorizer.identity_validation_expression {
                None => None,
                Some(_) if payload != AuthorizerPayload::Token => {
                    self.problem(
                        span.clone(),
                        format!("{key}.identity_validation_expression"),
                        "`identity_validation_expression` applies to `token` authorizers only, as in API Gateway",
                    );
                    None
                }
                // Anchored: API Gateway matches the whole token.
                Some(e) => match regex::Regex::new(&format!("^(?:{})$", e.get_ref())) {
                    Ok(re) => Some(re),
                    Err(why) => {
                        self.problem(
                            e.span(),
                            format!("{key}.identity_validation_expression"),
                            // regex's messages draw the pattern over lines.
                            format!(
                                "not a regular expression: {}",
                                why.to_string()
                                    .lines()
                                    .last()
                                    .unwrap_or_default()
                                    .trim()
                                    .trim_start_matches("error: ")
                            ),
                        );
                        None
                    }
                },
            };
            out.push(AuthorizerConfig {
                name: name.clone(),
                kind,
                payload,
                identity_sources,
                cache_ttl,
                on_error,
                identity_validation,
            });
        }
        out
    }

    /// The `jwt` settings of an authorizer; `None` (with problems recorded)
    /// if they are unusable.
    pub(super) fn jwt(
        &mut self,
        raw: &raw::RawAuthorizer,
        span: &Range<usize>,
        key: &str,
    ) -> Option<JwtConfig> {
        let Some(issuer) = &raw.issuer else {
            self.problem(span.clone(), key, "a `jwt` authorizer needs an `issuer`");
            return None;
        };
        let audiences: Vec<String> = raw
            .audiences
            .iter()
            .flat_map(|a| a.get_ref())
            .map(|a| a.get_ref().clone())
            .collect();
        if audiences.is_empty() {
            self.problem(
                span.clone(),
                format!("{key}.audiences"),
                "a `jwt` authorizer needs at least one audience",
            );
        }
        let jwks = match (&raw.jwks_uri, &raw.jwks_file) {
            (Some(uri), None) => match uri.get_ref().parse::<http::Uri>() {
                Ok(parsed)
                    if matches!(parsed.scheme_str(), Some("http" | "https"))
                        && parsed.host().is_some() =>
                {
                    JwksSource::Url(parsed)
                }
                _ => {
                    self.problem(
                        uri.span(),
                        format!("{key}.jwks_uri"),
                        format!("`{}` is not an http:// or https:// URL", uri.get_ref()),
                    );
                    return None;
                }
            },
            (None, Some(file)) => {
                let path = self.base_dir.join(file.get_ref());
                if !path.is_file() {
                    self.problem(
                        file.span(),
                        format!("{key}.jwks_file"),
                        format!("{} does not exist", path.display()),
                    );
                    return None;
                }
                JwksSource::File(path)
            }
            _ => {
                self.problem(
                    span.clone(),
                    key,
                    "a `jwt` authorizer needs exactly one of `jwks_uri` and `jwks_file`",
                );
                return None;
            }
        };
        let mut algorithms = Vec::new();
        for (i, alg) in raw.algorithms.iter().flat_map(|a| a.get_ref()).enumerate() {
            match alg.get_ref().parse::<jsonwebtoken::Algorithm>() {
                Ok(a) => algorithms.push(a),
                Err(_) => self.problem(
                    alg.span(),
                    format!("{key}.algorithms[{i}]"),
                    format!(
                        "`{}` is not a JWT algorithm: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384 or HS512",
                        alg.get_ref()
                    ),
                ),
            }
        }
        let leeway = self.duration(
            raw.leeway.clone(),
            &format!("{key}.leeway"),
            DEFAULT_JWT_LEEWAY,
        );
        let jwks_refresh = self.duration(
            raw.jwks_refresh.clone(),
            &format!("{key}.jwks_refresh"),
            DEFAULT_JWKS_REFRESH,
        );
        Some(JwtConfig {
            issuer: issuer.get_ref().clone(),
            audiences,
            jwks,
            algorithms,
            leeway,
            jwks_refresh,
        })
    }

    /// The `sigv4` settings of an authorizer.
    pub(super) fn sigv4(
        &mut self,
        raw: &raw::RawAuthorizer,
        span: &Range<usize>,
        key: &str,
    ) -> Option<SigV4Config> {
        let mut credentials = Vec::new();
        for (i, credential) in raw.credentials.iter().flat_map(|c| c.get_ref()).enumerate() {
            let path = format!("{key}.credentials[{i}]");
            let c = credential.get_ref();
            let id = c.access_key_id.get_ref();
            if id.len() < 16 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                self.problem(
                    c.access_key_id.span(),
                    format!("{path}.access_key_id"),
                    "an access key id is at least 16 letters and digits, e.g. AKIAIOSFODNN7EXAMPLE",
                );
            }
            let secret = match (&c.secret_access_key, &c.secret_access_key_env) {
                (Some(secret), None) => Some(secret.get_ref().clone()),
                (None, Some(var)) => match std::env::var(var.get_ref()) {
                    Ok(secret) if !secret.is_empty() => Some(secret),
                    _ => {
                        self.problem(
                            var.span(),
                            format!("{path}.secret_access_key_env"),
                            format!("environment variable `{}` is not set", var.get_ref()),
                        );
                        None
                    }
                },
                _ => {
                    self.problem(
                        credential.span(),
                        path.clone(),
                        "set exactly one of `secret_access_key` and `secret_access_key_env`",
                    );
                    None
                }
            };
            if let Some(secret) = secret {
                credentials.push(SigV4Credential {
                    access_key_id: id.clone(),
                    secret_access_key: secret,
                    principal: c
                        .principal
                        .as_ref()
                        .map_or_else(|| id.clone(), |p| p.get_ref().clone()),
                });
            }
        }
        if raw
            .credentials
            .as_ref()
            .is_none_or(|c| c.get_ref().is_empty())
        {
            self.problem(
                span.clone(),
                format!("{key}.credentials"),
                "a `sigv4` authorizer needs at least one entry in `credentials`",
            );
            return None;
        }
        Some(SigV4Config {
            region: raw.region.as_ref().map(|r| r.get_ref().clone()),
            service: raw
                .service
                .as_ref()
                .map_or_else(|| DEFAULT_SIGV4_SERVICE.to_owned(), |s| s.get_ref().clone()),
            credentials,
        })
    }
}

/// The keys an authorizer of type `kind` takes (`type` aside), or `None`
/// for an unknown type (reported on its own).
fn keys_of(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "wasm" => Some(&[
            "plugin",
            "format",
            "payload_format",
            "identity_validation_expression",
            "payload",
            "identity_sources",
            "cache_ttl",
            "on_error",
        ]),
        "jwt" => Some(&[
            "issuer",
            "audiences",
            "jwks_uri",
            "jwks_file",
            "algorithms",
            "leeway",
            "jwks_refresh",
            "identity_sources",
            "cache_ttl",
        ]),
        "sigv4" => Some(&["region", "service", "credentials"]),
        _ => None,
    }
}

/// Every key an authorizer table sets, with where it stands.
fn present_keys(raw: &raw::RawAuthorizer) -> Vec<(&'static str, Option<Range<usize>>)> {
    let at = |s: &Option<raw::SpannedStr>| s.as_ref().map(|s| s.span());
    vec![
        ("plugin", at(&raw.plugin)),
        ("payload", at(&raw.payload)),
        (
            "identity_sources",
            raw.identity_sources.as_ref().map(|s| s.span()),
        ),
        ("cache_ttl", at(&raw.cache_ttl)),
        ("on_error", at(&raw.on_error)),
        ("format", at(&raw.format)),
        ("payload_format", at(&raw.payload_format)),
        (
            "identity_validation_expression",
            at(&raw.identity_validation_expression),
        ),
        ("issuer", at(&raw.issuer)),
        ("audiences", raw.audiences.as_ref().map(|s| s.span())),
        ("jwks_uri", at(&raw.jwks_uri)),
        ("jwks_file", at(&raw.jwks_file)),
        ("algorithms", raw.algorithms.as_ref().map(|s| s.span())),
        ("leeway", at(&raw.leeway)),
        ("jwks_refresh", at(&raw.jwks_refresh)),
        ("region", at(&raw.region)),
        ("service", at(&raw.service)),
        ("credentials", raw.credentials.as_ref().map(|s| s.span())),
    ]
}
