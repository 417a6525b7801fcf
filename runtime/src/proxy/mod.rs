//! The request path: one fixed sequence of phases over one per-request
//! context ([`Cx`]). Every phase has the same shape — `async fn(&mut Cx) ->
//! Verdict` — and either lets the request continue, answers it itself
//! ([`Flow::Respond`]), or fails it with a [`GatewayError`] that says who is
//! at fault. `docs/request-path.md` mirrors this list.
//!
//! 0. **accept** ([`listeners`], [`handle`]): HTTP/1.1 or HTTP/2; a request
//!    id; the message's framing, `Host` and target form ([`message`]: 400 or
//!    501, connection closed); `.` and `..` in the path resolved (400 above
//!    the root).
//! 1. **limits** ([`phases::limits`]): header size (431), declared body size
//!    (413).
//! 2. **locate** ([`phases::locate`]): listener and `Host` → API (404);
//!    first path segment → stage; the stage's version (deployment or canary).
//! 3. **preflight** ([`phases::preflight`]): a CORS preflight is answered
//!    here (204).
//! 4. **policy** ([`phases::policy`]): the API's and the stage's resource
//!    policies (403 for every path); then 404 if no stage serves the path.
//! 5. **route** ([`phases::route`]): route key match (404, 405), then the
//!    route's own resource policy (403); on a WebSocket API, the upgrade
//!    request and its `$connect` route ([`websocket`]).
//! 6. **authorize** ([`phases::authorize`]): the route's authorizer behind
//!    its decision cache (401, 403, 500), then its scopes (403).
//! 7. **usage** ([`phases::usage`]): API key and usage plan (403), rate,
//!    throttle and quota (429).
//! 8. **validate** ([`phases::validate`]): required parameters and the body
//!    model (400).
//! 9. **cache** ([`phases::cache`]): the stage's response cache answers a
//!    hit (with `Age`); a miss runs phases 10 to 12 and stores their answer;
//!    `Cache-Control: max-age=0` from a caller who may not invalidate: 403
//!    or ignored, as the stage says.
//! 10. **map request** ([`phases::mapping`]): the route's mapper may rewrite
//!     the request or answer it.
//! 11. **integrate** ([`phases::integrate`]): `http_proxy`, `mock` or
//!     `function` (502, 504, 500); a WebSocket `$connect` answered 2xx
//!     becomes `101 Switching Protocols`.
//! 12. **map response** ([`phases::mapping`]): the mapper on the response.
//! 13. **respond** ([`handle`]): request id header, CORS headers, the
//!     access-log record — also for requests that failed in any phase.

pub mod connection;
mod context;
mod http3;
pub mod listeners;
mod message;
mod parking;
pub mod phases;
mod responses;
pub mod websocket;

pub use context::{ConnectionInfo, Cx, Flow, TlsInfo, Verdict, new_request_id};

use std::time::Duration;

use http::{Request, Response};

use crate::body::{RequestBody, ResponseBody};
use crate::control::Gateway;
use crate::error::{Blame, ErrorKind, GatewayError};
use crate::observe::{AccessLogEntry, ClientCertEntry};

/// Runs phases 1 to 12 in order; stops at the first that answers or fails.
async fn run_phases(cx: &mut Cx<'_>) -> Result<Response<ResponseBody>, GatewayError> {
    macro_rules! phase {
        ($phase:expr) => {
            if let Flow::Respond(response) = $phase(cx).await? {
                return Ok(response);
            }
        };
    }
    phase!(phases::limits::run); // 1
    phase!(phases::locate::run); // 2
    phase!(phases::preflight::run); // 3
    phase!(phases::policy::run); // 4
    phase!(phases::route::run); // 5
    phase!(phases::authorize::run); // 6
    phase!(phases::usage::run); // 7
    phase!(phases::validate::run); // 8
    phase!(phases::cache::run); // 9: a hit answers; a miss runs `origin` itself
    origin(cx).await
}

