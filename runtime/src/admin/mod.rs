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
//! - `PUT /plugins/NAME`: uploads a new version of a configured plugin
//!   (the body is the component), compiles and checks it, activates it
//!   atomically and records it durably in `server.data_dir`.
//! - `GET /plugins`: every configured plugin with its active and stored
//!   versions; `DELETE /plugins/NAME/versions/SHA256` removes an inactive one.
//! - `/apis/...`: deployments, stages, canaries and rollbacks (see
//!   [`release`]).
//! - `/api-keys`: API keys created, disabled and removed at run time (see
//!   [`keys`]).
//!
//! Every call but the health checks needs `Authorization: Bearer <token>`
//! when a token is configured.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

mod keys;
mod release;

use crate::config::{Config, DEFAULT_MAX_UPLOAD_BYTES};
use crate::gateway::{Gateway, ReloadError};
use crate::store::{PluginStore, StoredVersion};

/// Everything the admin handlers need.
pub struct Admin {
    gateway: Arc<Gateway>,
    /// The file `POST /reload` (and SIGHUP) re-reads.
    config_path: Option<PathBuf>,
    token: Option<Arc<str>>,
    max_upload_bytes: u64,
    /// The configuration being served, uploads applied. Held while a reload
    /// or an upload compiles, so that they apply one after the other.
    current: Mutex<Config>,
    ready: AtomicBool,
}

/// Why an upload was refused.
enum UploadError {
    /// The component does not compile, link or implement the world: 400.
    Rejected(String),
    /// Writing the data directory failed: 500.
    Storage(String),
}

