//! Upstream (origin) connections.
//!
//! Plain-HTTP origins use a pool of HTTP/1.1 connections per worker thread:
//! every worker runs its own single-threaded runtime, so the pool needs no
//! lock, and a response hands its connection back when its body ends.
//! https origins go through hyper-util's pooled client with rustls.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::body::LimitedBody;
use crate::error::BoxError;

/// How long an idle upstream connection is kept for reuse.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per origin and worker thread.
const MAX_IDLE_PER_ORIGIN: usize = 256;

/// Where plain-HTTP requests of an integration go: the pool key.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `host:port`, also the key of the connection pool.
    pub authority: Arc<str>,
}

/// Client for upstream requests.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    tls: Client<HttpsConnector<HttpConnector>, LimitedBody>,
}

/// A pooled connection on loan to one request; handed back with [`checkin`]
/// once the response body has been read to the end.
pub struct PooledConnection {
    sender: SendRequest<LimitedBody>,
    authority: Arc<str>,
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
        let tls = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        UpstreamClient { tls }
    }

    /// Sends a request with an absolute URI through the general (TLS-capable) client.
    pub async fn send_general(
        &self,
        request: Request<LimitedBody>,
    ) -> Result<Response<Incoming>, BoxError> {
        Ok(self.tls.request(request).await?)
    }

    /// Sends a request with an origin-form URI and a `Host` header to a
    /// plain-HTTP origin over a pooled connection. A reused connection that
    /// turns out to be closed before the request went out is replaced once.
    pub async fn send_pooled(
        &self,
        origin: &Origin,
        mut request: Request<LimitedBody>,
    ) -> Result<(Response<Incoming>, PooledConnection), BoxError> {
        loop {
            let (mut sender, reused) = match take_idle(&origin.authority) {
                Some(sender) => (sender, true),
                // Boxed: the connect path is rare, and inlined it would grow
                // every request's future, which hyper moves on each request.
                None => (Box::pin(connect(&origin.authority)).await?, false),
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

struct Idle {
    sender: SendRequest<LimitedBody>,
    since: Instant,
}

thread_local! {
    static IDLE: RefCell<HashMap<Arc<str>, Vec<Idle>>> = RefCell::new(HashMap::new());
}

fn take_idle(authority: &Arc<str>) -> Option<SendRequest<LimitedBody>> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let list = idle.get_mut(authority)?;
        while let Some(entry) = list.pop() {
            if !entry.sender.is_closed() && entry.since.elapsed() < POOL_IDLE_TIMEOUT {
                return Some(entry.sender);
            }
        }
        None
    })
}

/// Returns a connection to this thread's pool after its response ended.
pub fn checkin(connection: PooledConnection) {
    if connection.sender.is_closed() {
        return;
    }
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let list = idle.entry(connection.authority).or_default();
        let now = Instant::now();
        // The oldest connections sit at the front; drop the expired ones and
        // keep the list bounded.
        let expired = list
            .iter()
            .take_while(|e| now.duration_since(e.since) >= POOL_IDLE_TIMEOUT)
            .count();
        list.drain(..expired);
        if list.len() >= MAX_IDLE_PER_ORIGIN {
            list.remove(0);
        }
        list.push(Idle {
            sender: connection.sender,
            since: now,
        });
    });
}

async fn connect(authority: &str) -> Result<SendRequest<LimitedBody>, BoxError> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::Builder::new()
        .handshake::<_, LimitedBody>(TokioIo::new(stream))
        .await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// TLS settings for https upstreams: the ring provider (the one crypto
/// provider of the whole binary) and the system's root certificates.
pub(crate) fn tls_client_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "could not load a system root certificate");
    }
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!("no system root certificates found; https upstreams will fail verification");
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        // ring's default provider supports every default protocol version.
        .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
}
