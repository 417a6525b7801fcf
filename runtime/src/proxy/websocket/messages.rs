//! One message of an open connection: route it by the selection
//! expression (else `$default`, else API Gateway's `Forbidden` error
//! message), admit it (the route's throttle, the connection's API key's
//! usage plan), call the route's integration, and on a two-way route send
//! its answer back. The `$disconnect` call is made here too.
//!
//! Every call takes the snapshot current when the message arrives, so a
//! deployment reaches open connections with their next message; the
//! connection keeps the stage (and canary or not) it connected to.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;

use super::{Caller, DISCONNECT};
use crate::body::RequestBody;
use crate::control::Gateway;
use crate::control::snapshot::{CompiledRoute, Snapshot, Version};
use crate::error::{ErrorKind, GatewayError};
use crate::integrations::{Forwarding, Measured, WebSocketEvent};
use crate::observe::AccessLogEntry;
use crate::proxy::new_request_id;

/// What the connection does after a message.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Nothing to send.
    Quiet,
    /// Send this text (`true`) or binary message to the client.
    Reply(Bytes, bool),
    /// The API or stage no longer exists: close (1001).
    Gone,
}

/// One event's call, for the access log.
struct Call<'a> {
    event_type: &'static str,
    route_key: Option<&'a str>,
    request_id: HeaderValue,
    started: Instant,
    received: SystemTime,
    measured: Measured,
    error: Option<GatewayError>,
}

impl<'a> Call<'a> {
    fn new(event_type: &'static str) -> Call<'a> {
        Call {
            event_type,
            route_key: None,
            request_id: new_request_id(),
            started: Instant::now(),
            received: SystemTime::now(),
            measured: Measured::default(),
            error: None,
        }
    }
}

/// The version the connection is served by now.
fn version<'s>(snapshot: &'s Snapshot, conn: &Caller) -> Option<&'s Version> {
    let api = snapshot.apis.iter().find(|a| a.name == conn.api)?;
    let stage = api.stages.iter().find(|s| s.name == conn.stage)?;
    Some(match (&stage.canary, conn.canary) {
        (Some(canary), true) => &canary.version,
        _ => &stage.main,
    })
}

/// Serves one message.
pub(super) async fn on_message(
    gateway: &Gateway,
    conn: &Caller,
    data: Bytes,
    text: bool,
) -> Outcome {
    let snapshot = gateway.snapshot();
    let Some(version) = version(&snapshot, conn) else {
        return Outcome::Gone;
    };
    let Some(settings) = version.api.websocket.as_ref() else {
        return Outcome::Gone;
    };
    let mut call = Call::new("MESSAGE");
    let selected = settings.selection.select(&data);
    let router = &version.api.router;
    let route_id = selected
        .as_deref()
        .filter(|k| *k != super::CONNECT && *k != DISCONNECT)
        .and_then(|k| router.message(k))
        .or_else(|| router.default_route());
    let Some(route) = route_id.map(|id| &version.routes[id]) else {
        let error = GatewayError::with_source(
            ErrorKind::Forbidden,
            format!(
                "no route for {} and no $default route",
                selected.as_deref().unwrap_or("the message")
            ),
        );
        let reply = error_message(&error, conn, &call.request_id);
        call.error = Some(error);
        record(gateway, version, conn, &call);
        return reply;
    };
    call.route_key = Some(&route.key);
    let outcome = match admit(&snapshot, version, route, conn).await {
        Err(error) => Err(error),
        Ok(()) => {
            invoke(
                gateway,
                &snapshot,
                conn,
                route,
                &mut call,
                data.clone(),
                text,
            )
            .await
        }
    };
    let reply = match outcome {
        Ok(reply) => reply,
        Err(error) => {
            let reply = error_message(&error, conn, &call.request_id);
            call.error = Some(error);
            reply
        }
    };
    record(gateway, version, conn, &call);
    reply
}

