//! Body types of the request path: what the gateway sends downstream, and the
//! downstream body as forwarded upstream with the size limit enforced.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use crate::error::BoxError;
use crate::integrations::upstream::{self, PooledConnection};

pin_project! {
    /// A response body: fixed bytes from the gateway, or an upstream's body streamed through.
    pub struct ResponseBody {
        #[pin]
        inner: Inner,
    }
}

pin_project! {
    #[project = InnerProj]
    enum Inner {
        Full { data: Option<Bytes> },
        Upstream { #[pin] body: Incoming },
        Pooled { #[pin] body: Incoming, connection: Option<PooledConnection> },
        Wasi { #[pin] body: wasmtime_wasi_http::p2::body::HyperOutgoingBody },
    }
}

impl ResponseBody {
    /// A body of fixed bytes.
    pub fn full(data: impl Into<Bytes>) -> ResponseBody {
        let data: Bytes = data.into();
        ResponseBody {
            inner: Inner::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// No body.
    pub fn empty() -> ResponseBody {
        ResponseBody {
            inner: Inner::Full { data: None },
        }
    }

    /// An upstream's body, streamed through as it arrives.
    pub fn upstream(body: Incoming) -> ResponseBody {
        ResponseBody {
            inner: Inner::Upstream { body },
        }
    }

    /// A body a `wasi:http` component is writing.
    pub fn wasi(body: wasmtime_wasi_http::p2::body::HyperOutgoingBody) -> ResponseBody {
        ResponseBody {
            inner: Inner::Wasi { body },
        }
    }

    /// An upstream's body whose connection goes back to the pool once the
    /// body has been read to its end (and is closed if it never is).
    pub fn pooled(body: Incoming, connection: PooledConnection) -> ResponseBody {
        if body.is_end_stream() {
            upstream::checkin(connection);
            return ResponseBody::upstream(body);
        }
        ResponseBody {
            inner: Inner::Pooled {
                body,
                connection: Some(connection),
            },
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().inner.project() {
            InnerProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            InnerProj::Upstream { body } => body.poll_frame(cx).map_err(Into::into),
            InnerProj::Wasi { body } => body.poll_frame(cx).map_err(Into::into),
            InnerProj::Pooled {
                mut body,
                connection,
            } => {
                let polled = body.as_mut().poll_frame(cx);
                let finished = match &polled {
                    Poll::Ready(None) => true,
                    Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
                    Poll::Ready(Some(Err(_))) => {
                        // A broken body leaves the connection unusable.
                        connection.take();
                        false
                    }
                    Poll::Pending => false,
                };
                if finished && let Some(connection) = connection.take() {
                    upstream::checkin(connection);
                }
                polled.map_err(Into::into)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full { data } => data.is_none(),
            Inner::Upstream { body } | Inner::Pooled { body, .. } => body.is_end_stream(),
            Inner::Wasi { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Inner::Upstream { body } | Inner::Pooled { body, .. } => body.size_hint(),
            Inner::Wasi { body } => body.size_hint(),
        }
    }
}

/// The downstream body grew past the configured limit while being forwarded.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the limit of {limit} bytes")]
pub struct BodyTooLarge {
    /// The limit in bytes.
    pub limit: u64,
}

/// The downstream connection failed while its body was being forwarded.
#[derive(Debug, thiserror::Error)]
#[error("reading the request body failed: {0}")]
pub struct DownstreamBodyError(#[source] pub hyper::Error);

/// How long a request body the gateway did not need may keep arriving.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads and discards the rest of a request body in the background.
///
/// When the gateway answers before reading the whole request body (an error,
/// a mock, a body over the limit), closing the connection at once would make
/// the kernel reset it while the client is still sending, and the client
/// would lose the response. Draining for a bounded time, as nginx's lingering
/// close does, lets the response arrive and often keeps the connection alive.
pub fn drain_in_background(body: Incoming) {
    if body.is_end_stream() {
        return;
    }
    tokio::spawn(async move {
        let mut body = body;
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    });
}

/// A request body: still streaming from the client, or rewritten by a mapper.
#[derive(Debug)]
pub enum RequestBody {
    /// The client's body, not read yet.
    Streaming(Incoming),
    /// A complete body held in memory.
    Buffered(Bytes),
}

/// The downstream request body on its way upstream, cut off with
/// [`BodyTooLarge`] once it passes the limit (for bodies without a
/// `Content-Length`, or whose length lies). The rest of an oversized body is
/// drained, not dropped, so that the client still reads the 413.
pub struct LimitedBody {
    inner: Option<Incoming>,
    buffered: Option<Bytes>,
    remaining: u64,
    limit: u64,
}

impl LimitedBody {
    /// Wraps `body` (`None`: no body), allowing at most `limit` bytes.
    pub fn new(body: Option<RequestBody>, limit: u64) -> LimitedBody {
        let (inner, buffered) = match body {
            Some(RequestBody::Streaming(incoming)) => (Some(incoming), None),
            Some(RequestBody::Buffered(bytes)) => (None, (!bytes.is_empty()).then_some(bytes)),
            None => (None, None),
        };
        LimitedBody {
            inner,
            buffered,
            remaining: limit,
            limit,
        }
    }
}

impl Body for LimitedBody {
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
