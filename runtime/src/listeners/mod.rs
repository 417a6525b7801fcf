//! Downstream listeners: plain TCP serving HTTP/1.1 and HTTP/2 (prior
//! knowledge) on the same port, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
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

use crate::config::{Config, Limits};
use crate::gateway::{Gateway, StartError};
use crate::pipeline::{self, ConnectionInfo};

/// How long a client may take to send request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound listener, not yet accepting.
pub struct BoundListener {
    /// The listener's name from config.
    pub name: String,
    /// The address actually bound (port 0 resolved).
    pub address: SocketAddr,
    socket: TcpListener,
}

/// Binds every configured listener; fails on the first that cannot be bound.
pub async fn bind(config: &Config) -> Result<Vec<BoundListener>, StartError> {
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
        let socket = TcpListener::bind(listener.address)
            .await
            .map_err(bind_error)?;
        let address = socket.local_addr().map_err(bind_error)?;
        bound.push(BoundListener {
            name: listener.name.clone(),
            address,
            socket,
        });
    }
    Ok(bound)
}

/// Serves until `shutdown` resolves, then stops accepting and gives
/// in-flight requests up to `grace` to finish.
pub async fn serve(
    gateway: Arc<Gateway>,
    listeners: Vec<BoundListener>,
    limits: &Limits,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Arc::new(connection_builder(limits));
    let graceful = Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accept_loops = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        accept_loops.push(tokio::spawn(accept_loop(
            index,
            listener,
            gateway.clone(),
            builder.clone(),
            graceful.clone(),
            stop_rx.clone(),
        )));
    }
    shutdown.await;
    tracing::info!(grace = ?grace, "shutting down: no new connections, finishing requests in flight");
    let _ = stop_tx.send(true);
    for accept in accept_loops {
        let _ = accept.await;
    }
    let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections finished"),
        Err(_) => {
            tracing::warn!(grace = ?grace, "grace period over; closing the remaining connections")
        }
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
    listener: BoundListener,
    gateway: Arc<Gateway>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: Arc<GracefulShutdown>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.socket.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (stream, client) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Usually EMFILE/ENFILE: back off instead of spinning.
                tracing::warn!(listener = %listener.name, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = ConnectionInfo {
            listener: index,
            client,
            scheme: "http",
        };
        let gateway = gateway.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(pipeline::handle(&gateway, request, conn).await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%client, error = %error, "connection ended with an error");
            }
        });
    }
}