/// The route's throttle and, when `$connect` was admitted with an API key,
/// the key's usage plan (a key disabled since is refused).
async fn admit(
    snapshot: &Snapshot,
    version: &Version,
    route: &CompiledRoute,
    conn: &Caller,
) -> Result<(), GatewayError> {
    let throttle = route.throttle.as_ref();
    let Some(key) = &conn.api_key else {
        return crate::proxy::phases::usage::route_throttle(throttle).await;
    };
    let plan = snapshot
        .api_keys
        .get(key.value.as_bytes())
        .and_then(|index| version.stage.plans.get(index));
    match plan {
        Some(plan) => crate::proxy::phases::usage::admit(plan, throttle).await,
        None => Err(GatewayError::with_source(
            ErrorKind::ApiKeyRefused,
            format!(
                "API key `{}` is no longer in a usage plan of the stage",
                key.name
            ),
        )),
    }
}

/// Calls the route's integration with the message as a `POST` body.
async fn invoke(
    gateway: &Gateway,
    snapshot: &Snapshot,
    conn: &Caller,
    route: &CompiledRoute,
    call: &mut Call<'_>,
    data: Bytes,
    text: bool,
) -> Result<Outcome, GatewayError> {
    let content_type = match (text, data.first()) {
        (true, Some(b'{' | b'[')) => "application/json",
        (true, _) => "text/plain; charset=utf-8",
        (false, _) => "application/octet-stream",
    };
    let event = WebSocketEvent {
        connection_id: &conn.connection_id,
        event_type: "MESSAGE",
        route_key: &route.key,
        close_code: None,
        connected_at: conn.connected_at,
    };
    let answer = call_integration(
        gateway,
        snapshot,
        conn,
        route,
        call,
        event,
        content_type,
        data,
    )
    .await?;
    if !route.return_response {
        drop(answer);
        return Ok(Outcome::Quiet);
    }
    let limit = conn.settings.max_message_bytes;
    let body = http_body_util::Limited::new(answer.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            GatewayError::with_source(
                ErrorKind::UpstreamUnreachable,
                format!("the integration's answer could not be sent as a message: {e}"),
            )
        })?
        .to_bytes();
    // Answered in the kind of message asked, unless a text answer would
    // not be UTF-8.
    let as_text = text && std::str::from_utf8(&body).is_ok();
    Ok(Outcome::Reply(body, as_text))
}

/// Calls `route`'s integration for `event`.
#[allow(clippy::too_many_arguments)] // one call's pieces, each distinct
async fn call_integration(
    gateway: &Gateway,
    snapshot: &Snapshot,
    conn: &Caller,
    route: &CompiledRoute,
    call: &mut Call<'_>,
    event: WebSocketEvent<'_>,
    content_type: &'static str,
    data: Bytes,
) -> Result<http::Response<crate::body::ResponseBody>, GatewayError> {
    let mut request = Request::new(());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = http::Uri::from_static("/");
    let headers = request.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Some(host) = &conn.host {
        headers.insert(http::header::HOST, host.clone());
    }
    if let Some(agent) = conn
        .user_agent
        .as_deref()
        .and_then(|a| HeaderValue::try_from(a).ok())
    {
        headers.insert(http::header::USER_AGENT, agent);
    }
    let (parts, ()) = request.into_parts();
    let forwarding = Forwarding {
        request_id_header: &snapshot.request_id_header,
        request_id: &call.request_id,
        client_ip: &conn.client_ip,
        scheme: conn.scheme,
        authorized: conn.authorized.as_deref(),
        mapped_path: None,
        mapped_query: None,
        max_body_bytes: conn.settings.max_message_bytes as u64,
        client_cert: None,
        source_ip: conn.client.ip(),
        path: &conn.path,
        stage_path: "/",
        received: call.received,
        api_key: conn.api_key.as_ref(),
        websocket: Some(event),
        traceparent: None,
        tracestate: None,
    };
    let mut body = Some(RequestBody::Buffered(data));
    route
        .integration
        .invoke(
            gateway.upstream(),
            forwarding,
            parts,
            &mut body,
            &[],
            &mut call.measured,
        )
        .await
}

