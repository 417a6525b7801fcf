//! The body of a request on its way to an upstream (or a function): the
//! client's body streamed through, or bytes a phase buffered, cut off once
//! it passes the body limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::util::BoxError;
use crate::util::drain::drain_in_background;

/// The downstream body grew past the configured limit while being forwarded.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the limit of {limit} bytes")]
pub struct BodyTooLarge {
    /// The limit in bytes.
    pub limit: u64,
}

/// The downstream connection failed (or stalled) while its body was being
/// forwarded.
#[derive(Debug, thiserror::Error)]
#[error("reading the request body failed: {0}")]
pub struct DownstreamBodyError(#[source] pub ClientBodyError);

/// The downstream request body on its way upstream, cut off with
/// [`BodyTooLarge`] once it passes the limit (for bodies without a
/// `Content-Length`, or whose length lies). The rest of an oversized body is
/// drained, not dropped, so that the client still reads the 413.
pub struct ForwardedBody {
    inner: Option<ClientBody>,
    buffered: Option<Bytes>,
    remaining: u64,
    limit: u64,
}

impl ForwardedBody {
    /// The client's body still streaming, allowing at most `limit` bytes.
    pub fn streaming(body: ClientBody, limit: u64) -> ForwardedBody {
        ForwardedBody {
            inner: Some(body),
            buffered: None,
            remaining: limit,
            limit,
        }
    }

    /// A body already held in memory.
    pub fn buffered(bytes: Bytes) -> ForwardedBody {
        ForwardedBody {
            inner: None,
            remaining: bytes.len() as u64,
            limit: bytes.len() as u64,
            buffered: (!bytes.is_empty()).then_some(bytes),
        }
    }

    /// No body.
    pub fn empty() -> ForwardedBody {
        ForwardedBody::buffered(Bytes::new())
    }
}

impl Body for ForwardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(bytes) = this.buffered.take() {
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        if let Some(rest) = this.inner.take() {
                            drain_in_background(rest);
                        }
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge {
                            limit: this.limit,
                        }))));
                    }
                    this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(DownstreamBodyError(e))))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.buffered.is_none() && self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.buffered, &self.inner) {
            (Some(bytes), _) => SizeHint::with_exact(bytes.len() as u64),
            (None, Some(inner)) => inner.size_hint(),
            (None, None) => SizeHint::with_exact(0),
        }
    }
}

/// How reading the client's body failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientBodyError {
    /// The connection failed or the framing was wrong.
    #[error(transparent)]
    Read(#[from] hyper::Error),
    /// The HTTP/3 stream failed.
    #[error(transparent)]
    Http3(#[from] h3::error::StreamError),
    /// No byte arrived for `limits.body_read_timeout`: 408.
    #[error("no request body data for {0:?}")]
    TimedOut(std::time::Duration),
}

/// The receiving half of an HTTP/3 request stream.
pub type Http3RequestStream = h3::server::RequestStream<h3_quinn::RecvStream, Bytes>;

/// Where a client body comes from.
enum Source {
    /// HTTP/1.1 or HTTP/2, by hyper.
    Hyper(Incoming),
    /// HTTP/3: the stream, its declared length, and whether it ended.
    Http3 {
        stream: Box<Http3RequestStream>,
        declared: Option<u64>,
        ended: bool,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Hyper(body) => body.fmt(f),
            Source::Http3 { declared, .. } => f
                .debug_struct("Http3")
                .field("declared", declared)
                .finish_non_exhaustive(),
        }
    }
}

/// The client's request body as it arrives, failing with
/// [`ClientBodyError::TimedOut`] when the client stops sending for longer
/// than the body read timeout (a slow-body attack holds a connection and a
/// request's resources otherwise).
#[derive(Debug)]
pub struct ClientBody {
    inner: Source,
    timeout: std::time::Duration,
    /// Armed when a read found nothing; reset by the next frame. Boxed and
    /// created on first need: most bodies arrive without waiting.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

impl ClientBody {
    /// `inner`, timing out after `timeout` without data.
    pub fn new(inner: Incoming, timeout: std::time::Duration) -> ClientBody {
        ClientBody {
            inner: Source::Hyper(inner),
            timeout,
            sleep: None,
            armed: false,
        }
    }

    /// An HTTP/3 request's body: `declared` is its `Content-Length`, if
    /// any; a request without a body ends at once.
    pub fn http3(
        stream: Http3RequestStream,
        declared: Option<u64>,
        timeout: std::time::Duration,
    ) -> ClientBody {
        ClientBody {
            inner: Source::Http3 {
                stream: Box::new(stream),
                declared,
                ended: false,
            },
            timeout,
            sleep: None,
            armed: false,
        }
    }

    fn poll_source(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        match &mut self.inner {
            Source::Hyper(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(ClientBodyError::Read))),
            Source::Http3 { ended: true, .. } => Poll::Ready(None),
            Source::Http3 { stream, ended, .. } => match stream.poll_recv_data(cx) {
                Poll::Ready(Ok(Some(mut data))) => {
                    let bytes = data.copy_to_bytes(data.remaining());
                    Poll::Ready(Some(Ok(Frame::data(bytes))))
                }
                Poll::Ready(Ok(None)) => {
                    *ended = true;
                    Poll::Ready(None)
                }
                Poll::Ready(Err(e)) => {
                    *ended = true;
                    Poll::Ready(Some(Err(ClientBodyError::Http3(e))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        let this = &mut *self;
        match this.poll_source(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + this.timeout;
                let sleep = match &mut this.sleep {
                    Some(sleep) => {
                        if !this.armed {
                            sleep.as_mut().reset(deadline);
                        }
                        sleep
                    }
                    None => this
                        .sleep
                        .insert(Box::pin(tokio::time::sleep_until(deadline))),
                };
                this.armed = true;
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(ClientBodyError::TimedOut(this.timeout))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Source::Hyper(body) => body.is_end_stream(),
            Source::Http3 {
                ended, declared, ..
            } => *ended || *declared == Some(0),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Source::Hyper(body) => body.size_hint(),
            Source::Http3 {
                declared: Some(n), ..
            } => SizeHint::with_exact(*n),
            Source::Http3 { .. } => SizeHint::default(),
        }
    }
}
