//! Driving the request path in-process, for the phases' table tests: a
//! gateway built from configuration text, requests with in-memory bodies,
//! no socket.

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;

use super::{ConnectionInfo, handle};
use crate::body::RequestBody;
use crate::config::{AccessLogTarget, Config};
use crate::control::Gateway;
use crate::control::releases::Releases;

/// A gateway serving one configuration.
pub struct Harness {
    gateway: Gateway,
}

/// The listener every test configuration gets, ahead of its own text.
const LISTENER: &str = "[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n";

impl Harness {
    /// A gateway for `config` (TOML without listeners: one is added; no
    /// access log, no plugin cache).
    pub fn new(config: &str) -> Harness {
        let text = format!("{LISTENER}{config}");
        let mut config = Config::parse(&text, "test.toml")
            .unwrap_or_else(|e| panic!("test configuration does not validate:\n{e}"));
        config.server.access_log = AccessLogTarget::Off;
        config.server.cache_dir = None;
        let gateway = Gateway::new(&config, &Releases::default())
            .unwrap_or_else(|e| panic!("test configuration does not compile: {e}"));
        Harness { gateway }
    }

    /// Sends `request` from 192.0.2.10; returns the status and the body.
    pub async fn send(&self, request: Request<RequestBody>) -> (u16, String) {
        self.send_from("192.0.2.10", request).await
    }

    /// Sends `request` from `ip`; returns the status and the body.
    pub async fn send_from(&self, ip: &str, request: Request<RequestBody>) -> (u16, String) {
        let (status, _, body) = self.exchange(ip, request).await;
        (status, body)
    }

    /// Sends `request` from `ip`; returns the status, headers and body.
    pub async fn exchange(
        &self,
        ip: &str,
        request: Request<RequestBody>,
    ) -> (u16, http::HeaderMap, String) {
        let address = format!("{ip}:40000")
            .parse()
            .or_else(|_| format!("[{ip}]:40000").parse())
            .expect("an IP address");
        let conn = ConnectionInfo::new(0, address, "http");
        let response = handle(&self.gateway, request, &conn).await;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        (
            parts.status.as_u16(),
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }
}

/// A request under construction.
pub struct Builder(http::request::Builder);

/// Starts a request; `uri` is a path with an optional query.
pub fn request(method: &str, uri: &str) -> Builder {
    Builder(Request::builder().method(method).uri(uri))
}

impl Builder {
    /// Adds a header.
    pub fn header(self, name: &str, value: &str) -> Builder {
        Builder(self.0.header(name, value))
    }

    /// Finishes with `body` (empty: none), and a `Host` as every HTTP/1.1
    /// client sends one, unless the test gave its own.
    pub fn body(self, body: &str) -> Request<RequestBody> {
        let mut request = self
            .0
            .body(RequestBody::Buffered(Bytes::from(body.to_owned())))
            .expect("a valid request");
        if !request.headers().contains_key(http::header::HOST) {
            request.headers_mut().insert(
                http::header::HOST,
                http::HeaderValue::from_static("gateway.test"),
            );
        }
        request
    }
}
