//! The pooled keep-alive client that every `http_proxy` integration shares.

use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::LimitedBody;

/// How long an idle upstream connection is kept for reuse.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Client for upstream (origin) requests: keep-alive pool, TCP_NODELAY,
/// http and https.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    pub(crate) client: Client<HttpsConnector<HttpConnector>, LimitedBody>,
}

impl UpstreamClient {
    /// Builds the client; https upstreams are verified against the system's roots.
    pub fn new() -> UpstreamClient {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_keepalive(Some(Duration::from_secs(60)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_client_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        UpstreamClient { client }
    }
}

/// TLS settings for https upstreams: the ring provider (the one crypto
/// provider of the whole binary) and the system's root certificates.
fn tls_client_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "could not load a system root certificate");
    }
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!("no system root certificates found; https upstreams will fail verification");
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth())
    // ring's default provider supports every default protocol version.
    .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
}

impl Default for UpstreamClient {
    fn default() -> Self {
        UpstreamClient::new()
    }
}
