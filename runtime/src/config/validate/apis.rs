//! `[[apis]]`: names, listeners and hosts, stages, resource policies, CORS
//! and models.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::HeaderValue;
use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::*;
use crate::config::raw::{self, RawApi, SpannedStr};
use crate::config::units;

impl Validator {
    pub(super) fn apis(
        &mut self,
        raw: Vec<Spanned<RawApi>>,
        listeners: &[ListenerConfig],
        limits: &Limits,
        plugins: &[PluginConfig],
        upstreams: &[Arc<UpstreamConfig>],
    ) -> Vec<ApiConfig> {
        let mut out: Vec<ApiConfig> = Vec::new();
        // (listener, host or "" for any) -> api name, to find two APIs claiming one place.
        let mut claimed: HashMap<(usize, String), String> = HashMap::new();
        for (i, api) in raw.into_iter().enumerate() {
            let api_span = api.span();
            let api = api.into_inner();
            let key = format!("apis[{i}]");
            let name = api.name.get_ref().clone();
            if !is_identifier(&name) {
                self.problem(
                    api.name.span(),
                    format!("{key}.name"),
                    format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
                );
            } else if out.iter().any(|a| a.name == name) {
                self.problem(
                    api.name.span(),
                    format!("{key}.name"),
                    format!("API `{name}` is defined twice"),
                );
            }
            let listener_ids = self.listener_refs(api.listeners.as_deref(), listeners, &key);
            if listeners.is_empty() {
                self.problem(
                    api_span.clone(),
                    key.clone(),
                    "there is no [[listeners]] entry to serve this API on",
                );
            }
            let mut hosts = Vec::new();
            for (j, h) in api.hosts.iter().enumerate() {
                let host = h.get_ref().to_ascii_lowercase();
                if host.is_empty()
                    || host.contains(['/', ':', ' '])
                    || http::uri::Authority::try_from(host.as_str()).is_err()
                {
                    self.problem(
                        h.span(),
                        format!("{key}.hosts[{j}]"),
                        format!(
                            "`{}` is not a host name (no scheme, port or path)",
                            h.get_ref()
                        ),
                    );
                }
                hosts.push(host);
            }
            let places: Vec<String> = if hosts.is_empty() {
                vec![String::new()]
            } else {
                hosts.clone()
            };
            for &l in &listener_ids {
                for host in &places {
                    if let Some(other) = claimed.insert((l, host.clone()), name.clone()) {
                        let which = if host.is_empty() {
                            "every host".to_owned()
                        } else {
                            format!("host `{host}`")
                        };
                        self.problem(
                            api.name.span(),
                            format!("{key}.hosts"),
                            format!(
                                "API `{other}` already serves {which} on listener `{}`; give the APIs distinct `hosts`",
                                listeners[l].name
                            ),
                        );
                    }
                }
            }
            let stages = self.stages(&api, &key);
            let authorizers = self.authorizers(&api, &key, plugins);
            let models = self.models(&api, &key);
            let is_websocket = super::websocket::is_websocket(self, &api, &key);
            let websocket = self.websocket(&api, &key, is_websocket, &authorizers);
            if is_websocket {
                for (name, stage) in &api.stages {
                    if let Some(cache) = &stage.get_ref().cache {
                        self.problem(
                            cache.span(),
                            format!("{key}.stages.{name}.cache"),
                            "a WebSocket API has no response cache (its handshakes and messages are not cached)",
                        );
                    }
                }
            }
            let routes = self.routes(
                &api,
                &key,
                super::routes::RouteScope {
                    stages: &stages,
                    limits,
                    authorizers: &authorizers,
                    plugins,
                    models: &models,
                    upstreams,
                    websocket: is_websocket,
                },
            );
            let policy = api
                .policy
                .as_ref()
                .map(|p| self.policy(p, &format!("{key}.policy")));
            let cors = api
                .cors
                .as_ref()
                .map(|c| self.cors(c, &format!("{key}.cors")));
            let api_key_source = match api
                .api_key_source
                .as_ref()
                .map(|s| (s, s.get_ref().to_ascii_lowercase()))
            {
                None => ApiKeySource::Header,
                Some((_, s)) if s == "header" => ApiKeySource::Header,
                Some((_, s)) if s == "authorizer" => ApiKeySource::Authorizer,
                Some((raw, _)) => {
                    self.problem(
                        raw.span(),
                        format!("{key}.api_key_source"),
                        format!(
                            "`{}` is not a key source: \"header\" (x-api-key) or \"authorizer\"",
                            raw.get_ref()
                        ),
                    );
                    ApiKeySource::Header
                }
            };
            let aws = self.aws_names(&api, &key, &name);
            let binary_media_types = api
                .binary_media_types
                .iter()
                .map(|t| t.get_ref().trim().to_ascii_lowercase())
                .collect();
            let gateway_responses = self.gateway_responses(&api.gateway_responses, &key);
            out.push(ApiConfig {
                name,
                listeners: listener_ids,
                hosts,
                stages,
                routes,
                authorizers,
                policy,
                cors,
                api_key_source,
                aws,
                binary_media_types,
                gateway_responses,
                websocket,
            });
        }
        out
    }

