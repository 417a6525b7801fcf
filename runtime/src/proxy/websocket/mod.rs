//! WebSocket APIs: Amazon API Gateway's third API type.
//!
//! A connection starts as an HTTP/1.1 request through the ordinary phases:
//! phase 5 ([`route`]) checks that it asks to upgrade and selects the
//! `$connect` route, phases 6 and 7 run the route's authorizer and usage
//! plan, and phase 11 ([`connect`]) calls the `$connect` integration. A 2xx
//! answer accepts the connection: the client gets `101 Switching
//! Protocols`, and the [`Accepted`] connection is left in its
//! [`UpgradeSlot`] for the HTTP/1.1 connection task, which hands the socket
//! to [`session::run`] once hyper has written the 101. Anything else
//! refuses the upgrade with the refusal's status and body.
//!
//! From then on each message is routed by the API's selection expression
//! and served by its route's integration ([`messages`]); `@connections`
//! reaches the connection through [`crate::control::connections`].

mod messages;
pub mod session;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION};
use http::{HeaderValue, Method, Response, StatusCode};

use crate::auth::Authorized;
use crate::body::{RequestBody, ResponseBody};
use crate::config::WebSocketSettings;
use crate::control::Gateway;
use crate::control::connections::{
    ConnectionHandle, NewConnection, Outbound, Registered, new_connection_id,
};
use crate::control::snapshot::Version;
use crate::error::{ErrorKind, GatewayError};
use crate::integrations::{UsedApiKey, WebSocketEvent};
use crate::proxy::{Cx, Flow, Verdict};

/// The route key of the connection request.
pub const CONNECT: &str = "$connect";
/// The route key called when a connection ends.
pub const DISCONNECT: &str = "$disconnect";

/// A connection request that phase 5 found well formed.
#[derive(Debug)]
pub struct Handshake {
    /// The id the connection will have.
    pub connection_id: Arc<str>,
    /// `Sec-WebSocket-Accept` for the client's key (HTTP/1.1; none over
    /// HTTP/2, where the stream is the connection).
    accept: Option<HeaderValue>,
    /// Over HTTP/2: the stream, once the `200` is sent.
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    /// The API's limits and selection expression.
    settings: Arc<WebSocketSettings>,
    /// The client's `User-Agent`.
    user_agent: Option<String>,
    /// The `Host` the client connected to.
    host: Option<HeaderValue>,
    /// When the connection request arrived.
    received: std::time::SystemTime,
}

impl Handshake {
    /// The `$connect` call's event.
    pub fn event(&self) -> WebSocketEvent<'_> {
        WebSocketEvent {
            connection_id: &self.connection_id,
            event_type: "CONNECT",
            route_key: CONNECT,
            close_code: None,
            connected_at: self.received,
        }
    }
}

/// An accepted connection, waiting for its socket.
#[derive(Debug)]
pub struct Accepted {
    /// Who connected, and what they were admitted with.
    pub caller: Caller,
    /// The connection as `@connections` sees it, registered from the
    /// moment `$connect` accepted it (pushes wait in its queue until the
    /// socket is handed over).
    pub handle: Arc<ConnectionHandle>,
    /// The receiving end of the handle's queue.
    pub queue: tokio::sync::mpsc::UnboundedReceiver<Outbound>,
    /// Removes the connection from the registry when dropped.
    pub registered: Registered,
}

/// Who is connected, and what every integration call of the connection
/// carries.
#[derive(Debug)]
pub struct Caller {
    /// The connection id.
    pub connection_id: Arc<str>,
    /// The API's name.
    pub api: String,
    /// The stage's name.
    pub stage: String,
    /// Whether the stage's canary accepted it (its messages go there too).
    pub canary: bool,
    /// The API's limits as they were when it connected.
    pub settings: Arc<WebSocketSettings>,
    /// What the `$connect` authorizer said; every later call carries it.
    pub authorized: Option<Arc<Authorized>>,
    /// The API key `$connect` was admitted with; messages count against
    /// its usage plan.
    pub api_key: Option<UsedApiKey>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The client's address.
    pub client: SocketAddr,
    /// The same as a header value.
    pub client_ip: HeaderValue,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The path the client connected to.
    pub path: String,
    /// The `Host` it connected to, which every integration call carries.
    pub host: Option<HeaderValue>,
    /// When the connection was accepted.
    pub connected_at: std::time::SystemTime,
}

/// Where an accepted connection waits for the HTTP/1.1 connection task
/// (one per connection; hyper serves one request at a time on it).
pub struct UpgradeSlot {
    gateway: Arc<Gateway>,
    /// Changes when the worker stops (an HTTP/2 stream's session watches it).
    stop: tokio::sync::watch::Receiver<()>,
    accepted: Mutex<Option<Box<Accepted>>>,
}

