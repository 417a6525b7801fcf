//! Phase: authorization by a `wasm` or `jwt` authorizer, with API Gateway's
//! semantics. A missing identity source is 401 without calling the plugin;
//! `deny` is 403; `allow` passes a principal and context on to the
//! integration. Decisions are cached per authorizer, keyed by the identity
//! source values, for the configured TTL (or the plugin's override; for a
//! JWT, never past its `exp`). A route's authorization scopes are checked
//! after every decision, cached or not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::request::Parts;

use crate::body::RequestBody;
use crate::config::{AuthorizerPayload, IdentitySource, OnError};
use crate::error::{ErrorKind, GatewayError};
use crate::jwt::{JwtRefusal, JwtVerifier};
use crate::pipeline::RequestContext;
use crate::plugin::{AuthorizeInput, Decision, RequestInfo};
use crate::sigv4::SigV4Verifier;
use crate::snapshot::{CompiledApi, CompiledAuthorizer, CompiledStage, Decider};

/// What an allowing authorizer said about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The principal id.
    pub principal_id: String,
    /// Context entries for the integration.
    pub context: Vec<(String, String)>,
    /// API key to account the request to.
    pub usage_identifier: Option<String>,
    /// OAuth scopes a JWT granted (`scope`, `scp`).
    pub scopes: Vec<String>,
}

#[derive(Clone)]
enum Cached {
    Allow(Arc<Authorized>),
    Deny,
}

#[derive(Clone)]
struct CacheEntry {
    decision: Cached,
    ttl: Duration,
}

struct PerEntryTtl;

impl moka::Expiry<Box<str>, CacheEntry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Box<str>,
        value: &CacheEntry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// An authorizer's decision cache.
pub struct DecisionCache {
    entries: moka::sync::Cache<Box<str>, CacheEntry>,
    ttl: Duration,
}

impl DecisionCache {
    /// A cache whose entries live `ttl` unless the plugin says otherwise.
    pub fn new(ttl: Duration) -> DecisionCache {
        DecisionCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .expire_after(PerEntryTtl)
                .build(),
            ttl,
        }
    }
}

/// Runs the route's authorizer, if it has one, then checks the route's
/// authorization scopes. A SigV4 authorizer reads the body (it is signed).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    api: &CompiledApi,
    stage: &CompiledStage,
    route: usize,
    ctx: &mut RequestContext,
    parts: &Parts,
    body: &mut Option<RequestBody>,
    path: &str,
    params: &[&str],
) -> Result<Option<Arc<Authorized>>, GatewayError> {
    if let Some(index) = api.route_authorizers.get(route).copied().flatten()
        && let Decider::SigV4(verifier) = &api.authorizers[index].decider
    {
        return verify_sigv4(verifier, ctx, parts, body).await.map(Some);
    }
    let authorized = decide(api, stage, route, ctx, parts, path, params).await?;
    let required = api.route_scopes.get(route).map_or(&[][..], Vec::as_slice);
    if !required.is_empty()
        && !authorized
            .as_ref()
            .is_some_and(|a| required.iter().any(|r| a.scopes.contains(r)))
    {
        return Err(GatewayError::with_source(
            ErrorKind::Forbidden,
            "the token has none of the route's authorization scopes",
        ));
    }
    Ok(authorized)
}

async fn decide(
    api: &CompiledApi,
    stage: &CompiledStage,
    route: usize,
    ctx: &mut RequestContext,
    parts: &Parts,
    path: &str,
    params: &[&str],
) -> Result<Option<Arc<Authorized>>, GatewayError> {
    let Some(index) = api.route_authorizers.get(route).copied().flatten() else {
        return Ok(None);
    };
    let authorizer = &api.authorizers[index];
    let mut identity = Vec::with_capacity(authorizer.config.identity_sources.len());
    for source in &authorizer.config.identity_sources {
        match identity_value(source, parts, stage, ctx) {
            Some(value) if !value.is_empty() => identity.push((source.to_string(), value)),
            _ => {
                return Err(GatewayError::with_source(
                    ErrorKind::Unauthorized,
                    format!("identity source {source} is missing"),
                ));
            }
        }
    }
    let cache_key = authorizer.cache.as_ref().map(|_| {
        let mut key = String::new();
        for (_, value) in &identity {
            key.push_str(value);
            key.push('\0');
        }
        key.into_boxed_str()
    });
    if let (Some(cache), Some(key)) = (&authorizer.cache, &cache_key)
        && let Some(hit) = cache.entries.get(key)
    {
        ctx.authorizer_cache_hit = Some(true);
        return match hit.decision {
            Cached::Allow(allowed) => Ok(Some(allowed)),
            Cached::Deny => Err(GatewayError::with_source(
                ErrorKind::Forbidden,
                "denied (cached decision)",
            )),
        };
    }
    let plugin = match &authorizer.decider {
        Decider::Wasm(plugin) => plugin,
        // Handled in `run`, before identity sources.
        Decider::SigV4(_) => return Ok(None),
        Decider::Jwt(verifier) => {
            ctx.authorizer_cache_hit = Some(false);
            let token = identity.first().map_or("", |(_, v)| v.as_str());
            return verify_jwt(authorizer, verifier, token, cache_key).await;
        }
    };
    let input = AuthorizeInput {
        token: match authorizer.config.payload {
            AuthorizerPayload::Token => identity.first().map(|(_, v)| v.clone()),
            AuthorizerPayload::Request => None,
        },
        identity,
        request: request_info(api, stage, route, ctx, parts, path, params),
    };
    ctx.authorizer_cache_hit = Some(false);
    let request_id = ctx.request_id.to_str().unwrap_or_default().to_owned();
    let request_id = request_id.as_str();
    let started = Instant::now();
    let outcome = plugin.authorize(request_id, &input).await;
    ctx.authorizer_latency = Some(started.elapsed());
    match outcome {
        Ok(Decision::Allow(allow)) => {
            let ttl = allow.ttl_seconds.map(|s| Duration::from_secs(u64::from(s)));
            let allowed = Arc::new(Authorized {
                principal_id: allow.principal_id,
                context: allow.context,
                usage_identifier: allow.usage_identifier,
                scopes: Vec::new(),
            });
            remember(authorizer, cache_key, Cached::Allow(allowed.clone()), ttl);
            Ok(Some(allowed))
        }
        Ok(Decision::Deny) => {
            remember(authorizer, cache_key, Cached::Deny, None);
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
            OnError::Deny => {
                tracing::error!(authorizer = %authorizer.config.name, request_id, error = %failure, "authorizer failed; failing closed");
                Err(GatewayError::with_source(ErrorKind::PluginFailed, failure))
            }
            OnError::Allow => {
                tracing::warn!(authorizer = %authorizer.config.name, request_id, error = %failure, "authorizer failed; failing open");
                Ok(None)
            }
        },
    }
}

