//! The body of a request on its way to an upstream (or a function): the
//! client's body streamed through, or bytes a phase buffered, cut off once
//! it passes the body limit.

use std::pin::Pin;
use std::task::{Context, Poll};

use crate::body::{ClientBody, ClientBodyError};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

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
