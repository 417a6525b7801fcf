//! The request path: a fixed sequence of phases over a per-request context.
//!
//! Each phase either lets the request continue, answers it itself, or fails
//! it with a [`GatewayError`]; `docs/request-path.md` draws the sequence.
//! Phases present today:
//!
//! 1. [`limits`]: header size and declared body size.
//! 2. [`route`]: host → API, path prefix → stage, route key match.
//! 3. [`authorize`]: the route's authorizer, behind its decision cache.
//! 4. integration: `http_proxy` or `mock`.
//! 5. observe: the access-log record, also for requests that failed.

pub mod authorize;
pub mod cors;
pub mod limits;
pub mod mapping;
pub mod policy;
pub mod route;
pub mod usage;
pub mod validate;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::ResponseBody;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::observe::AccessLogEntry;
use crate::snapshot::Snapshot;

/// What the connection tells every request on it.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Index of the listener that accepted the connection.
    pub listener: usize,
    /// The client's address.
    pub client: SocketAddr,
    /// The client's IP as a header value, formatted once per connection.
    pub client_ip: HeaderValue,
    /// `http` or `https`.
    pub scheme: &'static str,
}

impl ConnectionInfo {
    /// Describes a connection accepted on listener `listener` from `client`.
    pub fn new(listener: usize, client: SocketAddr, scheme: &'static str) -> ConnectionInfo {
        ConnectionInfo {
            listener,
            client,
            client_ip: HeaderValue::try_from(client.ip().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            scheme,
        }
    }
}

/// State carried through the phases of one request.
#[derive(Debug)]
pub struct RequestContext {
    /// Unique id, sent back and upstream.
    pub request_id: HeaderValue,
    /// Header the id travels in.
    pub request_id_header: HeaderName,
    /// When the request arrived.
    pub received_at: Instant,
    received_wall: SystemTime,
    /// The client's address.
    pub client: SocketAddr,
    /// The client's IP as a header value.
    pub client_ip: HeaderValue,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Body limit in force.
    pub max_body_bytes: u64,
    /// Matched API.
    pub api: Option<usize>,
    /// Matched stage.
    pub stage: Option<usize>,
    /// Whether the stage's canary serves the request.
    pub canary: bool,
    /// Matched route.
    pub route: Option<usize>,
    /// Time spent waiting for the integration.
    pub integration_latency: Option<Duration>,
    /// Status the integration answered with.
    pub integration_status: Option<StatusCode>,
    /// What the route's authorizer said about the caller, if it has one.
    pub authorized: Option<std::sync::Arc<authorize::Authorized>>,
    /// Whether the authorizer's decision came from its cache (`None`: no authorizer ran).
    pub authorizer_cache_hit: Option<bool>,
    /// Time the authorizer plugin took, if it was invoked.
    pub authorizer_latency: Option<Duration>,
    /// Path a request mapper chose for the upstream, replacing the one the
    /// integration's URL template gives.
    pub upstream_path: Option<String>,
    /// Query string a request mapper chose (empty: none), replacing the client's.
    pub upstream_query: Option<String>,
    /// The gateway answered a CORS preflight itself.
    pub preflight: bool,
}

impl RequestContext {
    fn new(conn: &ConnectionInfo, snapshot: &Snapshot) -> RequestContext {
        RequestContext {
            request_id: new_request_id(),
            request_id_header: snapshot.request_id_header.clone(),
            received_at: Instant::now(),
            received_wall: SystemTime::now(),
            client: conn.client,
            client_ip: conn.client_ip.clone(),
            scheme: conn.scheme,
            max_body_bytes: snapshot.limits.max_body_bytes,
            api: None,
            stage: None,
            canary: false,
            route: None,
            integration_latency: None,
            integration_status: None,
            authorized: None,
            authorizer_cache_hit: None,
            authorizer_latency: None,
            upstream_path: None,
            upstream_query: None,
            preflight: false,
        }
    }
}

/// A random UUID (version 4), formatted without allocating more than the header value.
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = fastrand::u128(..);
    bits = (bits & !(0xf << 76)) | (0x4 << 76);
    bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let mut out = [0u8; 36];
    let mut pos = 0;
    for i in (0..32).rev() {
        if matches!(pos, 8 | 13 | 18 | 23) {
            out[pos] = b'-';
            pos += 1;
        }
        out[pos] = HEX[((bits >> (i * 4)) & 0xf) as usize];
        pos += 1;
    }
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Serves one request through every phase and records it.
pub async fn handle(
    gateway: &Gateway,
    request: Request<Incoming>,
    conn: &ConnectionInfo,
) -> Response<ResponseBody> {
    let snapshot = gateway.snapshot();
    let mut ctx = RequestContext::new(conn, &snapshot);
    let method = request.method().clone();
    let uri = request.uri().clone();
    let version = request.version();

    let origin = request.headers().get(http::header::ORIGIN).cloned();
    let (parts, body) = request.into_parts();
    let mut body = Some(crate::body::RequestBody::Streaming(body));
    let outcome = run_phases(gateway, &snapshot, &mut ctx, conn, &uri, parts, &mut body).await;
    if let Some(crate::body::RequestBody::Streaming(unread)) = body {
        crate::body::drain_in_background(unread);
    }
    let (mut response, error) = match outcome {
        Ok(response) => (response, None),
        Err(error) => (error.to_response(), Some(error)),
    };
    response
        .headers_mut()
        .insert(ctx.request_id_header.clone(), ctx.request_id.clone());
    let api = ctx.api.and_then(|a| snapshot.apis.get(a));
    let served = api
        .zip(ctx.stage)
        .and_then(|(a, s)| a.stages.get(s))
        .map(|s| s.version(ctx.canary));
    let cors = match served {
        Some(v) => v.api.cors.as_ref(),
        None => api.and_then(|a| a.cors.as_ref()),
    };
    if !ctx.preflight
        && let Some(cors) = cors
    {
        cors::decorate(cors, origin.as_ref(), &mut response);
    }

    if let Some(error) = &error {
        if error.blame() == crate::error::Blame::Downstream {
            tracing::debug!(request_id = ?ctx.request_id, %error, "request refused");
        } else {
            tracing::warn!(request_id = ?ctx.request_id, blame = error.blame().as_str(), %error, "request failed");
        }
    }
    let log = gateway.access_log();
    if log.enabled() {
        let route_key = served
            .zip(ctx.route)
            .and_then(|(v, r)| v.api.route_keys.get(r));
        log.record(&AccessLogEntry {
            request_id: ctx.request_id.to_str().unwrap_or_default(),
            request_time: humantime::format_rfc3339_millis(ctx.received_wall).to_string(),
            ip: ctx.client.ip(),
            http_method: method.as_str(),
            path: uri.path(),
            protocol: version_name(version),
            status: response.status().as_u16(),
            api: api.map(|a| a.name.as_str()),
            stage: served.map(|v| v.stage.name.as_str()),
            deployment_id: served.and_then(|v| v.deployment.as_deref()),
            is_canary_request: served.map(|_| ctx.canary),
            route_key: route_key.map(String::as_str),
            response_latency: millis(ctx.received_at.elapsed()),
            integration_latency: ctx.integration_latency.map(millis),
            integration_status: ctx.integration_status.map(|s| s.as_u16()),
            error_message: error.as_ref().map(ToString::to_string),
            error_blame: error.as_ref().map(|e| e.blame().as_str()),
            principal_id: ctx.authorized.as_ref().map(|a| a.principal_id.as_str()),
            authorizer_cache_hit: ctx.authorizer_cache_hit,
            authorizer_latency: ctx.authorizer_latency.map(millis),
        });
    }
    response
}

async fn run_phases(
    gateway: &Gateway,
    snapshot: &Snapshot,
    ctx: &mut RequestContext,
    conn: &ConnectionInfo,
    uri: &http::Uri,
    mut parts: Parts,
    body: &mut Option<crate::body::RequestBody>,
) -> Result<Response<ResponseBody>, GatewayError> {
    limits::check(&snapshot.limits, &parts, body.as_ref())?;

    // Routing reads the path from the caller's copy of the URI, so that the
    // request's own parts can move into the integration.
    let path = route::normalize_path(uri.path())?;
    let host = if snapshot.listener_uses_hosts(conn.listener) {
        route::request_host(&parts)
    } else {
        None
    };
    // The API is known before the route: a preflight is answered for any
    // path of an API with CORS, and errors of such an API carry CORS headers.
    ctx.api = snapshot.api_for(conn.listener, host.as_deref());
    let not_found = || GatewayError::new(crate::error::ErrorKind::NotFound);
    let entry = ctx.api.map(|a| &snapshot.apis[a]).ok_or_else(not_found)?;
    let Some((stage_index, within)) = entry.stage_for(&path) else {
        if let Some(cors) = &entry.cors
            && cors::is_preflight(&parts.method, &parts.headers)
        {
            ctx.preflight = true;
            return Ok(cors::preflight(cors, &parts.headers));
        }
        return Err(not_found());
    };
    // One choice per request: every phase below sees the same version.
    let (version, canary) = entry.stages[stage_index].pick();
    ctx.stage = Some(stage_index);
    ctx.canary = canary;
    let api = &*version.api;
    let stage = &version.stage;
    if let Some(cors) = &api.cors
        && cors::is_preflight(&parts.method, &parts.headers)
    {
        ctx.preflight = true;
        return Ok(cors::preflight(cors, &parts.headers));
    }
    let hit = route::resolve(api, &parts.method, within)?;
    ctx.route = Some(hit.route);

    policy::check(api, stage, hit.route, conn.client.ip())?;
    ctx.authorized =
        authorize::run(api, stage, hit.route, ctx, &parts, body, &path, &hit.params).await?;
    usage::check(
        snapshot,
        api,
        stage,
        hit.route,
        &parts,
        ctx.authorized.as_deref(),
    )
    .await?;
    if let Some(validation) = api.route_validation.get(hit.route).and_then(Option::as_ref) {
        validate::check(validation, &parts, body, ctx.max_body_bytes).await?;
    }

    let mapper = api.route_mappers.get(hit.route).and_then(Option::as_ref);
    let info = mapper
        .map(|_| authorize::request_info(api, stage, hit.route, ctx, &parts, &path, &hit.params));
    if let (Some(mapper), Some(info)) = (mapper, &info)
        && let Some(answer) = mapping::map_request(mapper, info, ctx, &mut parts, body).await?
    {
        return Ok(answer);
    }

    let integration = &stage.integrations[hit.route];
    let response = integration
        .invoke(gateway.upstream(), ctx, parts, body, &hit.params)
        .await?;
    match (mapper, &info) {
        (Some(mapper), Some(info)) => mapping::map_response(mapper, info, ctx, response).await,
        _ => Ok(response),
    }
}

/// Reads the whole request body (up to `limit` bytes, else 413) and keeps
/// it for the phases after, which then see a buffered body.
pub async fn read_body(
    body: &mut Option<crate::body::RequestBody>,
    limit: u64,
) -> Result<bytes::Bytes, GatewayError> {
    use http_body_util::BodyExt;
    let bytes = match body.take() {
        Some(crate::body::RequestBody::Streaming(incoming)) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            http_body_util::Limited::new(incoming, limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        GatewayError::with_source(crate::error::ErrorKind::PayloadTooLarge, e)
                    } else {
                        GatewayError::with_source(crate::error::ErrorKind::BadRequest, e)
                    }
                })?
                .to_bytes()
        }
        Some(crate::body::RequestBody::Buffered(bytes)) => bytes,
        None => bytes::Bytes::new(),
    };
    *body = Some(crate::body::RequestBody::Buffered(bytes.clone()));
    Ok(bytes)
}

fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

fn version_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_v4_uuids() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        let text = a.to_str().expect("ascii");
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
        assert_eq!(text.matches('-').count(), 4);
    }
}
