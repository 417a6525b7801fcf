//! Phase 6: authorization, with API Gateway's semantics. A missing identity
//! source is 401 without calling the authorizer; `deny` is 403;
//! `unauthorized` is 401; `allow` passes a principal and context on to the
//! integration. Decisions are cached per authorizer, keyed by the identity
//! source values, for the configured TTL (or the plugin's override; for a
//! JWT, never past its `exp`). A SigV4 signature is checked on every
//! request (it covers its own time and body). A route's authorization
//! scopes are checked after every decision, cached or not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::observe::trace::within;

use crate::auth::jwt::{JwtRefusal, JwtVerifier};
use crate::auth::lambda::{LambdaAnswer, PolicyGrant, PolicyVerdict};
use crate::auth::sigv4::SigV4Verifier;
use crate::auth::{Authorized, Cached, CompiledAuthorizer, Decider, DecisionCache, Via};
use crate::config::{AuthorizerPayload, AwsNames, IdentitySource, OnError, PayloadFormat};
use crate::error::{Blame, ErrorKind, GatewayError};
use crate::lambda::{AuthorizerEvent, RequestView};
use crate::plugin::LambdaPlugin;
use crate::plugin::{AuthorizeInput, Decision, RequestInfo};
use crate::proxy::{Cx, Flow, Verdict};

/// Runs the route's authorizer, if it has one, then checks the route's
/// authorization scopes.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let Some(route) = cx.route else {
        return Ok(Flow::Continue);
    };
    let Some(authorizer) = &route.authorizer else {
        return Ok(Flow::Continue);
    };
    let started = Instant::now();
    cx.marks.authorizer = Some(started);
    let decided = match &authorizer.decider {
        Decider::SigV4(verifier) => verify_sigv4(verifier, cx).await.map(Some),
        _ => decide(authorizer, cx).await,
    };
    // Plugins time their own call (and a request refused before it has
    // none); the built-in checks are timed here.
    if matches!(authorizer.decider, Decider::SigV4(_) | Decider::Jwt(_))
        && cx.authorizer_cache_hit != Some(true)
    {
        cx.authorizer_latency = Some(started.elapsed());
    }
    let authorized = decided?;
    if !route.scopes.is_empty()
        && !authorized
            .as_ref()
            .is_some_and(|a| route.scopes.iter().any(|r| a.scopes.contains(r)))
    {
        return Err(GatewayError::with_source(
            ErrorKind::Forbidden,
            "the token has none of the route's authorization scopes",
        ));
    }
    cx.authorized = authorized;
    Ok(Flow::Continue)
}