/// Phases 10 to 12: what answers a request the cache does not.
pub(crate) async fn origin(cx: &mut Cx<'_>) -> Result<Response<ResponseBody>, GatewayError> {
    macro_rules! phase {
        ($phase:expr) => {
            if let Flow::Respond(response) = $phase(cx).await? {
                return Ok(response);
            }
        };
    }
    phase!(phases::mapping::request); // 10
    phase!(phases::integrate::run); // 11
    phase!(phases::mapping::response); // 12
    cx.response
        .take()
        .ok_or_else(|| GatewayError::with_source(ErrorKind::Internal, "no phase answered"))
}

/// Serves one request through every phase and records it (phases 0 and
/// 13). Drivable in-process: give it a request whose body is
/// [`RequestBody::Buffered`].
pub async fn handle(
    gateway: &Gateway,
    request: Request<RequestBody>,
    conn: &ConnectionInfo,
) -> Response<ResponseBody> {
    let snapshot = gateway.snapshot();
    let (parts, body) = request.into_parts();
    // What the access log and the last phase need after the parts have gone
    // to the integration.
    let method = parts.method.clone();
    let uri = parts.uri.clone();
    let version = parts.version;
    let origin = parts.headers.get(http::header::ORIGIN).cloned();
    let malformed = message::check(&parts).err();
    let normalized = phases::route::normalize_path(uri.path());
    let path = normalized.as_deref().unwrap_or(uri.path());
    let mut cx = Cx::new(gateway, &snapshot, conn, path, parts, body);
    let outcome = match (malformed, &normalized) {
        (Some(malformed), _) => {
            // Where this body ends is the very question: not read, and the
            // connection ends with the answer.
            cx.body = None;
            cx.close_connection = true;
            Err(malformed)
        }
        (None, Ok(_)) => run_phases(&mut cx).await,
        (None, Err(refusal)) => Err(GatewayError::with_source(
            ErrorKind::BadRequest,
            refusal.to_string(),
        )),
    };
    if let Some(RequestBody::Streaming(unread)) = cx.body.take() {
        crate::util::drain::drain_in_background(unread);
    }
    let (mut response, error) = match outcome {
        Ok(response) => (response, None),
        Err(error) => (responses::answer(&cx, &error), Some(error)),
    };
    // The downstream connection's protocol, whatever the upstream spoke: an
    // HTTP/1.0 answer relayed as such would end a 1.1 client's keep-alive.
    if matches!(version, http::Version::HTTP_10 | http::Version::HTTP_11) {
        *response.version_mut() = version;
    }
    response
        .headers_mut()
        .insert(snapshot.request_id_header.clone(), cx.request_id.clone());
    if cx.close_connection {
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    // HTTP/3 is advertised on the TCP side of a listener that serves it,
    // except for a domain that requires client certificates (HTTP/3 has
    // none).
    if version != http::Version::HTTP_3
        && !cx.domain.is_some_and(|d| d.mtls_required)
        && let Some(alt_svc) = gateway.alt_svc(cx.conn.listener)
    {
        response
            .headers_mut()
            .insert(http::header::ALT_SVC, alt_svc.clone());
    }
    let cors = match cx.version {
        Some(v) => v.api.cors.as_ref(),
        None => cx.api.and_then(|a| a.cors.as_ref()),
    };
    if !cx.preflight
        && let Some(cors) = cors
    {
        phases::preflight::decorate(cors, origin.as_ref(), &mut response);
    }
    if let Some(error) = &error {
        if error.blame() == Blame::Downstream {
            tracing::debug!(request_id = cx.request_id_str(), %error, "request refused");
        } else {
            tracing::warn!(request_id = cx.request_id_str(), blame = error.blame().as_str(), %error, "request failed");
        }
    }
    record_metrics(
        &cx,
        response.status().as_u16(),
        error.as_ref(),
        &method,
        uri.path(),
    );
    if cx.trace.recording() {
        let status = response.status().as_u16();
        record_spans(&cx, status, error.as_ref(), &method, uri.path(), version);
    }
    let log = gateway.access_log();
    if log.enabled() {
        log.record(&AccessLogEntry {
            request_id: cx.request_id_str(),
            request_time: humantime::format_rfc3339_millis(cx.received_wall).to_string(),
            ip: cx.conn.client.ip(),
            http_method: method.as_str(),
            path: uri.path(),
            protocol: version_name(version),
            status: response.status().as_u16(),
            api: cx.api.map(|a| a.name.as_str()),
            stage: cx.version.map(|v| v.stage.name.as_str()),
            deployment_id: cx.version.and_then(|v| v.deployment.as_deref()),
            is_canary_request: cx.version.map(|_| cx.canary),
            route_key: cx.route.map(|r| r.key.as_str()),
            response_latency: millis(cx.received_at.elapsed()),
            integration_latency: cx.integration.latency.map(millis),
            integration_status: cx.integration.status.map(|s| s.as_u16()),
            upstream_address: cx.integration.upstream.as_deref(),
            upstream_attempts: (cx.integration.attempts > 0).then_some(cx.integration.attempts),
            error_message: error.as_ref().map(ToString::to_string),
            error_blame: error.as_ref().map(|e| e.blame().as_str()),
            principal_id: cx.authorized.as_ref().map(|a| a.principal_id.as_str()),
            authorizer_cache_hit: cx.authorizer_cache_hit,
            authorizer_latency: cx.authorizer_latency.map(millis),
            domain_name: cx.domain.map(|d| d.name.as_str()),
            tls_version: cx.conn.tls.as_ref().map(|t| t.version),
            connection_id: cx.websocket.as_ref().map(|w| &*w.connection_id),
            event_type: cx.websocket.as_ref().map(|_| "CONNECT"),
            cache_status: cx.cache_status.map(crate::cache::CacheStatus::as_str),
            trace_id: Some(cx.trace.trace_id()),
            client_cert: cx.client_cert().map(|c| ClientCertEntry {
                subject_dn: &c.subject,
                issuer_dn: &c.issuer,
                serial_number: &c.serial,
                not_before: &c.not_before,
                not_after: &c.not_after,
                fingerprint: &c.fingerprint,
            }),
        });
    }
    response
}

/// Adds the request to its route's series (or the unmatched one), its
/// authorizer's, and, for a failure that is not the client's, to the last
/// errors the operator view shows.
fn record_metrics(
    cx: &Cx<'_>,
    status: u16,
    error: Option<&GatewayError>,
    method: &http::Method,
    path: &str,
) {
    let global = crate::observe::Metrics::global();
    let route = cx.route.map_or(&global.unmatched, |r| &*r.metrics);
    route.count(status);
    route.latency.observe(cx.received_at.elapsed());
    if let Some(latency) = cx.integration.latency {
        route.integration_latency.observe(latency);
    }
    match cx.cache_status {
        Some(crate::cache::CacheStatus::Hit) => route.cache_hits.inc(),
        Some(_) => route.cache_misses.inc(),
        None => {}
    }
    if cx.integration.attempts > 1 {
        route
            .upstream_retries
            .add(u64::from(cx.integration.attempts - 1));
    }
    let kind = error.map(GatewayError::kind);
    match kind {
        Some(ErrorKind::TooManyRequests(_)) => route.throttled.inc(),
        Some(ErrorKind::LimitExceeded(_)) => route.quota_exceeded.inc(),
        Some(ErrorKind::UpstreamUnreachable) => route.upstream_errors.inc(),
        Some(ErrorKind::UpstreamTimeout) => route.upstream_timeouts.inc(),
        _ => {}
    }
    if let Some(authorizer) = cx.route.and_then(|r| r.authorizer_metrics.as_deref())
        && cx.marks.authorizer.is_some()
    {
        if cx.authorizer_cache_hit == Some(true) {
            authorizer.cache_hits.inc();
        } else if let Some(latency) = cx.authorizer_latency {
            authorizer.latency.observe(latency);
        }
        match (&cx.authorized, kind) {
            (Some(_), _) => authorizer.allowed.inc(),
            (
                None,
                Some(
                    ErrorKind::Unauthorized
                    | ErrorKind::Forbidden
                    | ErrorKind::PolicyDenied(_)
                    | ErrorKind::SignatureRefused(_),
                ),
            ) => authorizer.denied.inc(),
            // Failed closed, or open (the request went on unauthorized).
            (None, _) => authorizer.failed.inc(),
        }
    }
    if let Some(error) = error
        && error.blame() != Blame::Downstream
        && global.recording_errors()
    {
        global.record_error(crate::observe::metrics::ErrorRecord {
            time: humantime::format_rfc3339_millis(cx.received_wall).to_string(),
            request_id: cx.request_id_str().to_owned(),
            api: cx.api.map(|a| a.name.clone()),
            stage: cx.version.map(|v| v.stage.name.clone()),
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            route_key: cx.route.map(|r| r.key.clone()),
            status,
            message: error.to_string(),
            blame: error.blame().as_str(),
        });
    }
}

/// Hands the request's spans to the exporter: the request, and a child for
/// the authorizer and the integration when they did work.
fn record_spans(
    cx: &Cx<'_>,
    status: u16,
    error: Option<&GatewayError>,
    method: &http::Method,
    path: &str,
    version: http::Version,
) {
    use crate::observe::trace::{PhaseSpan, RequestRecord};
    let wall = |at: std::time::Instant| cx.received_wall + at.duration_since(cx.received_at);
    let end = wall(std::time::Instant::now());
    let mapper = cx
        .route
        .and_then(|r| r.mapper.as_deref())
        .map(|m| [("turnpike.plugin", m.name().to_owned())]);
    let mut phases: smallvec::SmallVec<[PhaseSpan<'_>; 4]> = smallvec::SmallVec::new();
    let marked = [
        ("authorizer", cx.marks.authorizer, cx.authorizer_latency),
        ("integration", cx.marks.integration, cx.integration.latency),
    ];
    for (name, started, took) in marked {
        if let Some(started) = started {
            phases.push(PhaseSpan {
                name,
                start: wall(started),
                end: wall(started) + took.unwrap_or_default(),
                attributes: &[],
            });
        }
    }
    if let Some(attributes) = &mapper {
        for (started, took) in cx.marks.mapper.iter().flatten() {
            phases.push(PhaseSpan {
                name: "plugin",
                start: wall(*started),
                end: wall(*started) + *took,
                attributes,
            });
        }
    }
    let message = error.map(ToString::to_string);
    cx.gateway.tracer().finish(
        &cx.trace,
        &RequestRecord {
            start: cx.received_wall,
            end,
            method: method.as_str(),
            path,
            status,
            request_id: cx.request_id_str(),
            api: cx.api.map(|a| a.name.as_str()),
            stage: cx.version.map(|v| v.stage.name.as_str()),
            route_key: cx.route.map(|r| r.key.as_str()),
            client_ip: cx.conn.client.ip(),
            protocol: version_name(version),
            error: message.as_deref(),
            phases: &phases,
        },
    );
}

/// Reads the whole request body (up to the body limit, else 413) and keeps
/// it in the context for the phases after, which then see it buffered.
pub async fn read_body(cx: &mut Cx<'_>) -> Result<bytes::Bytes, GatewayError> {
    let bytes =
        crate::integrations::collect_body(cx.body.take(), cx.snapshot.limits.max_body_bytes)
            .await?;
    cx.body = Some(RequestBody::Buffered(bytes.clone()));
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
pub(crate) mod testing;
