//! HTTP/1.1 connections that hold no buffers while they sit idle.
//!
//! hyper keeps an HTTP/1 connection's read and write buffers (8 KiB each,
//! its minimum) for the connection's whole life, and with its task and
//! timers an idle keep-alive connection cost about 33 KB. An edge gateway
//! holds tens of thousands of them, so a connection idle for
//! [`PARK_AFTER`] is *parked*: hyper is asked to stop at a message
//! boundary, its state is dropped, and only the socket (with TLS, the
//! rustls session) waits for the client's next bytes. Then a new hyper
//! connection takes over, given back whatever the old one had read ahead.
//! The client sees one keep-alive connection throughout.
//!
//! A plain listener serves HTTP/1.1 and h2c on one port: [`sniff`] reads
//! just enough to tell the HTTP/2 preface from a request line, and
//! [`Rewind`] hands those bytes to whichever protocol it is.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::proxy::connection::{Activity, Bounds};
use crate::proxy::listeners::ConnectionService;

/// How long an HTTP/1.1 connection may sit idle before its hyper state is
/// dropped. Short: parking and resuming cost a few microseconds, holding
/// the buffers costs memory for as long as the client keeps the connection.
pub const PARK_AFTER: Duration = Duration::from_millis(500);

/// The client connection preface of HTTP/2 (RFC 9113 section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A stream hyper can be given back: it can say when the client has sent
/// something without reading it.
pub trait Parkable: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Ready once the peer has sent bytes, closed, or failed.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;
}

impl Parkable for TcpStream {
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        TcpStream::readable(self)
    }
}

impl Parkable for tokio_rustls::server::TlsStream<TcpStream> {
    // A parked TLS connection has no plaintext waiting in rustls: hyper
    // was idle, so its last read found none; new records arrive on the
    // socket.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.get_ref().0.readable()
    }
}

/// Reads until the bytes read either differ from the HTTP/2 preface or
/// are all of it. Returns whether it is HTTP/2 and the bytes read.
pub async fn sniff(stream: &mut TcpStream) -> io::Result<(bool, Bytes)> {
    let mut read = [0u8; PREFACE.len()];
    let mut len = 0;
    loop {
        let n = stream.read(&mut read[len..]).await?;
        len += n;
        if n == 0 || read[..len] != PREFACE[..len] {
            return Ok((false, Bytes::copy_from_slice(&read[..len])));
        }
        if len == PREFACE.len() {
            return Ok((true, Bytes::copy_from_slice(&read)));
        }
    }
}

/// A stream whose first bytes were already read: they are read again
/// before the rest.
pub struct Rewind<T> {
    ahead: Bytes,
    inner: T,
    /// Told of every read that brings bytes.
    activity: Option<Arc<Activity>>,
}

impl<T> Rewind<T> {
    /// `inner`, with `ahead` read first.
    pub fn new(inner: T, ahead: Bytes) -> Rewind<T> {
        Rewind {
            ahead,
            inner,
            activity: None,
        }
    }

