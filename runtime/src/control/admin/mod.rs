//! The admin API: a small JSON-over-HTTP control plane on its own listener
//! (loopback by default), served by its own thread so that it keeps
//! answering — readiness in particular — while the workers drain.
//!
//! - `GET /healthz`: liveness, always 200 while the process runs.
//! - `GET /readyz`: 200 while new requests are accepted, 503 once shutting
//!   down, so that a load balancer stops sending traffic during the drain.
//! - `POST /reload`: re-reads the configuration file, validates and compiles
//!   it, and swaps it in; on any problem answers 400 with the reasons and the
//!   running configuration keeps serving.
//! - `/plugins/...`: uploads, versions, activation ([`plugins`]).
//! - `/apis/...`: deployments, stages, canaries and rollbacks ([`release`]).
//! - `/api-keys/...`: API keys created at run time ([`keys`]).
//! - `[/STAGE]/@connections/ID`: WebSocket connections ([`connections`]).
//! - `GET /cluster`: the fleet's nodes and what each serves ([`cluster`]).
//! - `/portal/...`: the developer portal's consumers, catalogue, plans and
//!   invitations ([`portal`]).
//!
//! Every call but the health checks needs `Authorization: Bearer <token>`
//! when a token is configured. Request and response bodies are the types of
//! [`api`], shared with the CLI.

pub mod api;
mod cache;
mod cluster;
pub mod connections;
mod imports;
mod keys;
mod plugins;
pub mod portal;
mod release;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde::Serialize;
use tokio::sync::watch;

use super::state::Control;
use crate::config::DEFAULT_MAX_UPLOAD_BYTES;
use api::{ErrorBody, Health, Reloaded};

/// Largest JSON body a control call (deployments, keys) accepts.
pub const MAX_CONTROL_BODY: usize = 64 * 1024;

/// Everything the admin handlers need.
pub struct Admin {
    control: Arc<Control>,
    token: Option<Arc<str>>,
    max_upload_bytes: u64,
    ready: AtomicBool,
}

type Answer = Response<Full<Bytes>>;

impl Admin {
    /// The admin API over `control`.
    pub fn new(control: Arc<Control>) -> Admin {
        let (token, max_upload_bytes) = control.read(|d| {
            (
                d.config.admin.as_ref().and_then(|a| a.token.clone()),
                d.config
                    .admin
                    .as_ref()
                    .map_or(DEFAULT_MAX_UPLOAD_BYTES, |a| a.max_upload_bytes),
            )
        });
        Admin {
            control,
            token,
            max_upload_bytes,
            ready: AtomicBool::new(false),
        }
    }