/// Checks a request's SigV4 signature; never cached (each signature covers
/// its own time and body).
async fn verify_sigv4(
    verifier: &SigV4Verifier,
    ctx: &mut RequestContext,
    parts: &Parts,
    body: &mut Option<RequestBody>,
) -> Result<Arc<Authorized>, GatewayError> {
    let bytes = if SigV4Verifier::is_signed(parts) {
        super::read_body(body, ctx.max_body_bytes).await?
    } else {
        bytes::Bytes::new()
    };
    let signer = verifier
        .verify(parts, &bytes)
        .map_err(|refusal| GatewayError::new(ErrorKind::SignatureRefused(refusal.to_string())))?;
    Ok(Arc::new(Authorized {
        principal_id: signer.principal,
        context: vec![("accessKeyId".to_owned(), signer.access_key_id)],
        usage_identifier: None,
        scopes: Vec::new(),
    }))
}

/// Checks a bearer token; a valid one is remembered until the cache TTL or
/// its expiry, whichever comes first.
async fn verify_jwt(
    authorizer: &CompiledAuthorizer,
    verifier: &JwtVerifier,
    value: &str,
    cache_key: Option<Box<str>>,
) -> Result<Option<Arc<Authorized>>, GatewayError> {
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value.trim(),
    };
    let verified = verifier.verify(token).await.map_err(|refusal| match refusal {
        JwtRefusal::Invalid(why) => GatewayError::with_source(ErrorKind::Unauthorized, why),
        JwtRefusal::Keys(why) => {
            tracing::error!(authorizer = %authorizer.config.name, error = %why, "JWT authorizer has no keys");
            GatewayError::with_source(ErrorKind::Internal, why)
        }
    })?;
    let claims = verified.claims;
    let scopes = crate::jwt::granted_scopes(&claims);
    let allowed = Arc::new(Authorized {
        principal_id: claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        context: claims
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (format!("claims.{name}"), text)
            })
            .collect(),
        usage_identifier: None,
        scopes,
    });
    let left = verified
        .expires_at
        .saturating_sub(u64::try_from(crate::limits::unix_now()).unwrap_or(0));
    let ttl = authorizer
        .cache
        .as_ref()
        .map(|c| c.ttl.min(Duration::from_secs(left)));
    remember(authorizer, cache_key, Cached::Allow(allowed.clone()), ttl);
    Ok(Some(allowed))
}

fn remember(
    authorizer: &CompiledAuthorizer,
    key: Option<Box<str>>,
    decision: Cached,
    ttl: Option<Duration>,
) {
    let (Some(cache), Some(key)) = (&authorizer.cache, key) else {
        return;
    };
    let ttl = ttl.unwrap_or(cache.ttl);
    if !ttl.is_zero() {
        cache.entries.insert(key, CacheEntry { decision, ttl });
    }
}

fn identity_value(
    source: &IdentitySource,
    parts: &Parts,
    stage: &CompiledStage,
    ctx: &RequestContext,
) -> Option<String> {
    match source {
        IdentitySource::Header(name) => parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        IdentitySource::Query(name) => parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        }),
        IdentitySource::StageVariable(name) => stage.variables.get(name).cloned(),
        IdentitySource::SourceIp => Some(ctx.client.ip().to_string()),
    }
}

/// What plugins learn about the request.
pub fn request_info(
    api: &CompiledApi,
    stage: &CompiledStage,
    route: usize,
    ctx: &RequestContext,
    parts: &Parts,
    path: &str,
    params: &[&str],
) -> RequestInfo {
    RequestInfo {
        request_id: ctx.request_id.to_str().unwrap_or_default().to_owned(),
        method: parts.method.as_str().to_owned(),
        path: path.to_owned(),
        route_key: api.route_keys.get(route).cloned().unwrap_or_default(),
        stage: stage.name.clone(),
        headers: crate::plugin::header_entries(&parts.headers),
        query: parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        path_parameters: api
            .param_names
            .get(route)
            .map(|names| {
                names
                    .iter()
                    .zip(params)
                    .map(|(n, v)| (n.clone(), (*v).to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        stage_variables: stage
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        source_ip: ctx.client.ip().to_string(),
    }
}
