//! Downstream listeners: plain TCP serving HTTP/1.1 and HTTP/2 (prior
//! knowledge) on the same port, or TLS serving the protocol ALPN chose; one
//! single-threaded runtime per worker, and graceful shutdown. HTTP/1.1
//! connections are parked while idle (`proxy::parking`); HTTP/2 ones are
//! driven by [`connection::drive`].
//!
//! A TLS handshake reads the ClientHello first and picks the server
//! configuration for its SNI from the snapshot current at that moment (a
//! custom domain with mutual TLS has its own), so a reload's new
//! certificates serve the next handshake while open connections keep
//! theirs.
//!
//! Every worker thread runs its own current-thread runtime and accepts on its
//! own duplicate of each listening socket, so a connection lives and dies on
//! one thread: no work stealing, no cross-thread wake-ups, and per-thread
//! upstream connection pools without locks.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::{ClientBody, RequestBody};
use crate::config::{Config, Limits};
use crate::control::{Gateway, StartError};
use crate::observe::Metrics;
use crate::observe::metrics::ConnectionMetrics;
use crate::proxy::connection::{self, Activity, ConnectionCounts};
use crate::proxy::parking;
use crate::proxy::websocket::UpgradeSlot;
use crate::proxy::{ConnectionInfo, handle};

/// HTTP/2 streams open at once on one downstream connection.
pub(super) const MAX_CONCURRENT_STREAMS: u32 = 100;
/// How long a client may take to complete a TLS handshake.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection builders: one that detects HTTP/2 by its preface (plain
/// listeners), and one per protocol for TLS connections, where ALPN chose.
struct Builders {
    http1: hyper::server::conn::http1::Builder,
    http2: auto::Builder<TokioExecutor>,
    /// How long a plain connection may take to say which protocol it
    /// speaks (hyper's own header timeout starts after that).
    header_read_timeout: Duration,
}

/// A bound listener, not yet accepting.
pub struct BoundListener {
    /// The listener's name from config.
    pub name: String,
    /// The address actually bound (port 0 resolved).
    pub address: SocketAddr,
    socket: std::net::TcpListener,
    /// The UDP socket on the same address, for HTTP/3.
    udp: Option<std::net::UdpSocket>,
}

/// Binds every configured listener; fails on the first that cannot be bound.
pub fn bind(config: &Config) -> Result<Vec<BoundListener>, StartError> {
    if config.listeners.is_empty() {
        return Err(StartError::NoListeners);
    }
    let mut bound = Vec::with_capacity(config.listeners.len());
    for listener in &config.listeners {
        let bind_error = |source| StartError::Bind {
            listener: listener.name.clone(),
            address: listener.address,
            source,
        };
        let socket = bind_socket(listener.address).map_err(bind_error)?;
        let address = socket.local_addr().map_err(bind_error)?;
        let udp = match listener.tls.as_ref().is_some_and(|t| t.http3) {
            // The same port as TCP (the one port 0 picked), as Alt-Svc says.
            true => Some(super::http3::bind(address).map_err(bind_error)?),
            false => None,
        };
        bound.push(BoundListener {
            name: listener.name.clone(),
            address,
            socket,
            udp,
        });
    }
    Ok(bound)
}

fn bind_socket(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Serves `listeners` on `workers` threads until `stop` turns true, then
/// stops accepting and gives in-flight requests up to `grace` to finish.
/// Returns when every worker has finished.
pub fn serve(
    gateway: Arc<Gateway>,
    listeners: Vec<BoundListener>,
    limits: &Limits,
    workers: usize,
    grace: Duration,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let builder = Arc::new(Builders {
        http1: http1_builder(limits),
        http2: http2_builder(limits),
        header_read_timeout: limits.header_read_timeout,
    });
    let counts = Arc::new(ConnectionCounts::new(listeners.len()));
    let http3_sockets: Vec<_> = listeners
        .iter()
        .enumerate()
        .filter_map(|(index, l)| {
            let socket = l.udp.as_ref()?.try_clone();
            Some(socket.map(|socket| super::http3::Http3Socket {
                listener: index,
                name: l.name.clone(),
                socket,
            }))
        })
        .collect::<std::io::Result<_>>()?;
    let http3 = if http3_sockets.is_empty() {
        None
    } else {
        Some(super::http3::spawn(
            gateway.clone(),
            http3_sockets,
            counts.clone(),
            workers,
            grace,
            stop.clone(),
        )?)
    };
    let mut threads = Vec::with_capacity(workers);
    for worker in 0..workers {
        let sockets = listeners
            .iter()
            .map(|l| Ok((l.name.clone(), l.socket.try_clone()?)))
            .collect::<std::io::Result<Vec<_>>>()?;
        let gateway = gateway.clone();
        let builder = builder.clone();
        let stop = stop.clone();
        let counts = counts.clone();
        let thread = std::thread::Builder::new()
            .name(format!("turnpike-worker-{worker}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(error) => {
                        tracing::error!(worker, %error, "cannot start a worker runtime");
                        return;
                    }
                };
                let worker = Worker {
                    gateway,
                    builders: builder,
                    counts,
                };
                runtime.block_on(serve_worker(worker, sockets, grace, stop));
            })?;
        threads.push(thread);
    }
    drop(listeners);
    for thread in threads {
        let _ = thread.join();
    }
    if let Some(thread) = http3 {
        let _ = thread.join();
    }
    Ok(())
}