/// A `wasm` or `jwt` decision, from the cache when it has one.
async fn decide(
    authorizer: &CompiledAuthorizer,
    cx: &mut Cx<'_>,
) -> Result<Option<Arc<Authorized>>, GatewayError> {
    let mut identity = Vec::with_capacity(authorizer.config.identity_sources.len());
    for source in &authorizer.config.identity_sources {
        match identity_value(source, cx) {
            Some(value) if !value.is_empty() => identity.push((source.to_string(), value)),
            _ => {
                return Err(GatewayError::with_source(
                    ErrorKind::Unauthorized,
                    format!("identity source {source} is missing"),
                ));
            }
        }
    }
    if let (Some(pattern), AuthorizerPayload::Token) = (
        &authorizer.config.identity_validation,
        authorizer.config.payload,
    ) && !identity
        .first()
        .is_some_and(|(_, token)| pattern.is_match(token))
    {
        return Err(GatewayError::with_source(
            ErrorKind::Unauthorized,
            "the token does not match the identity validation expression",
        ));
    }
    // A Lambda authorizer's policy names stages: as in API Gateway, where
    // each stage has its own authorizer cache, it is remembered per stage.
    let stage = match authorizer.decider {
        Decider::Lambda { .. } => cx.version.map(|v| v.stage.name.as_str()),
        _ => None,
    };
    let cache_key = authorizer
        .cache
        .as_ref()
        .map(|_| DecisionCache::key(identity.iter().map(|(_, v)| v.as_str()).chain(stage)));
    if let (Some(cache), Some(key)) = (&authorizer.cache, &cache_key)
        && let Some(hit) = cache.get(key)
    {
        cx.authorizer_cache_hit = Some(true);
        return match hit {
            Cached::Allow(allowed) => Ok(Some(allowed)),
            Cached::Deny => Err(GatewayError::with_source(
                ErrorKind::Forbidden,
                "denied (cached decision)",
            )),
            Cached::Policy(grant) => match &authorizer.decider {
                Decider::Lambda { aws, .. } => apply_policy(&grant, aws, cx).map(Some),
                _ => Err(GatewayError::new(ErrorKind::Internal)),
            },
        };
    }
    cx.authorizer_cache_hit = Some(false);
    let remember = |decision: Cached, ttl: Option<Duration>| {
        if let (Some(cache), Some(key)) = (&authorizer.cache, cache_key.clone()) {
            cache.remember(key, decision, ttl);
        }
    };
    let plugin = match &authorizer.decider {
        Decider::Wasm(plugin) => plugin,
        Decider::Jwt(verifier) => {
            let token = identity.first().map_or("", |(_, v)| v.as_str());
            let (allowed, ttl) = verify_jwt(authorizer, verifier, token).await?;
            remember(Cached::Allow(allowed.clone()), ttl);
            return Ok(Some(allowed));
        }
        // Checked before the identity sources, in `run`.
        Decider::SigV4(_) => return Ok(None),
        Decider::Lambda {
            plugin,
            format,
            aws,
            function_arn,
        } => {
            let values: Vec<String> = identity.into_iter().map(|(_, v)| v).collect();
            let started = Instant::now();
            let event = lambda_event(authorizer, *format, aws, &values, cx);
            let request_id = cx.request_id_str().to_owned();
            let answer = within(
                &cx.trace,
                ask_lambda(
                    authorizer,
                    plugin,
                    *format,
                    function_arn,
                    &request_id,
                    &event,
                ),
            )
            .await;
            cx.authorizer_latency = Some(started.elapsed());
            return match answer? {
                None => Ok(None),
                Some(LambdaAnswer::Policy(grant)) => {
                    remember(Cached::Policy(grant.clone()), None);
                    apply_policy(&grant, aws, cx).map(Some)
                }
                Some(LambdaAnswer::Simple(Some(allowed))) => {
                    remember(Cached::Allow(allowed.clone()), None);
                    Ok(Some(allowed))
                }
                Some(LambdaAnswer::Simple(None)) => {
                    remember(Cached::Deny, None);
                    Err(GatewayError::with_source(
                        ErrorKind::Forbidden,
                        "denied by the authorizer (isAuthorized false)",
                    ))
                }
            };
        }
    };
    let input = AuthorizeInput {
        token: match authorizer.config.payload {
            AuthorizerPayload::Token => identity.first().map(|(_, v)| v.clone()),
            AuthorizerPayload::Request => None,
        },
        identity,
        request: plugin_view(cx),
    };
    let started = Instant::now();
    let outcome = within(&cx.trace, plugin.authorize(cx.request_id_str(), &input)).await;
    cx.authorizer_latency = Some(started.elapsed());
    match outcome {
        Ok(Decision::Allow(allow)) => {
            let ttl = allow.ttl_seconds.map(|s| Duration::from_secs(u64::from(s)));
            let allowed = Arc::new(Authorized {
                principal_id: allow.principal_id,
                context: allow.context,
                usage_identifier: allow.usage_identifier,
                scopes: Vec::new(),
                via: Via::Plugin,
                typed_context: None,
            });
            remember(Cached::Allow(allowed.clone()), ttl);
            Ok(Some(allowed))
        }
        Ok(Decision::Deny) => {
            remember(Cached::Deny, None);
            Err(GatewayError::with_source(
                ErrorKind::Forbidden,
                "denied by the authorizer",
            ))
        }
        Ok(Decision::Unauthorized) => Err(GatewayError::with_source(
            ErrorKind::Unauthorized,
            "the authorizer did not accept the identity",
        )),
        Err(failure) => match authorizer.config.on_error {
            // The request's own log line (warn, blamed on the plugin) says
            // what failed; the guest's details are in its output lines.
            OnError::Deny => Err(GatewayError::with_source(
                ErrorKind::AuthorizerFailed,
                failure,
            )),
            OnError::Allow => {
                tracing::warn!(authorizer = %authorizer.config.name, request_id = cx.request_id_str(), error = %failure, "authorizer failed; failing open");
                Ok(None)
            }
        },
    }
}