    /// The same, counting reads in `activity`.
    fn counted(inner: T, ahead: Bytes, activity: &Arc<Activity>) -> Rewind<T> {
        Rewind {
            ahead,
            inner,
            activity: Some(activity.clone()),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = if this.ahead.is_empty() {
            Pin::new(&mut this.inner).poll_read(cx, buf)
        } else {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead[..n]);
            this.ahead.advance(n);
            Poll::Ready(Ok(()))
        };
        if buf.filled().len() > before
            && let Some(activity) = &this.activity
        {
            activity.read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What ended one hyper connection's turn.
enum Turn {
    /// The connection is over (the client closed, an HTTP/1.0 or
    /// `Connection: close` exchange ended, the gateway is stopping).
    Over,
    /// Idle for [`PARK_AFTER`]: wait for the client without hyper.
    Park,
}

/// Serves HTTP/1.1 on `io` (whose first bytes `ahead` were already read)
/// until the client or the gateway ends the connection: parked while idle
/// for [`PARK_AFTER`], closed once idle for `bounds.idle` or when the worker
/// stops.
pub async fn serve_http1<T, S>(
    builder: &http1::Builder,
    io: T,
    ahead: Bytes,
    service: S,
    bounds: Bounds,
) -> Result<(), hyper::Error>
where
    T: Parkable,
    S: ConnectionService,
{
    let Bounds {
        activity,
        idle,
        mut stop,
        open: _open,
        upgrade,
    } = bounds;
    let mut io = Rewind::counted(io, ahead, &activity);
    loop {
        // Boxed, so that a parked connection's task keeps a pointer to
        // hyper's state, not room for it.
        let mut connection = Box::new(builder.serve_connection(TokioIo::new(io), service.clone()));
        let turn = {
            let mut turn = Turn::Over;
            let mut asked = false;
            let check_every = PARK_AFTER.min(idle);
            let timer = tokio::time::sleep(check_every);
            tokio::pin!(timer);
            // Quiet: nothing in flight and no bytes read between two looks.
            let mut reads = activity.reads();
            loop {
                tokio::select! {
                    ended = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)) => {
                        ended?;
                        break;
                    }
                    _ = stop.changed(), if !asked => {
                        Pin::new(&mut *connection).graceful_shutdown();
                        asked = true;
                    }
                    () = timer.as_mut(), if !asked => {
                        let quiet = activity.reads() == reads;
                        reads = activity.reads();
                        match activity.idle_for() {
                            Some(for_) if for_ >= idle && quiet => {
                                Pin::new(&mut *connection).graceful_shutdown();
                                asked = true;
                            }
                            Some(for_) if for_ >= PARK_AFTER && quiet => {
                                // hyper stops at once between requests;
                                // after the response under way if one is
                                // still being written.
                                Pin::new(&mut *connection).graceful_shutdown();
                                asked = true;
                                turn = Turn::Park;
                            }
                            Some(for_) if quiet => {
                                let next = check_every.saturating_sub(for_).max(Duration::from_millis(10));
                                timer.as_mut().reset(tokio::time::Instant::now() + next);
                            }
                            _ => timer.as_mut().reset(tokio::time::Instant::now() + check_every),
                        }
                    }
                }
            }
            turn
        };
        let http1::Parts {
            io: parts_io,
            read_buf,
            service: _,
            ..
        } = crate::util::unbox(connection).into_parts();
        let rewind = parts_io.into_inner();
        let mut inner = rewind.inner;
        if let Some((accepted, gateway)) = upgrade.as_ref().and_then(|slot| slot.take()) {
            // hyper wrote the 101 and stopped: the socket (and what the
            // client sent after its request) is the WebSocket's now.
            // Copied (usually nothing): even empty, hyper's read buffer
            // would otherwise stay allocated for the connection's life.
            let ahead = Bytes::copy_from_slice(&joined(rewind.ahead, read_buf));
            let io = Rewind::new(inner, ahead);
            Box::pin(crate::proxy::websocket::session::run(
                io, accepted, gateway, stop,
            ))
            .await;
            return Ok(());
        }
        if matches!(turn, Turn::Over) {
            let _ = tokio::time::timeout(Duration::from_secs(1), inner.shutdown()).await;
            return Ok(());
        }
        if !read_buf.is_empty() || !rewind.ahead.is_empty() {
            // Bytes arrived as it stopped: serve them at once.
            io = Rewind::counted(inner, joined(rewind.ahead, read_buf), &activity);
            continue;
        }
        // Even empty, either may share a whole read buffer of hyper's:
        // dropped here, or the parked connection would keep it.
        drop((read_buf, rewind.ahead));
        let waited = activity.idle_for().unwrap_or_default();
        tokio::select! {
            ready = inner.readable() => {
                if ready.is_err() {
                    return Ok(());
                }
            }
            () = tokio::time::sleep(idle.saturating_sub(waited)) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), inner.shutdown()).await;
                return Ok(());
            }
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), inner.shutdown()).await;
                return Ok(());
            }
        }
        io = Rewind::counted(inner, Bytes::new(), &activity);
    }
}

/// `first` then `second`, copying only when both have bytes.
fn joined(first: Bytes, second: Bytes) -> Bytes {
    match (first.is_empty(), second.is_empty()) {
        (true, _) => second,
        (_, true) => first,
        _ => {
            let mut both = BytesMut::with_capacity(first.len() + second.len());
            both.extend_from_slice(&first);
            both.extend_from_slice(&second);
            both.freeze()
        }
    }
}