/// What every connection of a worker shares.
struct Worker {
    gateway: Arc<Gateway>,
    builders: Arc<Builders>,
    counts: Arc<ConnectionCounts>,
}

async fn serve_worker(
    worker: Worker,
    sockets: Vec<(String, std::net::TcpListener)>,
    grace: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // Connections hold a receiver; a send asks them to close, and the
    // sender sees when the last one is gone.
    let (closing, connections) = watch::channel(());
    let mut listeners = Vec::with_capacity(sockets.len());
    for (name, socket) in sockets {
        match TcpListener::from_std(socket) {
            Ok(listener) => listeners.push((name, listener)),
            Err(error) => tracing::error!(listener = %name, %error, "cannot register the listener"),
        }
    }
    let accepting = async {
        let mut accepts = Vec::new();
        for (index, (name, listener)) in listeners.iter().enumerate() {
            let metrics = Arc::new(["http1", "h2"].map(|p| Metrics::global().connections(name, p)));
            accepts.push(accept_loop(
                index,
                name,
                listener,
                &worker,
                &connections,
                metrics,
            ));
        }
        futures_util::future::join_all(accepts).await;
    };
    // Idle instances of plugins that a reload or upload replaced are
    // released on this worker as soon as the plugin goes away.
    let releasing = tokio::spawn(crate::plugin::release_retired_instances());
    let collecting = tokio::spawn(crate::util::memory::return_freed_memory());
    tokio::select! {
        _ = accepting => {}
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
    releasing.abort();
    collecting.abort();
    // Closing the sockets here refuses new connections at once.
    drop(listeners);
    drop(connections);
    closing.send_replace(());
    if tokio::time::timeout(grace, closing.closed()).await.is_err() {
        tracing::warn!(grace = ?grace, "grace period over; closing the remaining connections");
    }
}

/// What hyper may buffer of a request head: it answers 431 itself only past
/// this; below it the pipeline's own check gives the JSON error with a
/// request id.
fn head_buffer(limits: &Limits) -> usize {
    limits.max_header_bytes.saturating_mul(2).max(16 * 1024)
}

fn http1_builder(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(head_buffer(limits))
        // A client may send its request and shut its writing half down
        // (`nc -N`, HTTP/1.0 tools) and still be owed the answer, as nginx
        // and HAProxy give it; without this the EOF drops the request.
        .half_close(true)
        .keep_alive(true);
    builder
}

fn http2_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http2_only();
    builder
        .http2()
        .timer(TokioTimer::new())
        // A client asking for more waits (REFUSED_STREAM past it), as
        // Envoy's and the HTTP/2 RFC's suggested minimum.
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        // WebSocket APIs over HTTP/2 (RFC 8441's extended CONNECT).
        .enable_connect_protocol()
        .max_header_list_size(u32::try_from(head_buffer(limits)).unwrap_or(u32::MAX));
    builder
}

