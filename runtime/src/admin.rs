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
//!
//! Every call but the health checks needs `Authorization: Bearer <token>`
//! when a token is configured.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::Config;
use crate::gateway::{Gateway, ReloadError};

/// Everything the admin handlers need.
pub struct Admin {
    gateway: Arc<Gateway>,
    /// The file `POST /reload` (and SIGHUP) re-reads.
    config_path: Option<PathBuf>,
    token: Option<Arc<str>>,
    ready: AtomicBool,
}

impl Admin {
    /// The admin state for `gateway`, reloading from `config_path`.
    pub fn new(
        gateway: Arc<Gateway>,
        config_path: Option<PathBuf>,
        token: Option<Arc<str>>,
    ) -> Admin {
        Admin {
            gateway,
            config_path,
            token,
            ready: AtomicBool::new(false),
        }
    }

    /// Marks the gateway ready (listeners accepting) or not (draining).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Re-reads the configuration file and swaps it in if it is valid.
    /// Used by `POST /reload` and SIGHUP.
    pub fn reload_from_file(&self) -> Result<u64, ReloadError> {
        let Some(path) = &self.config_path else {
            return Err(ReloadError::NeedsRestart(
                "the gateway was not started from a file".into(),
            ));
        };
        let config = Config::from_file(path)?;
        self.gateway.reload(&config)
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

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path();
        let method = request.method();
        match path {
            "/healthz" | "/readyz" if method != Method::GET && method != Method::HEAD => {
                method_not_allowed("GET, HEAD")
            }
            "/healthz" => respond(StatusCode::OK, json!({"status": "ok"})),
            "/readyz" => {
                if self.ready.load(Ordering::SeqCst) {
                    respond(StatusCode::OK, json!({"status": "ready"}))
                } else {
                    respond(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"status": "not ready"}),
                    )
                }
            }
            _ if !self.authorized(&request) => {
                let mut response =
                    respond(StatusCode::UNAUTHORIZED, json!({"message": "Unauthorized"}));
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                response
            }
            "/reload" if method != Method::POST => method_not_allowed("POST"),
            "/reload" => {
                let admin = self.clone();
                // Compiling plugins can take a while: off the I/O thread.
                let outcome = tokio::task::spawn_blocking(move || admin.reload_from_file()).await;
                match outcome {
                    Ok(Ok(generation)) => {
                        tracing::info!(generation, "configuration reloaded (admin API)");
                        respond(
                            StatusCode::OK,
                            json!({"status": "reloaded", "generation": generation}),
                        )
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "configuration reload refused (admin API); still serving the previous one");
                        let problems: Vec<String> =
                            error.to_string().lines().map(str::to_owned).collect();
                        respond(
                            StatusCode::BAD_REQUEST,
                            json!({
                                "message": "configuration rejected; the previous one keeps serving",
                                "problems": problems,
                            }),
                        )
                    }
                    Err(_) => respond(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({"message": "Internal server error"}),
                    ),
                }
            }
            _ => respond(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths, so
/// that a caller cannot learn the token byte by byte from response times.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = respond(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"message": "Method Not Allowed"}),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    response
}

/// Binds the admin listener.
pub fn bind(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves the admin API on `listener` until `stop` turns true, on a thread
/// of its own.
pub fn spawn(
    admin: Arc<Admin>,
    listener: std::net::TcpListener,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("turnpike-admin".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(error) => {
                    tracing::error!(%error, "cannot start the admin API");
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(error) => {
                        tracing::error!(%error, "cannot start the admin API");
                        return;
                    }
                };
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let admin = admin.clone();
                            tokio::spawn(async move {
                                let service = service_fn(move |request| {
                                    let admin = admin.clone();
                                    async move { Ok::<_, Infallible>(admin.handle(request).await) }
                                });
                                let _ = auto::Builder::new(TokioExecutor::new())
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        })
}
