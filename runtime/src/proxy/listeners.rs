//! Downstream listeners: plain TCP serving HTTP/1.1 and HTTP/2 (prior
//! knowledge) on the same port, or TLS serving the protocol ALPN chose; one
//! single-threaded runtime per worker, and graceful shutdown.
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
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::RequestBody;
use crate::config::{Config, Limits};
use crate::control::{Gateway, StartError};
use crate::proxy::{ConnectionInfo, handle};

/// How long a client may take to send request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to complete a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection builders: one that detects HTTP/2 by its preface (plain
/// listeners), and one per protocol for TLS connections, where ALPN chose.
struct Builders {
    auto: auto::Builder<TokioExecutor>,
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
}

/// A bound listener, not yet accepting.
pub struct BoundListener {
    /// The listener's name from config.
    pub name: String,
    /// The address actually bound (port 0 resolved).
    pub address: SocketAddr,
    socket: std::net::TcpListener,
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
        bound.push(BoundListener {
            name: listener.name.clone(),
            address,
            socket,
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
    let auto = connection_builder(limits);
    let builder = Arc::new(Builders {
        http1: auto.clone().http1_only(),
        http2: auto.clone().http2_only(),
        auto,
    });
    let mut threads = Vec::with_capacity(workers);
    for worker in 0..workers {
        let sockets = listeners
            .iter()
            .map(|l| Ok((l.name.clone(), l.socket.try_clone()?)))
            .collect::<std::io::Result<Vec<_>>>()?;
        let gateway = gateway.clone();
        let builder = builder.clone();
        let stop = stop.clone();
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
                runtime.block_on(serve_worker(gateway, sockets, builder, grace, stop));
            })?;
        threads.push(thread);
    }
    drop(listeners);
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}

async fn serve_worker(
    gateway: Arc<Gateway>,
    sockets: Vec<(String, std::net::TcpListener)>,
    builder: Arc<Builders>,
    grace: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
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
            accepts.push(accept_loop(
                index, name, listener, &gateway, &builder, &graceful,
            ));
        }
        futures_util::future::join_all(accepts).await;
    };
    // Idle instances of plugins that a reload or upload replaced are
    // released on this worker as soon as the plugin goes away.
    let releasing = tokio::spawn(crate::plugin::release_retired_instances());
    tokio::select! {
        _ = accepting => {}
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
    releasing.abort();
    // Closing the sockets here refuses new connections at once.
    drop(listeners);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?grace, "grace period over; closing the remaining connections");
    }
}

fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper answers 431 itself only past this buffer; below it the pipeline's
    // own check gives the JSON error with a request id.
    let buffer = limits.max_header_bytes.saturating_mul(2).max(16 * 1024);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(buffer)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(buffer).unwrap_or(u32::MAX));
    builder
}

async fn accept_loop(
    index: usize,
    name: &str,
    listener: &TcpListener,
    gateway: &Arc<Gateway>,
    builders: &Arc<Builders>,
    graceful: &GracefulShutdown,
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
        let _ = stream.set_nodelay(true);
        let tls = gateway.snapshot().tls.get(index).cloned().flatten();
        match tls {
            None => {
                let conn = Arc::new(ConnectionInfo::new(index, client, "http"));
                let connection = builders
                    .auto
                    .serve_connection(TokioIo::new(stream), service(gateway.clone(), conn))
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%client, error = %error, "connection ended with an error");
                    }
                });
            }
            Some(tls) => {
                let watcher = graceful.watcher();
                let (gateway, builders) = (gateway.clone(), builders.clone());
                tokio::spawn(async move {
                    let Some((stream, info)) = handshake(stream, &tls).await else {
                        return;
                    };
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let conn = Arc::new(ConnectionInfo::new(index, client, "https").with_tls(info));
                    let builder = if h2 { &builders.http2 } else { &builders.http1 };
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service(gateway, conn))
                        .into_owned();
                    if let Err(error) = watcher.watch(connection).await {
                        tracing::debug!(%client, error = %error, "connection ended with an error");
                    }
                });
            }
        }
    }
}

/// One request's answer in the making.
type ServiceFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<http::Response<crate::body::ResponseBody>, Infallible>,
            > + Send,
    >,
>;

/// The service answering every request of one connection.
fn service(
    gateway: Arc<Gateway>,
    conn: Arc<ConnectionInfo>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = http::Response<crate::body::ResponseBody>,
    Error = Infallible,
    Future = ServiceFuture,
> + Clone
+ Send
+ 'static {
    service_fn(move |request: Request<Incoming>| {
        let gateway = gateway.clone();
        let conn = conn.clone();
        // Boxed: hyper keeps room for one request's future for as long as
        // the connection lives; a box makes that room a pointer, and the
        // request's state exists only while a request is in flight.
        let future: ServiceFuture = Box::pin(async move {
            let request = request.map(RequestBody::Streaming);
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
