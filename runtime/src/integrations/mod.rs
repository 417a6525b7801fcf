//! What serves a route once it has been matched and admitted: `http_proxy`
//! (an upstream), `mock` (the configuration) and `function` (a `wasi:http`
//! component), each compiled per stage when a snapshot is built.
//!
//! An integration sees the request (its parts, body and path parameters)
//! and what the request path learned about it ([`Forwarding`]); it answers
//! with a response or a [`GatewayError`], and reports how long it took
//! ([`Measured`]) either way.

mod function;
mod http_proxy;
mod lambda;
mod mock;

pub use function::Function;
pub use http_proxy::{Clusters, HttpProxy};
pub use lambda::{LambdaApi, LambdaFunction};
pub use mock::Mock;

use std::time::Duration;

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use smallvec::SmallVec;

use crate::auth::Authorized;
use crate::body::{RequestBody, ResponseBody};
use crate::config::template::Resolved;
use crate::config::{IntegrationConfig, StageConfig};
use crate::error::GatewayError;
use crate::upstream::UpstreamClient;

/// What the request path tells an integration besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    /// The header carrying the request id.
    pub request_id_header: &'a HeaderName,
    /// The request id.
    pub request_id: &'a HeaderValue,
    /// The client's IP, as a header value.
    pub client_ip: &'a HeaderValue,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// What the route's authorizer said about the caller.
    pub authorized: Option<&'a Authorized>,
    /// A path a request mapper chose, replacing the URL template's.
    pub mapped_path: Option<&'a str>,
    /// A query string a request mapper chose (empty: none), replacing the
    /// client's.
    pub mapped_query: Option<&'a str>,
    /// The request body limit in force.
    pub max_body_bytes: u64,
    /// The client certificate the TLS handshake verified.
    pub client_cert: Option<&'a crate::tls::ClientCert>,
    /// The client's address.
    pub source_ip: std::net::IpAddr,
    /// The path as received, `.` and `..` resolved.
    pub path: &'a str,
    /// The same within the stage (without a stage or base path prefix).
    pub stage_path: &'a str,
    /// When the request arrived.
    pub received: std::time::SystemTime,
    /// The API key the request was admitted with.
    pub api_key: Option<&'a UsedApiKey>,
    /// On a WebSocket API: which connection and event the call is for.
    pub websocket: Option<WebSocketEvent<'a>>,
    /// The W3C `traceparent` for the upstream (replacing the client's).
    pub traceparent: Option<&'a HeaderValue>,
    /// The `tracestate` that goes with it.
    pub tracestate: Option<&'a HeaderValue>,
}

/// A WebSocket API's integration call: the connection and what happened
/// on it, sent as `x-turnpike-connection-id`, `x-turnpike-event-type` and
/// `x-turnpike-route-key`.
#[derive(Debug, Clone, Copy)]
pub struct WebSocketEvent<'a> {
    /// The connection id.
    pub connection_id: &'a str,
    /// `CONNECT`, `MESSAGE` or `DISCONNECT`.
    pub event_type: &'static str,
    /// The route key serving it.
    pub route_key: &'a str,
    /// On `DISCONNECT`: the close code (`x-turnpike-close-code`; 1006 when
    /// the connection ended without a close frame).
    pub close_code: Option<u16>,
    /// When the connection opened (Lambda events' `connectedAt`).
    pub connected_at: std::time::SystemTime,
}

/// An API key a request was admitted with.
#[derive(Debug, Clone)]
pub struct UsedApiKey {
    /// The key's value, as the client sent it (or the authorizer named it).
    pub value: String,
    /// The key's name in the configuration (API Gateway's key id).
    pub name: String,
}

/// How an integration call went, recorded for the access log even when it
/// failed.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Time spent waiting for the integration's response.
    pub latency: Option<Duration>,
    /// The status it answered with.
    pub status: Option<StatusCode>,
    /// The upstream target that answered (or failed last).
    pub upstream: Option<std::sync::Arc<str>>,
    /// Attempts made on upstream targets.
    pub attempts: u32,
}

