//! The per-request context every phase reads and writes, and what a
//! connection tells each request on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::request::Parts;
use http::{HeaderValue, Response};

use crate::auth::Authorized;
use crate::body::{RequestBody, ResponseBody};
use crate::control::Gateway;
use crate::control::snapshot::{
    ApiEntry, CompiledRoute, DomainEntry, Snapshot, StageEntry, Version,
};
use crate::error::GatewayError;
use crate::integrations::{Forwarding, Measured};
use crate::router::ParamValues;

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
    /// What the TLS handshake established, on a TLS connection.
    pub tls: Option<TlsInfo>,
    /// Where a WebSocket upgrade leaves the accepted connection (HTTP/1.1
    /// connections of the TCP listeners only).
    pub upgrade: Option<Arc<super::websocket::UpgradeSlot>>,
}

/// What a TLS handshake established.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// The server name the client asked for (lower case).
    pub sni: Option<String>,
    /// The custom domain the SNI selected (index among the configuration's
    /// domains).
    pub domain: Option<usize>,
    /// The client certificate, verified against the domain's truststore.
    pub client_cert: Option<Arc<crate::tls::ClientCert>>,
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: &'static str,
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
            tls: None,
            upgrade: None,
        }
    }

    /// The same connection, able to be upgraded to a WebSocket.
    pub fn with_upgrades(mut self, slot: Arc<super::websocket::UpgradeSlot>) -> ConnectionInfo {
        self.upgrade = Some(slot);
        self
    }

    /// The same connection, with what its TLS handshake established.
    pub fn with_tls(mut self, tls: TlsInfo) -> ConnectionInfo {
        self.tls = Some(tls);
        self
    }
}

/// What a phase decided.
pub enum Flow {
    /// Go on with the next phase.
    Continue,
    /// Answer the client with this response now (a CORS preflight, a
    /// mapper's own answer); the remaining phases do not run.
    Respond(Response<ResponseBody>),
}

/// The result of a phase: a [`Flow`], or the error that fails the request.
pub type Verdict = Result<Flow, GatewayError>;

/// State carried through the phases of one request. `'r` is the request's
/// lifetime: the snapshot, the connection and the request path all outlive
/// the context, so phases hand each other references into them.
pub struct Cx<'r> {
    /// The gateway: upstream client, access log.
    pub gateway: &'r Gateway,
    /// The snapshot the request started with and keeps to the end.
    pub snapshot: &'r Snapshot,
    /// The connection the request came on.
    pub conn: &'r ConnectionInfo,
    /// Unique id, sent back and upstream.
    pub request_id: HeaderValue,
    /// When the request arrived.
    pub received_at: Instant,
    /// The same, by the wall clock, for the access log.
    pub received_wall: SystemTime,
    /// The request path with `.` and `..` resolved.
    pub path: &'r str,
    /// The request line and headers; the integration takes them.
    pub parts: Parts,
    /// The request body, until a phase reads it or the integration takes it.
    pub body: Option<RequestBody>,
    /// The API the host and listener select.
    pub api: Option<&'r ApiEntry>,
    /// The custom domain the host names, if one mapped the request.
    pub domain: Option<&'r DomainEntry>,
    /// The stage the path prefix selects, and the path within it.
    pub stage: Option<(&'r StageEntry, &'r str)>,
    /// The version serving the request (the stage's, or its canary's).
    pub version: Option<&'r Version>,
    /// Whether the stage's canary serves the request.
    pub canary: bool,
    /// The matched route.
    pub route: Option<&'r CompiledRoute>,
    /// Path parameter values of the matched route, in its key's order.
    pub params: ParamValues<'r>,
    /// What the route's authorizer said about the caller, if it has one.
    pub authorized: Option<Arc<Authorized>>,
    /// Whether the authorizer's decision came from its cache (`None`: no
    /// authorizer ran).
    pub authorizer_cache_hit: Option<bool>,
    /// Time the authorizer plugin took, if it was invoked.
    pub authorizer_latency: Option<Duration>,
    /// The API key the usage phase admitted the request with, if the route
    /// requires one.
    pub api_key: Option<crate::integrations::UsedApiKey>,
    /// What plugins learn about the request, built once for the mapper's
    /// two calls.
    pub plugin_view: Option<crate::plugin::RequestInfo>,
    /// Path a request mapper chose for the upstream, replacing the one the
    /// integration's URL template gives.
    pub mapped_path: Option<String>,
    /// Query string a request mapper chose (empty: none), replacing the
    /// client's.
    pub mapped_query: Option<String>,
    /// What response templates need of the request (phase 10 to 12).
    pub template_view: Option<Box<super::phases::templates::RequestView>>,
    /// How the integration call went.
    pub integration: Measured,
    /// The response, once the integration (or a later phase) produced it.
    pub response: Option<Response<ResponseBody>>,
    /// The gateway answered a CORS preflight itself.
    pub preflight: bool,
    /// The connection ends after this answer (a message whose framing the
    /// gateway refused: what follows it cannot be trusted to be a request).
    pub close_connection: bool,
    /// A WebSocket connection request (phase 5 on), on a WebSocket API.
    pub websocket: Option<Box<super::websocket::Handshake>>,
    /// What the stage cache did (`None`: the route does not use it).
    pub cache_status: Option<crate::cache::CacheStatus>,
    /// The request's W3C trace context (read from `traceparent`, or new).
    pub trace: crate::observe::trace::RequestTrace,
    /// The `traceparent` sent to the integration, built when one is called.
    pub traceparent: Option<HeaderValue>,
    /// When phases that become trace spans began.
    pub marks: PhaseMarks,
}