/// What a Lambda authorizer makes of the request's method ARN: a policy
/// allows it, denies it explicitly, or says nothing of it (403 either way).
fn apply_policy(
    grant: &PolicyGrant,
    aws: &AwsNames,
    cx: &Cx<'_>,
) -> Result<Arc<Authorized>, GatewayError> {
    let arn = crate::lambda::method_arn(&lambda_view(cx, aws));
    match grant.evaluate(&arn) {
        PolicyVerdict::Allow => Ok(grant.authorized.clone()),
        PolicyVerdict::ExplicitDeny => Err(GatewayError::with_source(
            ErrorKind::PolicyDenied(true),
            format!("the authorizer's policy denies {arn}"),
        )),
        PolicyVerdict::NotAllowed => Err(GatewayError::with_source(
            ErrorKind::PolicyDenied(false),
            format!("the authorizer's policy does not allow {arn}"),
        )),
    }
}

/// The request as Lambda events describe it.
fn lambda_view<'c>(cx: &'c Cx<'_>, aws: &'c AwsNames) -> RequestView<'c> {
    static NO_VARIABLES: std::collections::BTreeMap<String, String> =
        std::collections::BTreeMap::new();
    let route = cx.route;
    let stage = cx.version.map(|v| &v.stage);
    RequestView {
        request_id: cx.request_id_str(),
        parts: &cx.parts,
        path: cx.path,
        stage_path: cx.stage.map_or(cx.path, |(_, within)| within),
        route_key: route.map_or("$default", |r| r.key.as_str()),
        stage: stage.map_or("$default", |s| s.name.as_str()),
        path_parameters: route
            .map(|r| {
                r.param_names
                    .iter()
                    .map(String::as_str)
                    .zip(cx.params.iter().copied())
                    .collect()
            })
            .unwrap_or_default(),
        stage_variables: stage.map_or(&NO_VARIABLES, |s| &s.variables),
        source_ip: cx.conn.client.ip(),
        aws,
        authorized: None,
        api_key: None,
        received: cx.received_wall,
    }
}

/// The event a Lambda authorizer gets for this request.
fn lambda_event(
    authorizer: &CompiledAuthorizer,
    format: PayloadFormat,
    aws: &AwsNames,
    identity: &[String],
    cx: &Cx<'_>,
) -> String {
    let which = match (authorizer.config.payload, format) {
        (_, PayloadFormat::V2) => AuthorizerEvent::RequestV2(identity),
        (AuthorizerPayload::Token, PayloadFormat::V1) => {
            AuthorizerEvent::Token(identity.first().map_or("", String::as_str))
        }
        (AuthorizerPayload::Request, PayloadFormat::V1) => AuthorizerEvent::RequestV1,
    };
    crate::lambda::authorizer_event(&lambda_view(cx, aws), which)
}

