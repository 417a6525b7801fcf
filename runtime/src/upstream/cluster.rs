//! A cluster: the targets an `http_proxy` integration sends to — one for a
//! URL with a fixed host, several for a named `[upstreams.NAME]` — and how a
//! request gets to one of them.
//!
//! - Balancing: round robin, or least request (the less busy of two random
//!   targets), over the targets that are neither ejected nor unhealthy
//!   (all of them if none is left: better an answer than none).
//! - Connections: HTTP/1.1 from the per-worker pool, or one multiplexed
//!   HTTP/2 connection per target and worker; TLS by rustls with SNI and
//!   verification (ALPN `h2` or `http/1.1`).
//! - Limits: connections open to the cluster and requests in flight, from
//!   every worker together; past either, 503 at once.
//! - Retries: a connect failure is tried on another target (nothing was
//!   sent); an idempotent request without a body is sent again on one of
//!   the configured statuses. Never after an upstream consumed request bytes
//!   and answered.
//! - Passive health: connect failures and 5xx answers in a row eject a
//!   target for a while; active health checks (`health_check`) run on a
//!   thread of their own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use smallvec::SmallVec;

use super::pool::{self, PooledConnection};
use super::{ForwardedBody, tls};
use crate::config::{Balance, HealthCheck, OutlierPolicy, RetryPolicy, UpstreamConfig};
use crate::util::BoxError;
use crate::util::time::monotonic_nanos;

/// Connections to one cluster, all workers together: the default of a URL's
/// own (anonymous) cluster.
const UNBOUNDED: usize = usize::MAX;

/// A set of targets and how to reach them.
pub struct Cluster {
    /// `[upstreams.NAME]`'s name, or the URL's host.
    name: Arc<str>,
    targets: Vec<TargetState>,
    balance: Balance,
    http2: bool,
    tls: Option<Arc<tokio_rustls::TlsConnector>>,
    /// The SNI name when the configuration fixes one.
    server_name: Option<ServerName<'static>>,
    counters: Arc<Counters>,
    max_connections: usize,
    max_pending: usize,
    connect_timeout: Duration,
    retries: RetryPolicy,
    outlier: Option<OutlierPolicy>,
    health_check: Option<HealthCheck>,
    health_started: AtomicBool,
    next: AtomicUsize,
}

/// Counts shared with the connections' tasks.
#[derive(Default)]
struct Counters {
    open: AtomicUsize,
    pending: AtomicUsize,
}