async fn accept_loop(
    index: usize,
    name: &str,
    listener: &TcpListener,
    worker: &Worker,
    closing: &watch::Receiver<()>,
    metrics: Arc<[Arc<ConnectionMetrics>; 2]>,
) {
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(pair) => pair,
            Err(error) => {
                // Usually EMFILE/ENFILE: back off instead of spinning.
                tracing::warn!(listener = %name, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let snapshot = worker.gateway.snapshot();
        let tls = snapshot.tls.get(index).cloned().flatten();
        let max = snapshot.max_connections.get(index).copied().flatten();
        let idle = snapshot.limits.idle_timeout;
        drop(snapshot);
        let Some(open) = worker.counts.open(index, max) else {
            if worker.counts.should_warn(index) {
                tracing::warn!(listener = %name, max_connections = max, "connection limit reached; refusing new connections");
            }
            if tls.is_none() {
                tokio::spawn(connection::refuse(stream));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let builders = worker.builders.clone();
        let gateway = worker.gateway.clone();
        let mut bounds = connection::Bounds {
            activity: Activity::new(),
            idle,
            stop: closing.clone(),
            open,
            upgrade: None,
        };
        let metrics = metrics.clone();
        match tls {
            None => {
                let slot = UpgradeSlot::new(gateway.clone(), closing.clone());
                bounds.upgrade = Some(slot.clone());
                let conn = Arc::new(ConnectionInfo::new(index, client, "http").with_upgrades(slot));
                let service = service(gateway, conn, bounds.activity.clone());
                tokio::spawn(async move {
                    let mut stream = stream;
                    // HTTP/1.1 and h2c share the port: the first bytes tell.
                    let sniffed = tokio::select! {
                        sniffed = tokio::time::timeout(builders.header_read_timeout, parking::sniff(&mut stream)) => sniffed,
                        _ = bounds.stop.changed() => return,
                    };
                    let Ok(Ok((h2, ahead))) = sniffed else {
                        return;
                    };
                    let _counted = metrics[usize::from(h2)].open();
                    if let Err(error) =
                        serve_connection(&builders, stream, ahead, h2, service, bounds).await
                    {
                        tracing::debug!(%client, error = %error, "connection ended with an error");
                    }
                });
            }
            Some(tls) => {
                tokio::spawn(async move {
                    let Some((stream, info)) = handshake(stream, &tls).await else {
                        return;
                    };
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let _counted = metrics[usize::from(h2)].open();
                    let slot = UpgradeSlot::new(gateway.clone(), bounds.stop.clone());
                    bounds.upgrade = Some(slot.clone());
                    let conn = Arc::new(
                        ConnectionInfo::new(index, client, "https")
                            .with_tls(info)
                            .with_upgrades(slot),
                    );
                    let service = service(gateway, conn, bounds.activity.clone());
                    if let Err(error) =
                        serve_connection(&builders, stream, Bytes::new(), h2, service, bounds).await
                    {
                        tracing::debug!(%client, error = %error, "connection ended with an error");
                    }
                });
            }
        }
    }
}

/// Serves a connection in the protocol it speaks, `ahead` being bytes
/// already read from it: HTTP/2 until it ends, HTTP/1.1 parked while idle.
async fn serve_connection<T, S>(
    builders: &Builders,
    stream: T,
    ahead: Bytes,
    h2: bool,
    service: S,
    bounds: connection::Bounds,
) -> Result<(), crate::util::BoxError>
where
    T: parking::Parkable,
    S: ConnectionService,
{
    if h2 {
        let io = TokioIo::new(parking::Rewind::new(stream, ahead));
        let connection = builders.http2.serve_connection(io, service).into_owned();
        let shutdown = |c: Pin<&mut _>| auto::Connection::graceful_shutdown(c);
        // Boxed: the task is sized for HTTP/1.1, whose parked state is small.
        Box::pin(connection::drive(connection, shutdown, bounds)).await
    } else {
        parking::serve_http1(&builders.http1, stream, ahead, service, bounds)
            .await
            .map_err(Into::into)
    }
}

/// One request's answer in the making.
pub(super) type ServiceFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<http::Response<crate::body::ResponseBody>, Infallible>,
            > + Send,
    >,
>;

/// What answers the requests of one connection (one clone per hyper
/// connection: a parked HTTP/1.1 connection gets a new one when it wakes).
pub(super) trait ConnectionService:
    hyper::service::Service<
        Request<Incoming>,
        Response = http::Response<crate::body::ResponseBody>,
        Error = Infallible,
        Future = ServiceFuture,
    > + Clone
    + Unpin
    + Send
    + 'static
{
}

impl<S> ConnectionService for S where
    S: hyper::service::Service<
            Request<Incoming>,
            Response = http::Response<crate::body::ResponseBody>,
            Error = Infallible,
            Future = ServiceFuture,
        > + Clone
        + Unpin
        + Send
        + 'static
{
}

/// The service answering every request of one connection.
fn service(
    gateway: Arc<Gateway>,
    conn: Arc<ConnectionInfo>,
    activity: Arc<Activity>,
) -> impl ConnectionService {
    service_fn(move |request: Request<Incoming>| {
        let gateway = gateway.clone();
        let conn = conn.clone();
        let in_flight = activity.request();
        // Boxed: hyper keeps room for one request's future for as long as
        // the connection lives; a box makes that room a pointer, and the
        // request's state exists only while a request is in flight.
        let future: ServiceFuture = Box::pin(async move {
            let _in_flight = in_flight;
            let timeout = gateway.body_read_timeout();
            let request =
                request.map(|body| RequestBody::Streaming(ClientBody::new(body, timeout)));
            Ok::<_, Infallible>(handle(&gateway, request, &conn).await)
        });
        future
    })
}

/// Completes a TLS handshake with the configuration its SNI selects;
/// `None` (logged at debug) if the client goes away, times out or is
/// refused (no SNI where one is required, a client certificate that does
/// not verify).
async fn handshake(
    stream: tokio::net::TcpStream,
    tls: &crate::tls::ServerTls,
) -> Option<(
    tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    crate::proxy::TlsInfo,
)> {
    let started = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let acceptor =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        let start = acceptor.await.map_err(|e| e.to_string())?;
        let hello = start.client_hello();
        let sni = hello.server_name().map(str::to_ascii_lowercase);
        let Some(selected) = tls.select(&hello) else {
            return Err("no SNI, and the listener refuses handshakes without one".to_owned());
        };
        let stream = start
            .into_stream(selected.config)
            .await
            .map_err(|e| e.to_string())?;
        Ok((stream, sni, selected.domain))
    })
    .await;
    let (stream, sni, domain) = match started {
        Ok(Ok(done)) => done,
        Ok(Err(why)) => {
            tracing::debug!(%why, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return None;
        }
    };
    let session = stream.get_ref().1;
    let client_cert = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(crate::tls::ClientCert::from_der)
        .map(Arc::new);
    let info = crate::proxy::TlsInfo {
        sni,
        domain,
        client_cert,
        version: match session.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLS",
        },
    };
    Some((stream, info))
}