/// An integration compiled for one stage: stage variables already filled in.
#[derive(Debug)]
pub enum Integration {
    /// `http_proxy`.
    HttpProxy(HttpProxy),
    /// `mock`.
    Mock(Mock),
    /// `function`.
    Function(Function),
    /// `function` with a `payload_format`: a Lambda-style handler.
    Lambda(LambdaFunction),
}

impl Integration {
    /// Compiles an `http_proxy` or `mock` integration for `stage`;
    /// `param_names` are the route's path parameters. (A `function` needs its
    /// loaded plugin: see [`Function::compile`].)
    pub fn compile(
        config: &IntegrationConfig,
        stage: &StageConfig,
        param_names: &[&str],
        clusters: &Clusters,
    ) -> Result<Integration, String> {
        Ok(match config {
            IntegrationConfig::HttpProxy(c) => {
                Integration::HttpProxy(HttpProxy::compile(c, stage, param_names, clusters)?)
            }
            IntegrationConfig::Mock(c) => Integration::Mock(Mock::compile(c, stage, param_names)?),
            IntegrationConfig::Function { .. } => {
                return Err("a function integration is compiled with its plugin".into());
            }
        })
    }

    /// Serves the request. An integration that forwards the body takes it;
    /// one that answers without it (`mock`) leaves it, to be drained.
    pub async fn invoke(
        &self,
        upstream: &UpstreamClient,
        forwarding: Forwarding<'_>,
        parts: Parts,
        body: &mut Option<RequestBody>,
        params: &[&str],
        measured: &mut Measured,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        match self {
            Integration::HttpProxy(p) => {
                p.invoke(upstream, forwarding, parts, body.take(), params, measured)
                    .await
            }
            Integration::Mock(m) => Ok(m.respond(params, forwarding.authorized, &parts)),
            Integration::Function(f) => {
                f.invoke(forwarding, parts, body.take(), params, measured)
                    .await
            }
            Integration::Lambda(f) => {
                f.invoke(forwarding, parts, body.take(), params, measured)
                    .await
            }
        }
    }
}

/// Reads a whole request body: up to `limit` bytes, else 413; a client
/// that stops sending is 408.
pub async fn collect_body(
    body: Option<RequestBody>,
    limit: u64,
) -> Result<bytes::Bytes, GatewayError> {
    use crate::error::ErrorKind;
    use http_body_util::BodyExt;
    match body {
        Some(RequestBody::Streaming(incoming)) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            Ok(http_body_util::Limited::new(incoming, limit)
                .collect()
                .await
                .map_err(|e| {
                    let kind = if e.is::<http_body_util::LengthLimitError>() {
                        ErrorKind::PayloadTooLarge
                    } else if let Some(crate::body::ClientBodyError::TimedOut(_)) = e.downcast_ref()
                    {
                        ErrorKind::RequestTimeout
                    } else {
                        ErrorKind::BadRequest
                    };
                    GatewayError::with_source(kind, e)
                })?
                .to_bytes())
        }
        Some(RequestBody::Buffered(bytes)) => {
            if bytes.len() as u64 > limit {
                return Err(GatewayError::with_source(
                    ErrorKind::PayloadTooLarge,
                    format!("body of {} bytes, limit {limit}", bytes.len()),
                ));
            }
            Ok(bytes)
        }
        None => Ok(bytes::Bytes::new()),
    }
}

/// Drops client-sent `x-turnpike-*` headers (the prefix belongs to the
/// gateway, so a client cannot forge what an authorizer said or which
/// certificate it showed) and adds the authorizer's principal and context
/// and the verified client certificate's fields.
fn apply_gateway_headers(headers: &mut HeaderMap, forwarding: &Forwarding<'_>) {
    if let Some(traceparent) = forwarding.traceparent {
        crate::observe::trace::set_context(headers, traceparent.clone(), forwarding.tracestate);
    }
    let authorized = forwarding.authorized;
    if headers
        .keys()
        .any(|k| k.as_str().starts_with(GATEWAY_PREFIX))
    {
        let forged: SmallVec<[HeaderName; 4]> = headers
            .keys()
            .filter(|k| k.as_str().starts_with(GATEWAY_PREFIX))
            .cloned()
            .collect();
        for name in forged {
            headers.remove(name);
        }
    }
    if let Some(authorized) = authorized {
        if let Ok(value) = HeaderValue::try_from(authorized.principal_id.as_str()) {
            headers.insert(PRINCIPAL_HEADER, value);
        }
        for (key, value) in &authorized.context {
            let name = format!("{GATEWAY_PREFIX}context-{}", key.to_ascii_lowercase());
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name),
                HeaderValue::try_from(value.as_str()),
            ) {
                headers.insert(name, value);
            }
        }
    }
    if let Some(cert) = forwarding.client_cert {
        for (name, value) in client_cert_headers(cert) {
            headers.insert(name, value);
        }
    }
    if let Some(event) = forwarding.websocket {
        for (name, value) in [
            (CONNECTION_ID_HEADER, event.connection_id),
            (EVENT_TYPE_HEADER, event.event_type),
            (ROUTE_KEY_HEADER, event.route_key),
        ] {
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(name, value);
            }
        }
        if let Some(code) = event.close_code {
            headers.insert(CLOSE_CODE_HEADER, HeaderValue::from(code));
        }
    }
}