/// One target and what is known of it.
struct TargetState {
    /// `host:port`, also the `Host` of requests sent to it.
    authority: Arc<str>,
    host: HeaderValue,
    /// Key of its connections in the worker's pool: scheme and authority.
    pool_key: Arc<str>,
    server_name: ServerName<'static>,
    failures: AtomicU32,
    ejected_until: AtomicU64,
    active: AtomicUsize,
    healthy: AtomicBool,
    /// Health checks in a row: positive successes, negative failures.
    streak: AtomicI32,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field(
                "targets",
                &self
                    .targets
                    .iter()
                    .map(|t| &*t.authority)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A response and where it came from.
pub struct Exchange {
    /// The upstream's answer.
    pub response: Response<Incoming>,
    /// An HTTP/1.1 connection to give back to the pool once the body ends.
    pub connection: Option<PooledConnection>,
    /// The target that answered.
    pub target: Arc<str>,
    /// Attempts made, this one included.
    pub attempts: u32,
}

/// Why a cluster produced no response.
#[derive(Debug)]
pub enum ClusterError {
    /// The connection or request limit is reached: 503.
    Overloaded(&'static str),
    /// Every attempt failed; the last error, and where.
    Failed {
        /// The error.
        error: BoxError,
        /// The target of the last attempt.
        target: Option<Arc<str>>,
        /// Attempts made.
        attempts: u32,
    },
}

/// How one attempt failed.
enum AttemptError {
    /// Nothing reached the target: the request comes back unsent.
    NotSent(Box<Request<ForwardedBody>>, BoxError),
    /// The request went out and failed.
    Sent(BoxError),
    /// A limit.
    Overloaded(&'static str),
}

impl Cluster {
    /// A named upstream's cluster; reads its CA bundle and client
    /// certificate.
    pub fn new(config: &UpstreamConfig) -> Result<Cluster, String> {
        let tls = match &config.tls {
            None => None,
            Some(settings) => Some(Arc::new(tls::connector(settings, config.http2)?)),
        };
        let server_name = match config.tls.as_ref().and_then(|t| t.server_name.clone()) {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|_| format!("`{name}` is not a server name"))?,
            ),
            None => None,
        };
        // Pooled connections are kept apart from other clusters' to the
        // same targets, which may present another client certificate or
        // trust other roots; and after a reload only while the TLS and
        // protocol settings stay the same.
        let mut settings = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&format!("{:?}{}", config.tls, config.http2), &mut settings);
        let pool_prefix = format!(
            "{}#{:016x}/",
            config.name,
            std::hash::Hasher::finish(&settings)
        );
        Cluster::build(
            &config.name,
            &config.targets,
            tls,
            server_name,
            &pool_prefix,
            |c| {
                c.http2 = config.http2;
                c.balance = config.balance;
                c.max_connections = config.max_connections;
                c.max_pending = config.max_pending;
                c.connect_timeout = config.connect_timeout;
                c.retries = config.retries.clone();
                c.outlier = config.outlier;
                c.health_check = config.health_check.clone();
            },
        )
    }

    /// The cluster of a URL with a fixed host: one target, the system's
    /// roots for `https`, HTTP/1.1, no limits, a connect failure retried
    /// once.
    pub fn single(authority: &str, https: bool) -> Result<Cluster, String> {
        let tls = https.then(|| Arc::new(tls::default_connector()));
        Cluster::build(authority, &[authority.to_owned()], tls, None, "", |_| {})
    }

    fn build(
        name: &str,
        targets: &[String],
        tls: Option<Arc<tokio_rustls::TlsConnector>>,
        server_name: Option<ServerName<'static>>,
        pool_prefix: &str,
        configure: impl FnOnce(&mut Cluster),
    ) -> Result<Cluster, String> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let targets = targets
            .iter()
            .map(|authority| {
                let parsed: http::uri::Authority = authority
                    .parse()
                    .map_err(|e| format!("`{authority}` is not host:port ({e})"))?;
                let port = parsed
                    .port_u16()
                    .unwrap_or(if tls.is_some() { 443 } else { 80 });
                let host = parsed.host().trim_start_matches('[').trim_end_matches(']');
                let full: Arc<str> = format!("{}:{port}", parsed.host()).into();
                Ok(TargetState {
                    host: HeaderValue::try_from(authority.as_str())
                        .map_err(|_| format!("`{authority}` is not a valid Host"))?,
                    pool_key: format!("{pool_prefix}{scheme}://{full}").into(),
                    server_name: ServerName::try_from(host.to_owned())
                        .map_err(|_| format!("`{host}` is not a server name"))?,
                    authority: full,
                    failures: AtomicU32::new(0),
                    ejected_until: AtomicU64::new(0),
                    active: AtomicUsize::new(0),
                    healthy: AtomicBool::new(true),
                    streak: AtomicI32::new(0),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut cluster = Cluster {
            name: name.into(),
            targets,
            balance: Balance::RoundRobin,
            http2: false,
            tls,
            server_name,
            counters: Arc::default(),
            max_connections: UNBOUNDED,
            max_pending: UNBOUNDED,
            connect_timeout: Duration::from_secs(5),
            retries: RetryPolicy {
                attempts: 1,
                statuses: Vec::new(),
            },
            outlier: None,
            health_check: None,
            health_started: AtomicBool::new(false),
            next: AtomicUsize::new(0),
        };
        configure(&mut cluster);
        Ok(cluster)
    }

    /// Carries over what `previous` (the same upstream in the snapshot this
    /// one replaces) knows: its targets' health and ejections, and its
    /// connection and request counts, so a reload neither forgets a dead
    /// target nor lets the limits be exceeded by the old and new snapshot
    /// together.
    pub fn inherit(&mut self, previous: &Cluster) {
        self.counters = previous.counters.clone();
        for target in &mut self.targets {
            let Some(old) = previous
                .targets
                .iter()
                .find(|t| t.authority == target.authority)
            else {
                continue;
            };
            target
                .failures
                .store(old.failures.load(Ordering::Relaxed), Ordering::Relaxed);
            target
                .ejected_until
                .store(old.ejected_until.load(Ordering::Relaxed), Ordering::Relaxed);
            target
                .healthy
                .store(old.healthy.load(Ordering::Relaxed), Ordering::Relaxed);
            target
                .streak
                .store(old.streak.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// The cluster's name, for logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends `request` (origin-form URI) to a target; see the module
    /// documentation for what is retried.
    pub async fn send(
        &self,
        mut request: Request<ForwardedBody>,
    ) -> Result<Exchange, ClusterError> {
        let counters = &self.counters;
        if counters.pending.fetch_add(1, Ordering::Relaxed) >= self.max_pending {
            counters.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(ClusterError::Overloaded("max_pending"));
        }
        let _pending = Decrement::borrowed(&counters.pending);
        // What a status retry needs to send the request again: only for an
        // idempotent request without a body (nothing is lost by resending).
        let replay = (!self.retries.statuses.is_empty()
            && is_idempotent(request.method())
            && http_body::Body::is_end_stream(request.body()))
        .then(|| {
            (
                request.method().clone(),
                request.uri().clone(),
                request.headers().clone(),
            )
        });
        let mut tried: SmallVec<[usize; 4]> = SmallVec::new();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let index = self.pick(&tried);
            tried.push(index);
            let target = &self.targets[index];
            let more = attempts <= self.retries.attempts;
            target.active.fetch_add(1, Ordering::Relaxed);
            let outcome = self.attempt(target, request).await;
            target.active.fetch_sub(1, Ordering::Relaxed);
            match outcome {
                Ok((response, connection)) => {
                    let status = response.status().as_u16();
                    self.record(target, status < 500);
                    if more
                        && self.retries.statuses.contains(&status)
                        && let Some(replay) = &replay
                    {
                        let (method, uri, headers) = (&replay.0, &replay.1, &replay.2);
                        request = Request::new(ForwardedBody::empty());
                        *request.method_mut() = method.clone();
                        *request.uri_mut() = uri.clone();
                        *request.headers_mut() = headers.clone();
                        // The connection is not reused: its body was not read.
                        drop((response, connection));
                        continue;
                    }
                    return Ok(Exchange {
                        response,
                        connection,
                        target: target.authority.clone(),
                        attempts,
                    });
                }
                Err(AttemptError::Overloaded(which)) => {
                    return Err(ClusterError::Overloaded(which));
                }
                Err(AttemptError::NotSent(unsent, error)) => {
                    self.record(target, false);
                    if more {
                        tracing::debug!(upstream = %self.name, target = %target.authority, %error, "connect failed; trying another target");
                        request = *unsent;
                        continue;
                    }
                    return Err(ClusterError::Failed {
                        error,
                        target: Some(target.authority.clone()),
                        attempts,
                    });
                }
                Err(AttemptError::Sent(error)) => {
                    self.record(target, false);
                    return Err(ClusterError::Failed {
                        error,
                        target: Some(target.authority.clone()),
                        attempts,
                    });
                }
            }
        }
    }

    /// The target for the next attempt: usable (not ejected, not
    /// unhealthy) and not tried yet if possible.
    fn pick(&self, tried: &[usize]) -> usize {
        let n = self.targets.len();
        if n == 1 {
            return 0;
        }
        let now = monotonic_nanos();
        let usable = |i: usize| {
            let t = &self.targets[i];
            t.healthy.load(Ordering::Relaxed) && t.ejected_until.load(Ordering::Relaxed) <= now
        };
        let mut candidates: SmallVec<[usize; 8]> = (0..n)
            .filter(|&i| usable(i) && !tried.contains(&i))
            .collect();
        if candidates.is_empty() {
            candidates = (0..n).filter(|i| !tried.contains(i)).collect();
        }
        if candidates.is_empty() {
            candidates = (0..n).collect();
        }
        match self.balance {
            Balance::RoundRobin => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed);
                candidates[turn % candidates.len()]
            }
            Balance::LeastRequest => {
                let a = candidates[fastrand::usize(..candidates.len())];
                let b = candidates[fastrand::usize(..candidates.len())];
                let load = |i: usize| self.targets[i].active.load(Ordering::Relaxed);
                if load(b) < load(a) { b } else { a }
            }
        }
    }

    /// Notes an attempt's outcome for passive outlier ejection.
    fn record(&self, target: &TargetState, success: bool) {
        let Some(outlier) = self.outlier else {
            return;
        };
        if success {
            target.failures.store(0, Ordering::Relaxed);
            return;
        }
        let failures = target.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < outlier.consecutive_failures {
            return;
        }
        let now = monotonic_nanos();
        let ejected = self
            .targets
            .iter()
            .filter(|t| t.ejected_until.load(Ordering::Relaxed) > now)
            .count();
        let allowed = self.targets.len() * usize::from(outlier.max_ejected_percent) / 100;
        if ejected < allowed {
            let until = now.saturating_add(
                u64::try_from(outlier.ejection_time.as_nanos()).unwrap_or(u64::MAX),
            );
            target.ejected_until.store(until, Ordering::Relaxed);
            target.failures.store(0, Ordering::Relaxed);
            tracing::warn!(upstream = %self.name, target = %target.authority, failures, ejection = ?outlier.ejection_time, "target ejected after failing in a row");
        }
    }

    /// One attempt on `target`.
    async fn attempt(
        &self,
        target: &TargetState,
        mut request: Request<ForwardedBody>,
    ) -> Result<(Response<Incoming>, Option<PooledConnection>), AttemptError> {
        request
            .headers_mut()
            .insert(http::header::HOST, target.host.clone());
        if self.http2 {
            // Requests arriving while the connection is being made wait
            // for it instead of each opening their own.
            let slot = h2_slot(&target.pool_key);
            let connected = match slot.get() {
                Some(sender) => Ok(sender),
                None => Box::pin(slot.get_or_try_init(|| Box::pin(self.connect_h2(target)))).await,
            };
            let mut sender = match connected {
                Ok(sender) => sender.clone(),
                Err(ConnectError::Overloaded(w)) => return Err(AttemptError::Overloaded(w)),
                Err(ConnectError::Failed(e)) => return Err(not_sent(request, e)),
            };
            // HTTP/2 names the scheme and authority in pseudo-headers.
            let scheme = if self.tls.is_some() { "https" } else { "http" };
            let absolute = format!(
                "{scheme}://{}{}",
                target.authority,
                request.uri().path_and_query().map_or("/", |p| p.as_str())
            );
            *request.uri_mut() =
                Uri::try_from(absolute).map_err(|e| AttemptError::Sent(Box::new(e)))?;
            return match sender.try_send_request(request).await {
                Ok(response) => Ok((response, None)),
                Err(mut failed) => {
                    forget_h2(&target.pool_key, &slot);
                    match failed.take_message() {
                        // The connection went away before the stream opened.
                        Some(unsent) => Err(not_sent(unsent, failed.into_error().into())),
                        None => Err(AttemptError::Sent(failed.into_error().into())),
                    }
                }
            };
        }
        loop {
            let (mut sender, reused) = match pool::take_idle(&target.pool_key) {
                Some(sender) => (sender, true),
                // Boxed: the connect path is rare, and inlined it would
                // grow every request's future.
                None => match Box::pin(self.connect_h1(target)).await {
                    Ok(sender) => (sender, false),
                    Err(ConnectError::Overloaded(w)) => return Err(AttemptError::Overloaded(w)),
                    Err(ConnectError::Failed(e)) => return Err(not_sent(request, e)),
                },
            };
            if sender.ready().await.is_err() {
                if reused {
                    continue;
                }
                return Err(not_sent(
                    request,
                    "the new upstream connection closed at once".into(),
                ));
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let connection = PooledConnection {
                        sender,
                        authority: target.pool_key.clone(),
                    };
                    return Ok((response, Some(connection)));
                }
                Err(mut failed) => match failed.take_message() {
                    // A reused connection closed before the request went out.
                    Some(unsent) if reused => request = unsent,
                    Some(unsent) => return Err(not_sent(unsent, failed.into_error().into())),
                    None => return Err(AttemptError::Sent(failed.into_error().into())),
                },
            }
        }
    }

    /// Reserves a connection slot, or says the limit is reached.
    fn open_slot(&self) -> Result<Decrement<'static>, &'static str> {
        let counters = self.counters.clone();
        if counters.open.fetch_add(1, Ordering::Relaxed) >= self.max_connections {
            counters.open.fetch_sub(1, Ordering::Relaxed);
            return Err("max_connections");
        }
        Ok(Decrement::owned(counters))
    }

    /// TCP (and TLS) to `target`, within the connect timeout.
    async fn stream(&self, target: &TargetState) -> Result<Io, BoxError> {
        let connect = async {
            let tcp = tokio::net::TcpStream::connect(&*target.authority).await?;
            tcp.set_nodelay(true)?;
            match &self.tls {
                None => Ok::<Io, BoxError>(Io::Plain(tcp)),
                Some(connector) => {
                    let name = self
                        .server_name
                        .clone()
                        .unwrap_or_else(|| target.server_name.clone());
                    let stream = connector.connect(name, tcp).await.map_err(|e| {
                        format!("TLS handshake with {} failed: {e}", target.authority)
                    })?;
                    Ok(Io::Tls(Box::new(stream)))
                }
            }
        };
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no connection to {} within {:?}",
                target.authority, self.connect_timeout
            )
            .into()),
        }
    }