impl std::fmt::Debug for UpgradeSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradeSlot").finish_non_exhaustive()
    }
}

impl UpgradeSlot {
    /// An empty slot for a connection of `gateway`, on a worker that
    /// signals `stop` when it shuts down.
    pub fn new(gateway: Arc<Gateway>, stop: tokio::sync::watch::Receiver<()>) -> Arc<UpgradeSlot> {
        Arc::new(UpgradeSlot {
            gateway,
            stop,
            accepted: Mutex::new(None),
        })
    }

    fn put(&self, accepted: Box<Accepted>) {
        *self
            .accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(accepted);
    }

    /// The connection the last answer accepted, if it did.
    pub fn take(&self) -> Option<(Box<Accepted>, Arc<Gateway>)> {
        let accepted = self
            .accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()?;
        Some((accepted, self.gateway.clone()))
    }
}

/// Phase 5 on a WebSocket API: only an upgrade request at the stage's
/// root is served (426 for other requests there, 404 elsewhere); it takes
/// the `$connect` route, or is accepted at once when the API has none.
/// With a management authorizer, `@connections/ID` under the stage is the
/// management API, as on API Gateway's own domain.
pub async fn route<'r>(
    cx: &mut Cx<'r>,
    version: &'r Version,
    within: &str,
    settings: &Arc<WebSocketSettings>,
) -> Verdict {
    if let (Some(authorizer), Some(id)) = (
        &version.api.management,
        within.strip_prefix("/@connections/"),
    ) {
        let id = percent_encoding::percent_decode_str(id)
            .decode_utf8_lossy()
            .into_owned();
        return manage(cx, version, authorizer, id).await;
    }
    if within != "/" {
        return Err(GatewayError::new(ErrorKind::NotFound));
    }
    let parts = &mut cx.parts;
    let has_token = |name: http::HeaderName, token: &str| {
        parts.headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let http1 = parts.version == http::Version::HTTP_11
        && parts.method == Method::GET
        && has_token(http::header::UPGRADE, "websocket")
        && has_token(CONNECTION, "upgrade");
    // RFC 8441: CONNECT with `:protocol = websocket` on an HTTP/2 stream.
    let http2 = parts.version == http::Version::HTTP_2
        && parts.method == Method::CONNECT
        && parts
            .extensions
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    if !http1 && !http2 {
        return Ok(Flow::Respond(upgrade_required(
            "this is a WebSocket API: connect with an HTTP/1.1 GET and `Upgrade: websocket`, or an HTTP/2 extended CONNECT",
        )));
    }
    if parts
        .headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Ok(Flow::Respond(upgrade_required(
            "WebSocket version 13 (RFC 6455) is the one served",
        )));
    }
    let accept_header = if http1 {
        let key = parts
            .headers
            .get(SEC_WEBSOCKET_KEY)
            .filter(|k| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(k.as_bytes())
                    .is_ok_and(|k| k.len() == 16)
            })
            .ok_or_else(|| {
                GatewayError::with_source(
                    ErrorKind::BadRequest,
                    "Sec-WebSocket-Key must be 16 bytes in base64",
                )
            })?;
        let accept_key =
            tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        Some(
            HeaderValue::try_from(accept_key)
                .map_err(|e| GatewayError::with_source(ErrorKind::Internal, e))?,
        )
    } else {
        None
    };
    let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    cx.websocket = Some(Box::new(Handshake {
        connection_id: new_connection_id(),
        accept: accept_header,
        on_upgrade,
        settings: settings.clone(),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        // Copied: a header value parsed by hyper shares (and would keep
        // alive for the connection's life) hyper's whole read buffer.
        host: parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| HeaderValue::from_bytes(h.as_bytes()).ok()),
        received: std::time::SystemTime::now(),
    }));
    match version.api.router.message(CONNECT) {
        Some(id) => {
            let route = &version.routes[id];
            cx.route = Some(route);
            crate::proxy::phases::policy::check_route(route, cx.conn.client.ip())?;
            Ok(Flow::Continue)
        }
        None => Ok(Flow::Respond(accept(cx, None))),
    }
}

/// `@connections/ID` on the API's own listener: the caller's SigV4
/// signature (API Gateway's IAM authorization) admits it, then it is the
/// admin API's call for the stage.
async fn manage(
    cx: &mut Cx<'_>,
    version: &Version,
    authorizer: &crate::auth::CompiledAuthorizer,
    id: String,
) -> Verdict {
    let crate::auth::Decider::SigV4(verifier) = &authorizer.decider else {
        return Err(GatewayError::new(ErrorKind::NotFound));
    };
    let authorized = crate::proxy::phases::authorize::verify_sigv4(verifier, cx).await?;
    let method = cx.parts.method.clone();
    let body = match method {
        Method::POST => {
            let limit = crate::control::admin::connections::MAX_POST_BYTES as u64;
            crate::integrations::collect_body(cx.body.take(), limit).await?
        }
        _ => Bytes::new(),
    };
    cx.authorized = Some(authorized);
    let answer = crate::control::admin::connections::handle(
        cx.gateway,
        &method,
        Some(&version.stage.name),
        &id,
        body,
    )
    .await;
    let (parts, body) = answer.into_parts();
    let bytes = body.into_inner().unwrap_or_default();
    Ok(Flow::Respond(Response::from_parts(
        parts,
        ResponseBody::full(bytes),
    )))
}

