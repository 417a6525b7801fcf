//! Upstream (origin) connections: the client the `http_proxy` integration
//! sends through, the per-worker connection pool for plain-HTTP origins, and
//! the TLS client settings shared with everything else the gateway calls.
//!
//! Plain-HTTP origins fixed at load time use the [`pool`] (HTTP/1.1, no
//! lock); https origins and origins that depend on the request go through
//! hyper-util's pooled client with rustls.

mod body;
pub mod pool;
pub mod tls;

pub use body::{BodyTooLarge, DownstreamBodyError, ForwardedBody};
pub use pool::{Origin, PooledConnection, checkin};

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

    /// Sends a request with an origin-form URI and a `Host` header to a
    /// plain-HTTP origin over a pooled connection. A reused connection that
    /// turns out to be closed before the request went out is replaced once.
    pub async fn send_pooled(
        &self,
        origin: &Origin,
        mut request: Request<ForwardedBody>,
    ) -> Result<(Response<Incoming>, PooledConnection), BoxError> {
        loop {
            let (mut sender, reused) = match pool::take_idle(&origin.authority) {
                Some(sender) => (sender, true),
                // Boxed: the connect path is rare, and inlined it would grow
                // every request's future, which hyper moves on each request.
                None => (Box::pin(pool::connect(&origin.authority)).await?, false),
            };
            if sender.ready().await.is_err() {
                if reused {
                    continue;
                }
                return Err("the new upstream connection closed at once".into());
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    return Ok((
                        response,
                        PooledConnection {
                            sender,
                            authority: origin.authority.clone(),
                        },
                    ));
                }
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(failed.into_error().into()),
                },
            }
        }
    }
}

impl Default for UpstreamClient {
    fn default() -> Self {
        UpstreamClient::new()
    }
}
