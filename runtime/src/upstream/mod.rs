//! Upstream (origin) connections: the clusters `http_proxy` integrations
//! send through (targets, balancing, TLS, HTTP/2, limits, retries, health),
//! the per-worker HTTP/1.1 connection pool, the general client for origins
//! that depend on the request, and the TLS client settings shared with
//! everything else the gateway calls.

mod body;
mod cluster;
pub mod pool;
pub mod tls;

pub use body::{
    BodyTooLarge, ClientBody, ClientBodyError, DownstreamBodyError, ForwardedBody,
    Http3RequestStream,
};
pub use cluster::{Cluster, ClusterError, Exchange};
pub use pool::{PooledConnection, checkin};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::util::BoxError;

/// Client for upstream requests.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    general: Client<HttpsConnector<HttpConnector>, ForwardedBody>,
}

impl UpstreamClient {
    /// Builds the client; https upstreams are verified against the system's roots.
    pub fn new() -> UpstreamClient {
        let general = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(pool::POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(tls::https_connector());
        UpstreamClient { general }
    }

    /// Sends a request with an absolute URI through the general (TLS-capable) client.
    pub async fn send_general(
        &self,
        request: Request<ForwardedBody>,
    ) -> Result<Response<Incoming>, BoxError> {
        Ok(self.general.request(request).await?)
    }
}

impl Default for UpstreamClient {
    fn default() -> Self {
        UpstreamClient::new()
    }
}