/// Calls a Lambda authorizer with its event. `Ok(None)` is a failure the
/// configuration says to let through.
async fn ask_lambda(
    authorizer: &CompiledAuthorizer,
    plugin: &LambdaPlugin,
    format: PayloadFormat,
    function_arn: &str,
    request_id: &str,
    event: &str,
) -> Result<Option<LambdaAnswer>, GatewayError> {
    let failure = match plugin.handle(request_id, function_arn, event).await {
        Ok(Ok(answer)) => match crate::auth::lambda::read_answer(format, &answer) {
            Ok(answer) => return Ok(Some(answer)),
            Err(why) => {
                tracing::error!(authorizer = %authorizer.config.name, request_id, error = %why, "authorizer answered something API Gateway would not take");
                format!("authorizer configuration error: {why}")
            }
        },
        // Lambda's convention: raising "Unauthorized" is a 401.
        Ok(Err(raised)) if raised.error_message == "Unauthorized" => {
            return Err(GatewayError::with_source(
                ErrorKind::Unauthorized,
                "the authorizer raised Unauthorized",
            ));
        }
        Ok(Err(raised)) => format!(
            "the authorizer raised {}: {}",
            raised.error_type, raised.error_message
        ),
        Err(failed) => failed.to_string(),
    };
    match authorizer.config.on_error {
        OnError::Deny => Err(GatewayError::with_source(
            ErrorKind::AuthorizerFailed,
            failure,
        )),
        OnError::Allow => {
            tracing::warn!(authorizer = %authorizer.config.name, request_id, error = %failure, "authorizer failed; failing open");
            Ok(None)
        }
    }
}

/// Checks a request's SigV4 signature; the body is read first when the
/// request is signed (the signature covers it).
pub async fn verify_sigv4(
    verifier: &SigV4Verifier,
    cx: &mut Cx<'_>,
) -> Result<Arc<Authorized>, GatewayError> {
    let bytes = if SigV4Verifier::is_signed(&cx.parts) {
        crate::proxy::read_body(cx).await?
    } else {
        bytes::Bytes::new()
    };
    let signer = verifier
        .verify(&cx.parts, &bytes)
        .map_err(|refusal| GatewayError::new(ErrorKind::SignatureRefused(refusal.to_string())))?;
    Ok(Arc::new(Authorized {
        principal_id: signer.principal,
        context: vec![("accessKeyId".to_owned(), signer.access_key_id)],
        usage_identifier: None,
        scopes: Vec::new(),
        via: Via::SigV4,
        typed_context: None,
    }))
}

/// Checks a bearer token; returns what it says and how long that may be
/// remembered (the cache TTL, but never past the token's expiry).
async fn verify_jwt(
    authorizer: &CompiledAuthorizer,
    verifier: &JwtVerifier,
    value: &str,
) -> Result<(Arc<Authorized>, Option<Duration>), GatewayError> {
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value.trim(),
    };
    let verified = verifier.verify(token).await.map_err(|refusal| match refusal {
        JwtRefusal::Invalid(why) => GatewayError::with_source(ErrorKind::Unauthorized, why),
        JwtRefusal::Keys(why) => {
            tracing::error!(authorizer = %authorizer.config.name, error = %why, "JWT authorizer has no keys");
            GatewayError::with_source(ErrorKind::Internal, why).blamed_on(Blame::Dependency)
        }
    })?;
    let left = verified
        .expires_at
        .saturating_sub(u64::try_from(crate::util::time::unix_now()).unwrap_or(0));
    let ttl = authorizer
        .cache
        .as_ref()
        .map(|c| c.ttl().min(Duration::from_secs(left)));
    Ok((Arc::new(verified.authorized()), ttl))
}

fn identity_value(source: &IdentitySource, cx: &Cx<'_>) -> Option<String> {
    match source {
        IdentitySource::Header(name) => cx
            .parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        IdentitySource::Query(name) => cx.parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        }),
        IdentitySource::StageVariable(name) => cx
            .version
            .and_then(|v| v.stage.variables.get(name).cloned()),
        IdentitySource::SourceIp => Some(cx.conn.client.ip().to_string()),
    }
}