    /// `[apis.aws]`, each name defaulted.
    fn aws_names(&mut self, api: &RawApi, key: &str, name: &str) -> AwsNames {
        let raw = api.aws.as_ref().map(|a| a.get_ref());
        let region = raw.and_then(|a| a.region.as_ref());
        let account = raw.and_then(|a| a.account_id.as_ref());
        let api_id = raw.and_then(|a| a.api_id.as_ref());
        if let Some(account) = account
            && (account.get_ref().len() != 12
                || !account.get_ref().bytes().all(|b| b.is_ascii_digit()))
        {
            self.problem(
                account.span(),
                format!("{key}.aws.account_id"),
                "an AWS account id is twelve digits",
            );
        }
        for (value, field) in [(region, "region"), (api_id, "api_id")] {
            if let Some(v) = value
                && (v.get_ref().is_empty()
                    || !v
                        .get_ref()
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            {
                self.problem(
                    v.span(),
                    format!("{key}.aws.{field}"),
                    "use letters, digits, `-` and `_` only (it is part of ARNs)",
                );
            }
        }
        AwsNames {
            region: region.map_or("us-east-1", |r| r.get_ref()).to_owned(),
            account_id: account.map_or("123456789012", |a| a.get_ref()).to_owned(),
            api_id: api_id.map_or(name, |a| a.get_ref()).to_owned(),
        }
    }

    pub(super) fn stages(&mut self, api: &RawApi, key: &str) -> Vec<StageConfig> {
        if api.stages.is_empty() {
            return vec![StageConfig {
                name: StageName::Default,
                variables: BTreeMap::new(),
                policy: None,
                throttle: None,
                cache: None,
            }];
        }
        let mut out = Vec::new();
        for (stage_name, stage) in &api.stages {
            let stage_key = format!("{key}.stages.{stage_name}");
            let name = if stage_name == "$default" {
                StageName::Default
            } else {
                if !is_identifier(stage_name) || stage_name.len() > 128 {
                    self.problem(
                        stage.span(),
                        stage_key.clone(),
                        format!(
                            "`{stage_name}` is not a stage name: use `$default` or up to 128 letters, digits, `_` and `-`"
                        ),
                    );
                }
                StageName::Named(stage_name.clone())
            };
            let mut variables = BTreeMap::new();
            for (var, value) in &stage.get_ref().variables {
                if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.problem(
                        value.span(),
                        format!("{stage_key}.variables.{var}"),
                        format!("`{var}` is not a stage variable name (letters, digits and `_`)"),
                    );
                }
                if value.get_ref().chars().any(|c| c.is_control()) {
                    self.problem(
                        value.span(),
                        format!("{stage_key}.variables.{var}"),
                        "stage variable values may not contain control characters",
                    );
                }
                variables.insert(var.clone(), value.get_ref().clone());
            }
            let policy = stage
                .get_ref()
                .policy
                .as_ref()
                .map(|p| self.policy(p, &format!("{stage_key}.policy")));
            let throttle = stage
                .get_ref()
                .throttle
                .as_ref()
                .map(|t| self.throttle(t, &format!("{stage_key}.throttle")));
            let cache = stage
                .get_ref()
                .cache
                .as_ref()
                .map(|c| self.stage_cache(c, &format!("{stage_key}.cache")));
            out.push(StageConfig {
                name,
                variables,
                policy,
                throttle,
                cache,
            });
        }
        out
    }