    async fn connect_h1(
        &self,
        target: &TargetState,
    ) -> Result<http1::SendRequest<ForwardedBody>, ConnectError> {
        let slot = self.open_slot().map_err(ConnectError::Overloaded)?;
        let io = self.stream(target).await.map_err(ConnectError::Failed)?;
        match io {
            Io::Plain(s) => handshake_h1(s, slot).await,
            Io::Tls(s) => handshake_h1(*s, slot).await,
        }
    }

    async fn connect_h2(
        &self,
        target: &TargetState,
    ) -> Result<http2::SendRequest<ForwardedBody>, ConnectError> {
        let slot = self.open_slot().map_err(ConnectError::Overloaded)?;
        let io = self.stream(target).await.map_err(ConnectError::Failed)?;
        let sender = match io {
            Io::Plain(s) => handshake_h2(s, slot).await?,
            Io::Tls(s) => handshake_h2(*s, slot).await?,
        };
        Ok(sender)
    }

    /// Starts the active health checks, once, if the cluster has them.
    pub fn start_health_checks(self: &Arc<Self>) {
        let Some(check) = self.health_check.clone() else {
            return;
        };
        if self.health_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let Some(runtime) = health_runtime() else {
            return;
        };
        let cluster = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut interval = tokio::time::interval(check.interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                // Ends with the cluster (the snapshot holding it was replaced).
                let Some(cluster) = cluster.upgrade() else {
                    return;
                };
                for target in &cluster.targets {
                    let healthy = cluster.probe(target, &check).await;
                    cluster.note_health(target, healthy, &check);
                }
            }
        });
    }

    /// One health check: `GET path` on a new connection.
    async fn probe(&self, target: &TargetState, check: &HealthCheck) -> bool {
        let attempt = async {
            let io = self.stream(target).await.ok()?;
            let request = Request::get(check.path.as_str())
                .header(http::header::HOST, target.host.clone())
                .header(http::header::USER_AGENT, "turnpike-health-check")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .ok()?;
            let status = match io {
                Io::Plain(s) => {
                    let (mut sender, conn) = http1::handshake(TokioIo::new(s)).await.ok()?;
                    tokio::spawn(conn);
                    sender.send_request(request).await.ok()?.status()
                }
                Io::Tls(s) => {
                    let (mut sender, conn) = http1::handshake(TokioIo::new(*s)).await.ok()?;
                    tokio::spawn(conn);
                    sender.send_request(request).await.ok()?.status()
                }
            };
            Some(status.is_success())
        };
        matches!(
            tokio::time::timeout(check.timeout, attempt).await,
            Ok(Some(true))
        )
    }

    fn note_health(&self, target: &TargetState, healthy: bool, check: &HealthCheck) {
        let streak = if healthy {
            target
                .streak
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(s.max(0) + 1))
                .map_or(1, |s| s.max(0) + 1)
        } else {
            target
                .streak
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(s.min(0) - 1))
                .map_or(-1, |s| s.min(0) - 1)
        };
        let was = target.healthy.load(Ordering::Relaxed);
        let threshold = |t: u32| i32::try_from(t).unwrap_or(i32::MAX);
        if !was && streak >= threshold(check.healthy_threshold) {
            target.healthy.store(true, Ordering::Relaxed);
            tracing::info!(upstream = %self.name, target = %target.authority, "target healthy again");
        } else if was && -streak >= threshold(check.unhealthy_threshold) {
            target.healthy.store(false, Ordering::Relaxed);
            tracing::warn!(upstream = %self.name, target = %target.authority, path = %check.path, "target unhealthy: health checks failed");
        }
    }
}