/// What plugins learn about the request.
pub fn plugin_view(cx: &Cx<'_>) -> RequestInfo {
    let route = cx.route;
    let stage = cx.version.map(|v| &v.stage);
    RequestInfo {
        request_id: cx.request_id_str().to_owned(),
        method: cx.parts.method.as_str().to_owned(),
        path: cx.path.to_owned(),
        route_key: route.map(|r| r.key.clone()).unwrap_or_default(),
        stage: stage.map(|s| s.name.clone()).unwrap_or_default(),
        headers: plugin_headers(cx),
        query: cx
            .parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        path_parameters: route
            .map(|r| {
                r.param_names
                    .iter()
                    .zip(&cx.params)
                    .map(|(n, v)| (n.clone(), (*v).to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        stage_variables: stage
            .map(|s| {
                s.variables
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        source_ip: cx.conn.client.ip().to_string(),
    }
}

/// The request's headers as plugins see them: client-sent `x-turnpike-*`
/// headers dropped (a client cannot forge them), the verified client
/// certificate's fields added as the upstream receives them.
fn plugin_headers(cx: &Cx<'_>) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = crate::plugin::header_entries(&cx.parts.headers)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("x-turnpike-"))
        .collect();
    if let Some(cert) = cx.client_cert() {
        headers.extend(
            crate::integrations::client_cert_headers(cert).map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            }),
        );
    }
    headers
}

#[cfg(test)]
mod tests {
    use crate::proxy::testing::{Harness, request};

    /// An HS256 key set ("oct" key) written to a temporary file.
    fn jwks() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwks.json");
        // base64url of "a-very-secret-key-for-tests-only"
        std::fs::write(
            &path,
            r#"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"YS12ZXJ5LXNlY3JldC1rZXktZm9yLXRlc3RzLW9ubHk"}]}"#,
        )
        .expect("write jwks");
        let path = path.display().to_string();
        (dir, path)
    }

    fn token(claims: serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"a-very-secret-key-for-tests-only"),
        )
        .expect("sign")
    }

    #[tokio::test]
    async fn jwt_decisions_and_scopes() {
        let (_dir, jwks) = jwks();
        let harness = Harness::new(&format!(
            r#"
[[apis]]
name = "a"
[apis.authorizers.jwt]
type = "jwt"
issuer = "https://issuer.example"
audiences = ["shop"]
jwks_file = "{jwks}"
[[apis.routes]]
key = "GET /read"
authorizer = "jwt"
authorization_scopes = ["orders:read"]
integration = {{ type = "mock", body = "read" }}
[[apis.routes]]
key = "GET /any"
authorizer = "jwt"
integration = {{ type = "mock", body = "any" }}
"#
        ));
        let exp = crate::util::time::unix_now() + 600;
        let good = token(serde_json::json!({
            "iss": "https://issuer.example", "aud": "shop", "sub": "u1",
            "exp": exp, "scope": "orders:read profile",
        }));
        let unscoped = token(serde_json::json!({
            "iss": "https://issuer.example", "aud": "shop", "sub": "u2", "exp": exp,
        }));
        let foreign = token(serde_json::json!({
            "iss": "https://other.example", "aud": "shop", "sub": "u3", "exp": exp,
        }));
        let expired = token(serde_json::json!({
            "iss": "https://issuer.example", "aud": "shop", "sub": "u4", "exp": exp - 7200,
        }));
        let cases = [
            ("/read", Some(good.as_str()), 200),
            ("/read", Some(unscoped.as_str()), 403),
            ("/any", Some(unscoped.as_str()), 200),
            ("/any", Some(foreign.as_str()), 401),
            ("/any", Some(expired.as_str()), 401),
            ("/any", Some("not-a-token"), 401),
            ("/any", None, 401),
        ];
        for (path, bearer, status) in cases {
            let mut builder = request("GET", path);
            if let Some(t) = bearer {
                builder = builder.header("authorization", &format!("Bearer {t}"));
            }
            let (got, body) = harness.send(builder.body("")).await;
            assert_eq!(got, status, "{path} {bearer:?}: {body}");
        }
    }
}