    pub(super) fn policy(&mut self, raw: &raw::RawPolicy, key: &str) -> SourcePolicy {
        let mut networks = |list: &[SpannedStr], which: &str| -> Vec<ipnet::IpNet> {
            list.iter()
                .enumerate()
                .filter_map(|(i, entry)| {
                    let text = entry.get_ref().trim();
                    let parsed = text.parse::<ipnet::IpNet>().or_else(|_| {
                        text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)
                    });
                    match parsed {
                        Ok(net) => Some(net.trunc()),
                        Err(_) => {
                            self.problem(
                                entry.span(),
                                format!("{key}.{which}[{i}]"),
                                format!(
                                    "`{text}` is not an IP address or CIDR block, e.g. \"10.0.0.0/8\", \"192.0.2.7\" or \"2001:db8::/32\""
                                ),
                            );
                            None
                        }
                    }
                })
                .collect()
        };
        SourcePolicy {
            allow: networks(&raw.allow_source, "allow_source"),
            deny: networks(&raw.deny_source, "deny_source"),
        }
    }

    pub(super) fn cors(&mut self, raw: &Spanned<raw::RawCors>, key: &str) -> CorsConfig {
        let span = raw.span();
        let raw = raw.get_ref();
        let mut allow_origins = Vec::new();
        for (i, origin) in raw.allow_origins.iter().enumerate() {
            let text = origin.get_ref().trim().to_ascii_lowercase();
            let pattern = if text == "*" {
                Some(OriginPattern::Any)
            } else {
                text.split_once("://").and_then(|(scheme, rest)| {
                    let well_formed = matches!(scheme, "http" | "https")
                        && !rest.is_empty()
                        && !rest.contains(['/', '?', '#', ' ']);
                    if !well_formed {
                        None
                    } else if let Some(domain) = rest.strip_prefix("*.") {
                        (!domain.is_empty() && !domain.contains('*')).then(|| {
                            OriginPattern::Subdomains(format!("{scheme}://"), format!(".{domain}"))
                        })
                    } else {
                        (!rest.contains('*')).then(|| OriginPattern::Exact(text.clone()))
                    }
                })
            };
            match pattern {
                Some(p) => allow_origins.push(p),
                None => self.problem(
                    origin.span(),
                    format!("{key}.allow_origins[{i}]"),
                    format!(
                        "`{}` is not an origin: use \"*\", \"https://app.example.com\" (scheme, host, optional port) or \"https://*.example.com\"",
                        origin.get_ref()
                    ),
                ),
            }
        }
        let mut token_list = |list: &[SpannedStr], which: &str, upper: bool| -> CorsList {
            if list.iter().any(|v| v.get_ref().trim() == "*") {
                return CorsList::Any;
            }
            let mut names = Vec::new();
            for (i, value) in list.iter().enumerate() {
                let name = value.get_ref().trim();
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    self.problem(
                        value.span(),
                        format!("{key}.{which}[{i}]"),
                        format!("`{name}` is not a method or header name"),
                    );
                    continue;
                }
                names.push(if upper {
                    name.to_ascii_uppercase()
                } else {
                    name.to_ascii_lowercase()
                });
            }
            // Every name was checked to be a header name, so they join
            // into a valid header value.
            let value = HeaderValue::from_str(&names.join(", "))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            CorsList::Only { names, value }
        };
        let allow_methods = if raw.allow_methods.is_empty() {
            // API Gateway's default when methods are left out: every method.
            CorsList::Any
        } else {
            token_list(&raw.allow_methods, "allow_methods", true)
        };
        let allow_headers = (!raw.allow_headers.is_empty())
            .then(|| token_list(&raw.allow_headers, "allow_headers", false));
        let expose_headers = (!raw.expose_headers.is_empty()).then(|| {
            match token_list(&raw.expose_headers, "expose_headers", false) {
                CorsList::Any => HeaderValue::from_static("*"),
                CorsList::Only { value, .. } => value,
            }
        });
        let allow_credentials = raw.allow_credentials.as_ref().is_some_and(|c| *c.get_ref());
        if allow_credentials && allow_origins.contains(&OriginPattern::Any) {
            let at = raw
                .allow_credentials
                .as_ref()
                .map(|c| c.span())
                .unwrap_or(span.clone());
            self.problem(
                at,
                format!("{key}.allow_credentials"),
                "browsers refuse credentials with `Access-Control-Allow-Origin: *`; list the origins instead of \"*\"",
            );
        }
        if raw.allow_origins.is_empty() {
            self.problem(
                span,
                format!("{key}.allow_origins"),
                "list the origins that may call, or \"*\"",
            );
        }
        let max_age = raw
            .max_age
            .as_ref()
            .and_then(|m| match units::parse_duration(m.get_ref()) {
                Ok(d) if d.as_secs() <= 86_400 => Some(HeaderValue::from(d.as_secs())),
                Ok(_) => {
                    self.problem(
                        m.span(),
                        format!("{key}.max_age"),
                        "at most 86400s (a day), as in API Gateway",
                    );
                    None
                }
                Err(why) => {
                    self.problem(m.span(), format!("{key}.max_age"), why);
                    None
                }
            });
        CorsConfig {
            allow_origins,
            allow_methods,
            allow_headers,
            expose_headers,
            allow_credentials,
            max_age,
        }
    }

    /// The API's models, each schema compiled.
    pub(super) fn models(&mut self, api: &RawApi, key: &str) -> Vec<Arc<Model>> {
        let mut out = Vec::new();
        for (name, model) in &api.models {
            let path = format!("{key}.models.{name}");
            let raw = model.get_ref();
            let schema: serde_json::Value = match (&raw.schema, &raw.schema_file) {
                (Some(schema), None) => match serde_json::to_value(schema.get_ref()) {
                    Ok(v) => v,
                    Err(e) => {
                        self.problem(schema.span(), format!("{path}.schema"), e.to_string());
                        continue;
                    }
                },
                (None, Some(file)) => {
                    let file_path = self.base_dir.join(file.get_ref());
                    let parsed = std::fs::read(&file_path)
                        .map_err(|e| format!("cannot read {}: {e}", file_path.display()))
                        .and_then(|bytes| {
                            serde_json::from_slice(&bytes)
                                .map_err(|e| format!("{} is not JSON: {e}", file_path.display()))
                        });
                    match parsed {
                        Ok(v) => v,
                        Err(why) => {
                            self.problem(file.span(), format!("{path}.schema_file"), why);
                            continue;
                        }
                    }
                }
                _ => {
                    self.problem(
                        model.span(),
                        path,
                        "a model needs exactly one of `schema` (a table) and `schema_file` (a JSON file)",
                    );
                    continue;
                }
            };
            match jsonschema::validator_for(&schema) {
                Ok(validator) => out.push(Arc::new(Model {
                    name: name.clone(),
                    validator,
                })),
                Err(e) => self.problem(model.span(), path, format!("not a valid JSON Schema: {e}")),
            }
        }
        out
    }
}