/// Methods that may be sent twice (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

fn not_sent(request: Request<ForwardedBody>, error: BoxError) -> AttemptError {
    AttemptError::NotSent(Box::new(request), error)
}

/// Why no connection could be had.
enum ConnectError {
    /// A limit.
    Overloaded(&'static str),
    /// TCP, TLS or the HTTP handshake failed.
    Failed(BoxError),
}

/// A stream to a target.
enum Io {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

/// An HTTP/1.1 handshake on `io`; the connection runs on its own task,
/// holding `slot` (its place under `max_connections`) until it ends.
async fn handshake_h1<T>(
    io: T,
    slot: Decrement<'static>,
) -> Result<http1::SendRequest<ForwardedBody>, ConnectError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .handshake::<_, ForwardedBody>(TokioIo::new(io))
        .await
        .map_err(|e| ConnectError::Failed(e.into()))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
        drop(slot);
    });
    Ok(sender)
}

/// An HTTP/2 handshake on `io`, as [`handshake_h1`].
async fn handshake_h2<T>(
    io: T,
    slot: Decrement<'static>,
) -> Result<http2::SendRequest<ForwardedBody>, ConnectError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake::<_, ForwardedBody>(TokioIo::new(io))
        .await
        .map_err(|e| ConnectError::Failed(e.into()))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "upstream HTTP/2 connection ended with an error");
        }
        drop(slot);
    });
    Ok(sender)
}