/// How a WebSocket connection ended, on its `$disconnect` call.
pub const CLOSE_CODE_HEADER: HeaderName = HeaderName::from_static("x-turnpike-close-code");

/// The WebSocket connection an integration call is about.
pub const CONNECTION_ID_HEADER: HeaderName = HeaderName::from_static("x-turnpike-connection-id");
/// `CONNECT`, `MESSAGE` or `DISCONNECT`.
pub const EVENT_TYPE_HEADER: HeaderName = HeaderName::from_static("x-turnpike-event-type");
/// The WebSocket route key being served.
pub const ROUTE_KEY_HEADER: HeaderName = HeaderName::from_static("x-turnpike-route-key");

/// The headers that carry a verified client certificate's fields:
/// `x-turnpike-client-cert-subject`, `-issuer`, `-serial`, `-not-before`,
/// `-not-after`, `-fingerprint` and `-pem` (percent-encoded PEM).
pub fn client_cert_headers(
    cert: &crate::tls::ClientCert,
) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
    cert.fields().into_iter().filter_map(|(field, value)| {
        let name = HeaderName::try_from(format!("{GATEWAY_PREFIX}client-cert-{field}")).ok()?;
        let value = HeaderValue::try_from(value).ok()?;
        Some((name, value))
    })
}

/// Prefix of the headers the gateway adds for the upstream.
const GATEWAY_PREFIX: &str = "x-turnpike-";
/// The authorizer's principal id.
const PRINCIPAL_HEADER: HeaderName = HeaderName::from_static("x-turnpike-principal-id");

/// Renders resolved template pieces with the request's path parameter
/// values and what its authorizer said (nothing, when it had none or the
/// key is not in its context).
/// What a template reads of the client's request besides the path
/// parameters.
#[derive(Clone, Copy, Default)]
struct RequestParts<'a> {
    /// Headers, for `${request.header.NAME}`.
    headers: Option<&'a http::HeaderMap>,
    /// The query string, for `${request.querystring.NAME}`.
    query: Option<&'a str>,
    /// Whether query values go into a URL (then percent-encoded).
    in_url: bool,
}

fn render(
    pieces: &[Resolved],
    params: &[&str],
    authorized: Option<&Authorized>,
    request: RequestParts<'_>,
    out: &mut String,
) {
    let headers = request.headers;
    for piece in pieces {
        match piece {
            Resolved::Query(name) => {
                let query = request.query.unwrap_or("");
                if let Some((_, value)) =
                    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name.as_str())
                {
                    if request.in_url {
                        out.extend(form_urlencoded::byte_serialize(value.as_bytes()));
                    } else {
                        out.push_str(&value);
                    }
                }
            }
            Resolved::Header(name) => {
                if let Some(value) = headers
                    .and_then(|h| h.get(name))
                    .and_then(|v| v.to_str().ok())
                {
                    out.push_str(value);
                }
            }
            Resolved::Text(t) => out.push_str(t),
            Resolved::Param(i) => out.push_str(params.get(*i).copied().unwrap_or("")),
            Resolved::Authorizer(key) => {
                if let Some(value) = authorized.and_then(|a| a.value(key)) {
                    out.push_str(value);
                }
            }
        }
    }
}