/// `426 Upgrade Required`, naming the protocol (RFC 9110 section 15.5.22).
fn upgrade_required(message: &str) -> Response<ResponseBody> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(ResponseBody::full(Bytes::from(body)));
    *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
    let headers = response.headers_mut();
    headers.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Phase 11 on a WebSocket API: the `$connect` integration decides. It is
/// called with `POST`, the handshake's headers (without the upgrade's own)
/// and query string, and no body; a 2xx accepts (its
/// `Sec-WebSocket-Protocol`, if any, is the subprotocol chosen), anything
/// else is the client's answer.
pub async fn connect(cx: &mut Cx<'_>) -> Verdict {
    let Some(route) = cx.route else {
        return Err(GatewayError::new(ErrorKind::NotFound));
    };
    let mut parts = std::mem::replace(&mut cx.parts, http::Request::new(()).into_parts().0);
    parts.method = Method::POST;
    for name in [
        SEC_WEBSOCKET_KEY,
        SEC_WEBSOCKET_VERSION,
        http::header::SEC_WEBSOCKET_EXTENSIONS,
        http::header::UPGRADE,
        CONNECTION,
    ] {
        parts.headers.remove(name);
    }
    let mut body = Some(RequestBody::Buffered(Bytes::new()));
    let answer = crate::proxy::phases::integrate::call(cx, route, parts, &mut body).await?;
    if !answer.status().is_success() {
        cx.response = Some(answer);
        return Ok(Flow::Continue);
    }
    let protocol = answer.headers().get(SEC_WEBSOCKET_PROTOCOL).cloned();
    drop(answer);
    cx.response = Some(accept(cx, protocol));
    Ok(Flow::Continue)
}

/// The `101 Switching Protocols` answer; the connection waits in the
/// connection's upgrade slot for the socket.
fn accept(cx: &mut Cx<'_>, protocol: Option<HeaderValue>) -> Response<ResponseBody> {
    let (Some(handshake), Some(version), Some(slot)) =
        (cx.websocket.as_mut(), cx.version, cx.conn.upgrade.as_ref())
    else {
        return GatewayError::with_source(
            ErrorKind::Internal,
            "a WebSocket upgrade on a connection that cannot be upgraded",
        )
        .to_response();
    };
    let mut response = Response::new(ResponseBody::empty());
    let headers = response.headers_mut();
    if let Some(accept) = &handshake.accept {
        headers.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(http::header::SEC_WEBSOCKET_ACCEPT, accept.clone());
    }
    if let Some(protocol) = protocol {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    let (handle, queue) = ConnectionHandle::new(NewConnection {
        id: handshake.connection_id.clone(),
        api: version.api.name.clone(),
        stage: version.stage.name.clone(),
        source_ip: cx.conn.client.ip(),
        user_agent: handshake.user_agent.clone(),
        queue_limit: handshake.settings.send_queue_bytes,
    });
    let registered = cx.gateway.connections().register(handle.clone());
    if handshake.accept.is_some() {
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    }
    let accepted = Box::new(Accepted {
        caller: Caller {
            connection_id: handshake.connection_id.clone(),
            api: version.api.name.clone(),
            stage: version.stage.name.clone(),
            canary: cx.canary,
            settings: handshake.settings.clone(),
            authorized: cx.authorized.clone(),
            api_key: cx.api_key.clone(),
            user_agent: handshake.user_agent.clone(),
            client: cx.conn.client,
            client_ip: cx.conn.client_ip.clone(),
            scheme: cx.conn.scheme,
            path: cx.path.to_owned(),
            host: handshake.host.clone(),
            connected_at: std::time::SystemTime::now(),
        },
        handle,
        queue,
        registered,
    });
    match handshake.on_upgrade.take() {
        // HTTP/2: the stream becomes the connection once the 200 is sent.
        Some(on_upgrade) if handshake.accept.is_none() => {
            let gateway = slot.gateway.clone();
            let stop = slot.stop.clone();
            tokio::spawn(async move {
                if let Ok(stream) = on_upgrade.await {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    session::run(io, accepted, gateway, stop).await;
                }
            });
        }
        // HTTP/1.1: the connection's task takes the socket after the 101.
        _ => slot.put(accepted),
    }
    response
}