/// Decrements a counter when dropped.
struct Decrement<'a>(DecrementOf<'a>);

enum DecrementOf<'a> {
    Borrowed(&'a AtomicUsize),
    Owned(Arc<Counters>),
}

impl<'a> Decrement<'a> {
    fn borrowed(counter: &'a AtomicUsize) -> Decrement<'a> {
        Decrement(DecrementOf::Borrowed(counter))
    }
}

impl Decrement<'static> {
    fn owned(counters: Arc<Counters>) -> Decrement<'static> {
        Decrement(DecrementOf::Owned(counters))
    }
}

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        match &self.0 {
            DecrementOf::Borrowed(c) => c.fetch_sub(1, Ordering::Relaxed),
            DecrementOf::Owned(c) => c.open.fetch_sub(1, Ordering::Relaxed),
        };
    }
}

/// A worker's HTTP/2 connection to one target: empty while none is open
/// (or while the first request is opening it).
type H2Slot = Arc<tokio::sync::OnceCell<http2::SendRequest<ForwardedBody>>>;

thread_local! {
    /// Each worker's HTTP/2 connections, by target.
    static H2: RefCell<HashMap<Arc<str>, H2Slot>> = RefCell::new(HashMap::new());
}

/// The slot of `key`'s connection on this worker; a new one if the
/// connection there has closed.
fn h2_slot(key: &Arc<str>) -> H2Slot {
    H2.with(|h2| {
        let mut h2 = h2.borrow_mut();
        if let Some(slot) = h2.get(key)
            && slot.get().is_none_or(|sender| !sender.is_closed())
        {
            return slot.clone();
        }
        let slot = H2Slot::default();
        h2.insert(key.clone(), slot.clone());
        slot
    })
}

/// Drops `slot` (a failed connection) unless a newer one replaced it.
fn forget_h2(key: &Arc<str>, slot: &H2Slot) {
    H2.with(|h2| {
        let mut h2 = h2.borrow_mut();
        if h2
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, slot))
        {
            h2.remove(key);
        }
    });
}

/// The thread running health checks, started with the first cluster that
/// has them.
fn health_runtime() -> Option<&'static tokio::runtime::Handle> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Handle>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| tracing::error!(error = %e, "cannot start health checks"))
                .ok()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("upstream-health".into())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .map_err(|e| tracing::error!(error = %e, "cannot start health checks"))
                .ok()?;
            Some(handle)
        })
        .as_ref()
}