impl Admin {
    /// The admin state for `gateway`, serving `config`, reloading from
    /// `config_path`.
    pub fn new(gateway: Arc<Gateway>, config_path: Option<PathBuf>, config: Config) -> Admin {
        Admin {
            gateway,
            config_path,
            token: config.admin.as_ref().and_then(|a| a.token.clone()),
            max_upload_bytes: config
                .admin
                .as_ref()
                .map_or(DEFAULT_MAX_UPLOAD_BYTES, |a| a.max_upload_bytes),
            current: Mutex::new(config),
            ready: AtomicBool::new(false),
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Config> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
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
        let mut current = self.current();
        let config = crate::load_config(path).map_err(ReloadError::Invalid)?;
        let generation = self.gateway.reload(&config)?;
        *current = config;
        Ok(generation)
    }

    /// Stores, compiles and activates a new version of plugin `name`.
    fn upload(&self, name: &str, bytes: &[u8]) -> Result<StoredVersion, UploadError> {
        let mut current = self.current();
        let Some(data_dir) = current.server.data_dir.clone() else {
            return Err(UploadError::Storage(
                "no server.data_dir is configured".into(),
            ));
        };
        let store = PluginStore::new(&data_dir);
        let sha256 = hex::encode(Sha256::digest(bytes));
        let mut next = current.clone();
        let Some(plugin) = next.plugins.iter_mut().find(|p| p.name == name) else {
            return Err(UploadError::Rejected(format!(
                "no plugin `{name}` is configured"
            )));
        };
        let stored_now = store
            .put_component(name, &sha256, bytes)
            .map_err(|e| UploadError::Storage(format!("cannot store the component: {e}")))?;
        plugin.component = store.component_path(name, &sha256);
        let world = plugin.world.as_str().to_owned();
        if let Err(error) = self.gateway.reload(&next) {
            if stored_now {
                store.remove_component(name, &sha256);
            }
            return Err(UploadError::Rejected(error.to_string()));
        }
        let version = StoredVersion {
            sha256,
            size: bytes.len() as u64,
            world,
            uploaded_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        };
        // Serving already; if the pointer cannot be written, a restart
        // would come back on the previous version: say so loudly.
        store.activate(name, &version).map_err(|e| {
            UploadError::Storage(format!(
                "activated, but cannot record it in {}: {e}; a restart would serve the previous version",
                data_dir.display()
            ))
        })?;
        *current = next;
        Ok(version)
    }

    fn list_plugins(&self) -> Value {
        let current = self.current();
        let store = current.server.data_dir.as_deref().map(PluginStore::new);
        let plugins: Vec<Value> = current
            .plugins
            .iter()
            .map(|plugin| {
                let active = store
                    .as_ref()
                    .and_then(|s| s.active(&plugin.name).ok().flatten());
                let versions = store
                    .as_ref()
                    .map(|s| s.versions(&plugin.name))
                    .unwrap_or_default();
                json!({
                    "name": plugin.name,
                    "world": plugin.world.as_str(),
                    "component": plugin.component.display().to_string(),
                    "active": active,
                    "versions": versions,
                })
            })
            .collect();
        json!({ "plugins": plugins })
    }

    fn remove_version(&self, name: &str, sha256: &str) -> Response<Full<Bytes>> {
        let current = self.current();
        // Both end up in file names: only a configured plugin and a hex digest.
        let known = current.plugins.iter().any(|p| p.name == name);
        let digest = crate::store::is_sha256(sha256);
        let (Some(data_dir), true, true) = (current.server.data_dir.as_deref(), known, digest)
        else {
            return respond(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
        };
        let store = PluginStore::new(data_dir);
        if store.active(name).ok().flatten().as_deref() == Some(sha256) {
            return respond(
                StatusCode::CONFLICT,
                json!({"message": format!("version {sha256} of `{name}` is active; activate another one first")}),
            );
        }
        let pinned = format!("{name}@{sha256}");
        if current.plugins.iter().any(|p| p.name == pinned) {
            return respond(
                StatusCode::CONFLICT,
                json!({"message": format!("version {sha256} of `{name}` is pinned by the configuration (`{pinned}`)")}),
            );
        }
        if self
            .gateway
            .releases()
            .pinned_digests(name)
            .iter()
            .any(|d| d == sha256)
        {
            return respond(
                StatusCode::CONFLICT,
                json!({"message": format!("version {sha256} of `{name}` is part of a deployment")}),
            );
        }
        if !store.versions(name).iter().any(|v| v.sha256 == sha256) {
            return respond(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
        }
        store.forget(name, sha256);
        respond(StatusCode::OK, json!({"removed": sha256}))
    }

    async fn handle_upload(self: Arc<Self>, name: String, body: Incoming) -> Response<Full<Bytes>> {
        if let Some((base, _)) = name.split_once('@') {
            return respond(
                StatusCode::BAD_REQUEST,
                json!({"message": format!("`{name}` is a pinned version and never changes; upload to `{base}`")}),
            );
        }
        {
            let current = self.current();
            if !current.plugins.iter().any(|p| p.name == name) {
                return respond(
                    StatusCode::NOT_FOUND,
                    json!({"message": format!("no plugin `{name}` is configured; declare it in [plugins.{name}] (world, budgets, grants) first")}),
                );
            }
            if current.server.data_dir.is_none() {
                return respond(
                    StatusCode::CONFLICT,
                    json!({"message": "uploads need server.data_dir, where versions are kept"}),
                );
            }
        }
        let limit = usize::try_from(self.max_upload_bytes).unwrap_or(usize::MAX);
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => {
                return respond(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"message": format!("the component is larger than admin.max_upload_size ({} bytes)", self.max_upload_bytes)}),
                );
            }
            Err(error) => {
                return respond(
                    StatusCode::BAD_REQUEST,
                    json!({"message": format!("cannot read the upload: {error}")}),
                );
            }
        };
        if bytes.is_empty() {
            return respond(
                StatusCode::BAD_REQUEST,
                json!({"message": "the request body must be the component's bytes"}),
            );
        }
        let admin = self.clone();
        let task_name = name.clone();
        let outcome = tokio::task::spawn_blocking(move || admin.upload(&task_name, &bytes)).await;
        match outcome {
            Ok(Ok(version)) => {
                tracing::info!(plugin = %name, sha256 = %version.sha256, "plugin version activated (admin API)");
                respond(
                    StatusCode::OK,
                    json!({"name": name, "active": true, "version": version}),
                )
            }
            Ok(Err(UploadError::Rejected(reason))) => {
                tracing::warn!(plugin = %name, %reason, "plugin upload refused; the running version keeps serving");
                respond(
                    StatusCode::BAD_REQUEST,
                    json!({"message": "component rejected; the running version keeps serving", "reason": reason}),
                )
            }
            Ok(Err(UploadError::Storage(reason))) => {
                tracing::error!(plugin = %name, %reason, "plugin upload failed");
                respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": reason}),
                )
            }
            Err(_) => respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "Internal server error"}),
            ),
        }
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
            "/apis" => release::handle(self.clone(), method, path, Bytes::new()).await,
            _ if path == "/api-keys" || path.starts_with("/api-keys/") => {
                let (method, path) = (method.clone(), path.to_owned());
                let body = match read_json_body(request.into_body()).await {
                    Ok(body) => body,
                    Err(refusal) => return refusal,
                };
                let admin = self.clone();
                match tokio::task::spawn_blocking(move || {
                    keys::handle(&admin, &method, &path, &body)
                })
                .await
                {
                    Ok(response) => response,
                    Err(_) => respond(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({"message": "Internal server error"}),
                    ),
                }
            }
            _ if path.starts_with("/apis/") => {
                let (method, path) = (method.clone(), path.to_owned());
                let body = match read_json_body(request.into_body()).await {
                    Ok(body) => body,
                    Err(refusal) => return refusal,
                };
                release::handle(self.clone(), &method, &path, body).await
            }
            "/plugins" if method != Method::GET => method_not_allowed("GET"),
            "/plugins" => respond(StatusCode::OK, self.list_plugins()),
            _ => match path
                .strip_prefix("/plugins/")
                .map(|rest| rest.split('/').collect::<Vec<_>>())
            {
                Some(parts) if parts.len() == 1 && !parts[0].is_empty() => {
                    if method != Method::PUT {
                        return method_not_allowed("PUT");
                    }
                    let name = parts[0].to_owned();
                    let body = request.into_body();
                    self.handle_upload(name, body).await
                }
                Some(parts) if parts.len() == 3 && parts[1] == "versions" => {
                    if method != Method::DELETE {
                        return method_not_allowed("DELETE");
                    }
                    self.remove_version(parts[0], parts[2])
                }
                _ => respond(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
            },
        }
    }
}

/// Reads the JSON body of a control call (deployments, API keys): 413
/// beyond [`release::MAX_RELEASE_BODY`], 400 if it cannot be read.
async fn read_json_body(body: Incoming) -> Result<Bytes, Response<Full<Bytes>>> {
    match Limited::new(body, release::MAX_RELEASE_BODY)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(respond(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"message": format!("the request body is larger than {} bytes", release::MAX_RELEASE_BODY)}),
        )),
        Err(error) => Err(respond(
            StatusCode::BAD_REQUEST,
            json!({"message": format!("cannot read the request body: {error}")}),
        )),
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