/// When the phases that did work began (for the request's trace spans).
#[derive(Debug, Default, Clone, Copy)]
pub struct PhaseMarks {
    /// The route's authorizer was asked (or its cache looked up).
    pub authorizer: Option<Instant>,
    /// The integration was called.
    pub integration: Option<Instant>,
    /// The mapper plugin's two calls (request, response): when each began
    /// and how long it took.
    pub mapper: [Option<(Instant, Duration)>; 2],
}

impl<'r> Cx<'r> {
    /// The context of a request that just arrived.
    pub fn new(
        gateway: &'r Gateway,
        snapshot: &'r Snapshot,
        conn: &'r ConnectionInfo,
        path: &'r str,
        parts: Parts,
        body: RequestBody,
    ) -> Cx<'r> {
        let trace = gateway.tracer().start(&parts.headers);
        Cx {
            gateway,
            snapshot,
            conn,
            request_id: new_request_id(),
            received_at: Instant::now(),
            received_wall: SystemTime::now(),
            path,
            parts,
            body: Some(body),
            api: None,
            domain: None,
            stage: None,
            version: None,
            canary: false,
            route: None,
            params: ParamValues::new(),
            authorized: None,
            authorizer_cache_hit: None,
            authorizer_latency: None,
            api_key: None,
            plugin_view: None,
            mapped_path: None,
            mapped_query: None,
            template_view: None,
            integration: Measured::default(),
            response: None,
            preflight: false,
            close_connection: false,
            websocket: None,
            cache_status: None,
            trace,
            traceparent: None,
            marks: PhaseMarks::default(),
        }
    }

    /// What an integration is told besides the request.
    pub fn forwarding(&self) -> Forwarding<'_> {
        Forwarding {
            request_id_header: &self.snapshot.request_id_header,
            request_id: &self.request_id,
            client_ip: &self.conn.client_ip,
            scheme: self.conn.scheme,
            authorized: self.authorized.as_deref(),
            mapped_path: self.mapped_path.as_deref(),
            mapped_query: self.mapped_query.as_deref(),
            max_body_bytes: self.snapshot.limits.max_body_bytes,
            client_cert: self.client_cert(),
            source_ip: self.conn.client.ip(),
            path: self.path,
            stage_path: self.stage.map_or(self.path, |(_, within)| within),
            received: self.received_wall,
            api_key: self.api_key.as_ref(),
            websocket: self.websocket.as_ref().map(|w| w.event()),
            traceparent: self.traceparent.as_ref(),
            tracestate: self.trace.tracestate(),
        }
    }

    /// The client certificate the connection's handshake verified.
    pub fn client_cert(&self) -> Option<&crate::tls::ClientCert> {
        self.conn.tls.as_ref()?.client_cert.as_deref()
    }

    /// The request id as text, for logs and plugins.
    pub fn request_id_str(&self) -> &str {
        self.request_id.to_str().unwrap_or_default()
    }
}

/// A random UUID (version 4), formatted without allocating more than the header value.
pub fn new_request_id() -> HeaderValue {
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
