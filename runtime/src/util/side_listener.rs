//! The listeners beside the gateway's own — the admin API and the
//! developer portal: bound non-blocking, served on a thread of their own
//! by a small current-thread runtime, HTTP/1.1 and h2c, until told to stop.
//! They keep answering while the workers drain.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::watch;

/// Binds a listener at `address`.
pub fn bind(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `listener` with `handle` (each request with its client's address)
/// on thread `thread`, until `stop` turns true. `what` names it in logs.
pub fn spawn<H, F>(
    thread: &str,
    what: &'static str,
    listener: std::net::TcpListener,
    mut stop: watch::Receiver<bool>,
    handle: H,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let handle = Arc::new(handle);
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(error) => {
                    tracing::error!(%error, "cannot start {what}");
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(error) => {
                        tracing::error!(%error, "cannot start {what}");
                        return;
                    }
                };
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        accepted = listener.accept() => {
                            let Ok((stream, peer)) = accepted else { continue };
                            let handle = handle.clone();
                            tokio::spawn(async move {
                                let service = service_fn(move |request| {
                                    let answer = handle(request, peer);
                                    async move { Ok::<_, Infallible>(answer.await) }
                                });
                                let _ = auto::Builder::new(TokioExecutor::new())
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        })
}
