//! The developer portal (`[portal]`): where the people who call the APIs
//! find the published ones, read their documentation, sign up, subscribe to
//! self-service usage plans, get their own API keys and watch their usage.
//!
//! It is served on a listener of its own by a thread of its own, like the
//! admin API, and it never sees the admin token. Pages are rendered on the
//! server ([`pages`]); the only scripts are files served from `/assets/`
//! (Swagger UI for the docs, a small one for the account page), under a
//! Content-Security-Policy without inline script.
//!
//! - [`accounts`]: sign-up, sign-in, sessions, CSRF tokens, the sign-in
//!   throttle, password hashes (argon2id).
//! - [`catalogue`]: the published stages, their OpenAPI documents (the
//!   exporter's), and "try it" requests forwarded to the gateway's listener
//!   like any client's.
//! - [`keys`]: subscribing to a plan, rotating and revoking a key — ordinary
//!   API keys, changed through [`Control::change`] like the admin API's —
//!   and the usage per day.
//!
//! What consumers do is kept in `DATA_DIR/portal` ([`crate::store::portal`])
//! and `DATA_DIR/api_keys`; nothing here changes routes, plugins or
//! deployments.

pub mod accounts;
pub mod assets;
pub mod catalogue;
pub mod keys;
pub mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::sync::watch;

use crate::config::PortalConfig;
use crate::control::Control;
use crate::store::portal::PortalStore;

/// The Content-Security-Policy of every portal answer: nothing but the
/// portal's own files, no inline script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Largest form or "try it" body the portal reads.
pub const MAX_BODY: usize = 1024 * 1024;

/// A portal answer.
pub type Answer = Response<Full<Bytes>>;

/// Everything the portal's handlers need.
pub struct Portal {
    control: Arc<Control>,
    settings: PortalConfig,
    store: PortalStore,
    accounts: accounts::Accounts,
    forwarder: catalogue::Forwarder,
}

impl Portal {
    /// The portal of the gateway `control` serves.
    pub fn new(control: Arc<Control>, settings: PortalConfig) -> Result<Portal, String> {
        let data_dir = control
            .read(|d| d.config.server.data_dir.clone())
            .ok_or("the portal needs server.data_dir")?;
        Ok(Portal {
            store: PortalStore::new(&data_dir),
            accounts: accounts::Accounts::new(settings.session_ttl),
            forwarder: catalogue::Forwarder::new(),
            control,
            settings,
        })
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>, peer: SocketAddr) -> Answer {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        // A form posted from another site is refused before anything else.
        if method == Method::POST && !same_origin(&request) {
            return pages::problem(
                &self,
                None,
                StatusCode::FORBIDDEN,
                "This form was sent from another site.",
            );
        }
        let segments: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (method.clone(), segments.as_slice()) {
            (Method::GET | Method::HEAD, ["assets", ..]) => assets::serve(&path),
            (_, ["try", api, stage, ..]) => {
                let (api, stage) = ((*api).to_owned(), (*stage).to_owned());
                catalogue::try_it(&self, request, &api, &stage).await
            }
            (Method::GET, [""]) => catalogue::index(&self, &request),
            (Method::GET, ["docs", api, stage]) => catalogue::docs(&self, &request, api, stage),
            (Method::GET, ["docs", api, stage, "openapi.json"]) => {
                catalogue::openapi(&self, api, stage)
            }
            (Method::GET, ["signup"]) => accounts::signup_page(&self, &request),
            (Method::GET, ["signin"]) => accounts::signin_page(&self, &request, None),
            (Method::POST, ["signup"]) => match read_form(request).await {
                Ok((parts, form)) => accounts::signup(&self, &parts, &form).await,
                Err(answer) => answer,
            },
            (Method::POST, ["signin"]) => match read_form(request).await {
                Ok((parts, form)) => accounts::signin(&self, &parts, &form, peer).await,
                Err(answer) => answer,
            },
            (Method::POST, ["signout"]) => match read_form(request).await {
                Ok((parts, form)) => accounts::signout(&self, &parts, &form),
                Err(answer) => answer,
            },
            (Method::GET, ["account"]) => keys::account(&self, &request),
            (Method::GET, ["account", "usage.json"]) => keys::usage(&self, &request),
            (Method::POST, ["account", "keys"]) => match read_form(request).await {
                Ok((parts, form)) => keys::subscribe(&self, &parts, &form).await,
                Err(answer) => answer,
            },
            (Method::POST, ["account", "keys", name, action @ ("rotate" | "revoke")]) => {
                let (name, action) = ((*name).to_owned(), *action);
                match read_form(request).await {
                    Ok((parts, form)) => keys::change(&self, &parts, &form, &name, action).await,
                    Err(answer) => answer,
                }
            }
            (_, [""] | ["signup"] | ["signin"] | ["account"]) => pages::problem(
                &self,
                None,
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed.",
            ),
            _ => pages::problem(&self, None, StatusCode::NOT_FOUND, "There is no such page."),
        }
    }
}

/// Whether a request's `Origin` (or, without one, `Referer`) is the
/// portal's own, as `Host` names it. A browser sends `Origin` with every
/// form post; a request with neither is not from a browser form.
fn same_origin(request: &Request<Incoming>) -> bool {
    let Some(host) = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .or_else(|| request.headers().get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match origin {
        None => true,
        Some(origin) => {
            let rest = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .unwrap_or("");
            rest.split('/').next() == Some(host)
        }
    }
}

/// A posted form: its fields, URL-decoded.
pub type Form = Vec<(String, String)>;

/// The value of `name` in `form`.
pub fn field<'f>(form: &'f Form, name: &str) -> &'f str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

async fn read_form(request: Request<Incoming>) -> Result<(http::request::Parts, Form), Answer> {
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is too large.",
            ));
        }
    };
    let form = form_urlencoded::parse(&bytes).into_owned().collect();
    Ok((parts, form))
}

/// An answer with the portal's security headers.
pub fn secured(status: StatusCode, content_type: &'static str, body: Bytes) -> Answer {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let value = HeaderValue::from_static;
    headers.insert(header::CONTENT_TYPE, value(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        value(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, value("nosniff"));
    headers.insert(header::REFERRER_POLICY, value("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, value("DENY"));
    headers.insert(header::CACHE_CONTROL, value("no-store"));
    response
}

/// A plain-text answer.
pub fn plain(status: StatusCode, text: &'static str) -> Answer {
    secured(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
    )
}

/// A `303 See Other` to `location` (after a form was handled).
pub fn see_other(location: &str) -> Answer {
    let mut response = secured(
        StatusCode::SEE_OTHER,
        "text/plain; charset=utf-8",
        Bytes::new(),
    );
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Binds the portal's listener.
pub fn bind(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    crate::util::side_listener::bind(address)
}

/// Serves the portal on `listener` until `stop` turns true, on a thread of
/// its own.
pub fn spawn(
    portal: Arc<Portal>,
    listener: std::net::TcpListener,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    crate::util::side_listener::spawn(
        "turnpike-portal",
        "the portal",
        listener,
        stop,
        move |request, peer| portal.clone().handle(request, peer),
    )
}