    /// Marks the gateway ready (listeners accepting) or not (draining).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .unwrap_or("");
        constant_time_eq(presented.as_bytes(), token.as_bytes())
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Answer {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        match path.as_str() {
            "/healthz" | "/readyz" if method != Method::GET && method != Method::HEAD => {
                method_not_allowed("GET, HEAD")
            }
            "/healthz" => respond(StatusCode::OK, &health("ok")),
            "/readyz" => {
                if self.ready.load(Ordering::SeqCst) {
                    respond(StatusCode::OK, &health("ready"))
                } else {
                    respond(StatusCode::SERVICE_UNAVAILABLE, &health("not ready"))
                }
            }
            _ if path == "/ui" || path.starts_with("/ui/") => ui_asset(&method, &path),
            _ if !self.authorized(&request) => {
                // Whatever the caller was sending is read and dropped, so
                // that it hears the refusal instead of a reset connection.
                crate::util::drain::drain_in_background(request.into_body());
                let mut response = refuse(StatusCode::UNAUTHORIZED, "Unauthorized");
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                response
            }
            "/metrics" | "/recent-errors" if method != Method::GET && method != Method::HEAD => {
                method_not_allowed("GET, HEAD")
            }
            "/metrics" => {
                let text = crate::observe::Metrics::global().render();
                let mut response = Response::new(Full::new(Bytes::from(text)));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                response
            }
            "/recent-errors" => respond(
                StatusCode::OK,
                &api::RecentErrors {
                    errors: crate::observe::Metrics::global().recent_errors(),
                },
            ),
            "/reload" if method != Method::POST => method_not_allowed("POST"),
            "/reload" => {
                let control = self.control.clone();
                // Compiling plugins can take a while: off the I/O thread.
                let outcome = blocking(move || control.reload_from_file()).await;
                match outcome {
                    Some(Ok(generation)) => {
                        tracing::info!(generation, "configuration reloaded (admin API)");
                        respond(
                            StatusCode::OK,
                            &Reloaded {
                                status: "reloaded".into(),
                                generation,
                            },
                        )
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, "configuration reload refused (admin API); still serving the previous one");
                        respond(
                            StatusCode::BAD_REQUEST,
                            &ErrorBody {
                                message: "configuration rejected; the previous one keeps serving"
                                    .into(),
                                problems: error.to_string().lines().map(str::to_owned).collect(),
                                ..ErrorBody::default()
                            },
                        )
                    }
                    None => internal_error(),
                }
            }
            "/plugins" | "/plugins/" => plugins::handle_list(&self, &method),
            _ if path.starts_with("/plugins/") => {
                plugins::handle(self.clone(), &method, &path, request.into_body()).await
            }
            "/api-keys" => keys::handle(self.clone(), method, path, request.into_body()).await,
            _ if path.starts_with("/api-keys/") => {
                keys::handle(self.clone(), method, path, request.into_body()).await
            }
            _ if path.contains("/@connections/") => {
                let Some((stage, id)) = connections::parse(&path) else {
                    return refuse(StatusCode::NOT_FOUND, "Not Found");
                };
                let body = if method == Method::POST {
                    match Limited::new(request.into_body(), connections::MAX_POST_BYTES)
                        .collect()
                        .await
                    {
                        Ok(collected) => collected.to_bytes(),
                        Err(error) if error.is::<LengthLimitError>() => {
                            return refuse(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                format!(
                                    "a message is at most {} bytes",
                                    connections::MAX_POST_BYTES
                                ),
                            );
                        }
                        Err(error) => {
                            return refuse(
                                StatusCode::BAD_REQUEST,
                                format!("cannot read the message: {error}"),
                            );
                        }
                    }
                } else {
                    Bytes::new()
                };
                connections::handle(self.control.gateway(), &method, stage, &id, body).await
            }
            "/cluster" if method != Method::GET && method != Method::HEAD => {
                method_not_allowed("GET, HEAD")
            }
            "/cluster" => cluster::handle(&self.control).await,
            _ if path.starts_with("/portal/") => match read_json_body(request.into_body()).await {
                Ok(body) => portal::handle(self.clone(), method, path, body).await,
                Err(refusal) => refusal,
            },
            _ if cache::parse(&path).is_some() => {
                crate::util::drain::drain_in_background(request.into_body());
                let (api, stage) = cache::parse(&path).unwrap_or_default();
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8_lossy()
                        .into_owned()
                };
                cache::handle(
                    self.control.gateway(),
                    &method,
                    &decode(api),
                    &decode(stage),
                )
            }
            "/apis" => release::handle(self.clone(), &method, &path, Bytes::new()).await,
            _ if path.starts_with("/apis/") && path.ends_with("/import") => {
                let api = path["/apis/".len()..path.len() - "/import".len()].to_owned();
                let query = request.uri().query().map(str::to_owned);
                // Definitions are documents, larger than control calls.
                let limit = usize::try_from(self.max_upload_bytes).unwrap_or(usize::MAX);
                let body = match Limited::new(request.into_body(), limit).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(error) if error.is::<LengthLimitError>() => {
                        return refuse(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "the definition is larger than admin.max_upload_size ({limit} bytes)"
                            ),
                        );
                    }
                    Err(error) => {
                        return refuse(
                            StatusCode::BAD_REQUEST,
                            format!("cannot read the definition: {error}"),
                        );
                    }
                };
                imports::handle(self.clone(), &method, &api, query.as_deref(), body).await
            }
            _ if path.starts_with("/apis/") => {
                let body = match read_json_body(request.into_body()).await {
                    Ok(body) => body,
                    Err(refusal) => return refusal,
                };
                release::handle(self.clone(), &method, &path, body).await
            }
            _ => refuse(StatusCode::NOT_FOUND, "Not Found"),
        }
    }
}

fn health(status: &str) -> Health {
    Health {
        status: status.into(),
    }
}

/// Runs control-plane work (compiling plugins, writing files) off the admin
/// thread's I/O loop; `None` if it panicked.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(work).await.ok()
}

/// The answer to work that panicked.
fn internal_error() -> Answer {
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
}

/// Reads the JSON body of a control call: 413 beyond [`MAX_CONTROL_BODY`],
/// 400 if it cannot be read.
async fn read_json_body(body: Incoming) -> Result<Bytes, Answer> {
    match Limited::new(body, MAX_CONTROL_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_CONTROL_BODY} bytes"),
        )),
        Err(error) => Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {error}"),
        )),
    }
}

/// Compares two byte strings in time that depends only on their lengths, so
/// that a caller cannot learn the token byte by byte from response times.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// An asset of the operator view: public (it holds no data; what it shows
/// comes from calls that need the token), `GET` and `HEAD` only.
fn ui_asset(method: &Method, path: &str) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let Some((content_type, bytes)) = ui::asset(path) else {
        return refuse(StatusCode::NOT_FOUND, "Not Found");
    };
    let mut response = Response::new(Full::new(Bytes::from_static(bytes)));
    let headers = response.headers_mut();
    let value = header::HeaderValue::from_static;
    headers.insert(header::CONTENT_TYPE, value(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        value(ui::CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, value("nosniff"));
    headers.insert(header::REFERRER_POLICY, value("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, value("DENY"));
    headers.insert(header::CACHE_CONTROL, value("no-cache"));
    response
}

/// A JSON answer.
fn respond(status: StatusCode, body: &impl Serialize) -> Answer {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A refusal: `{"message": ...}`.
fn refuse(status: StatusCode, message: impl Into<String>) -> Answer {
    respond(status, &ErrorBody::message(message))
}

fn method_not_allowed(allow: &'static str) -> Answer {
    let mut response = refuse(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    response
}

/// Binds the admin listener.
pub fn bind(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    crate::util::side_listener::bind(address)
}

/// Serves the admin API on `listener` until `stop` turns true, on a thread
/// of its own.
pub fn spawn(
    admin: Arc<Admin>,
    listener: std::net::TcpListener,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    crate::util::side_listener::spawn(
        "turnpike-admin",
        "the admin API",
        listener,
        stop,
        move |request, _| admin.clone().handle(request),
    )
}