/// Calls the `$disconnect` route, if the API has one; its answer is
/// dropped, as API Gateway does.
pub(super) async fn on_disconnect(gateway: &Gateway, conn: &Caller, close_code: u16) {
    let snapshot = gateway.snapshot();
    let Some(version) = version(&snapshot, conn) else {
        return;
    };
    let Some(route) = version
        .api
        .router
        .message(DISCONNECT)
        .map(|id| &version.routes[id])
    else {
        return;
    };
    let mut call = Call::new("DISCONNECT");
    call.route_key = Some(&route.key);
    let event = WebSocketEvent {
        connection_id: &conn.connection_id,
        event_type: "DISCONNECT",
        route_key: &route.key,
        close_code: Some(close_code),
        connected_at: conn.connected_at,
    };
    let outcome = call_integration(
        gateway,
        &snapshot,
        conn,
        route,
        &mut call,
        event,
        "application/octet-stream",
        Bytes::new(),
    )
    .await;
    match outcome {
        Ok(answer) => {
            // Read to the end so that the upstream connection is reused.
            let _ = answer.into_body().collect().await;
        }
        Err(error) => call.error = Some(error),
    }
    record(gateway, version, conn, &call);
}

/// API Gateway's error message to the client: `{"message": ...,
/// "connectionId": ..., "requestId": ...}`.
fn error_message(error: &GatewayError, conn: &Caller, request_id: &HeaderValue) -> Outcome {
    let message = match error.kind() {
        ErrorKind::Forbidden | ErrorKind::ApiKeyRefused => "Forbidden",
        ErrorKind::TooManyRequests(_) => "Too Many Requests",
        ErrorKind::LimitExceeded(_) => "Limit Exceeded",
        _ => "Internal server error",
    };
    let body = serde_json::json!({
        "message": message,
        "connectionId": &*conn.connection_id,
        "requestId": request_id.to_str().unwrap_or_default(),
    });
    Outcome::Reply(Bytes::from(body.to_string()), true)
}

/// One access-log line for a message or disconnect.
fn record(gateway: &Gateway, version: &Version, conn: &Caller, call: &Call<'_>) {
    let log = gateway.access_log();
    if !log.enabled() {
        return;
    }
    let status = match &call.error {
        Some(error) => error.status().as_u16(),
        None => call.measured.status.map_or(200, |s| s.as_u16()),
    };
    let millis = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    log.record(&AccessLogEntry {
        request_id: call.request_id.to_str().unwrap_or_default(),
        request_time: humantime::format_rfc3339_millis(call.received).to_string(),
        ip: conn.client.ip(),
        http_method: "POST",
        path: &conn.path,
        protocol: "WebSocket",
        status,
        api: Some(&conn.api),
        stage: Some(&conn.stage),
        deployment_id: version.deployment.as_deref(),
        is_canary_request: Some(conn.canary),
        route_key: call.route_key,
        response_latency: millis(call.started.elapsed()),
        integration_latency: call.measured.latency.map(millis),
        integration_status: call.measured.status.map(|s| s.as_u16()),
        upstream_address: call.measured.upstream.as_deref(),
        upstream_attempts: (call.measured.attempts > 0).then_some(call.measured.attempts),
        error_message: call.error.as_ref().map(ToString::to_string),
        error_blame: call.error.as_ref().map(|e| e.blame().as_str()),
        principal_id: conn.authorized.as_ref().map(|a| a.principal_id.as_str()),
        authorizer_cache_hit: None,
        authorizer_latency: None,
        domain_name: None,
        tls_version: None,
        client_cert: None,
        connection_id: Some(&conn.connection_id),
        event_type: Some(call.event_type),
        cache_status: None,
        trace_id: None,
    });
}
