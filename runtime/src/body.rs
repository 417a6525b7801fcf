//! Body types of the request path: the downstream request body as the
//! phases hold it, and what the gateway sends downstream (its own bytes, an
//! upstream's stream giving its connection back to the pool at the end, or a
//! function's stream).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use crate::upstream::{self, ForwardedBody, PooledConnection};
pub use crate::upstream::{ClientBody, ClientBodyError};
use crate::util::BoxError;

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
        Resumed { head: Option<Bytes>, tail: Box<Tail> },
    }
}

/// What follows the bytes already read of a [`ResponseBody::resumed`] body.
enum Tail {
    /// The rest of the original body.
    Body(Pin<Box<ResponseBody>>),
    /// The original body's trailers, then its end.
    Trailers(Option<http::HeaderMap>),
    /// The error that broke the original body off.
    Error(Option<BoxError>),
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

    /// `head` (bytes already read from `rest`), then the remainder of `rest`.
    pub fn resumed(head: Bytes, rest: ResponseBody) -> ResponseBody {
        ResponseBody::resume(head, Tail::Body(Box::pin(rest)))
    }

    /// `head`, then `trailers` (a body read to its trailers).
    pub fn resumed_with_trailers(head: Bytes, trailers: http::HeaderMap) -> ResponseBody {
        ResponseBody::resume(head, Tail::Trailers(Some(trailers)))
    }

    /// `head`, then `error` (a body that broke off after `head`).
    pub fn resumed_with_error(head: Bytes, error: BoxError) -> ResponseBody {
        ResponseBody::resume(head, Tail::Error(Some(error)))
    }

    fn resume(head: Bytes, tail: Tail) -> ResponseBody {
        ResponseBody {
            inner: Inner::Resumed {
                head: (!head.is_empty()).then_some(head),
                tail: Box::new(tail),
            },
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
            InnerProj::Resumed { head, tail } => {
                if let Some(head) = head.take() {
                    return Poll::Ready(Some(Ok(Frame::data(head))));
                }
                match &mut **tail {
                    Tail::Body(rest) => rest.as_mut().poll_frame(cx),
                    Tail::Trailers(trailers) => {
                        Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
                    }
                    Tail::Error(error) => Poll::Ready(error.take().map(Err)),
                }
            }
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
            Inner::Resumed { head, tail } => {
                head.is_none()
                    && match &**tail {
                        Tail::Body(rest) => rest.is_end_stream(),
                        Tail::Trailers(t) => t.is_none(),
                        Tail::Error(e) => e.is_none(),
                    }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Inner::Upstream { body } | Inner::Pooled { body, .. } => body.size_hint(),
            Inner::Wasi { body } => body.size_hint(),
            Inner::Resumed { head, tail } => {
                let head = head.as_ref().map_or(0, |h| h.len() as u64);
                match &**tail {
                    Tail::Body(rest) => {
                        let rest = rest.size_hint();
                        let mut hint = SizeHint::new();
                        hint.set_lower(rest.lower() + head);
                        if let Some(upper) = rest.upper() {
                            hint.set_upper(upper + head);
                        }
                        hint
                    }
                    Tail::Trailers(_) => SizeHint::with_exact(head),
                    // Not exact: a length would make the broken-off body
                    // look complete to an HTTP/1.1 client.
                    Tail::Error(_) => {
                        let mut hint = SizeHint::new();
                        hint.set_lower(head);
                        hint
                    }
                }
            }
        }
    }
}

/// A request body: still streaming from the client, or held in memory (read
/// by a phase that needed it, rewritten by a mapper, or given by a caller
/// that drives the request path in-process).
#[derive(Debug)]
pub enum RequestBody {
    /// The client's body, not read yet.
    Streaming(ClientBody),
    /// A complete body held in memory.
    Buffered(Bytes),
}

impl RequestBody {
    /// The body as forwarded to an integration, cut off past `limit` bytes
    /// (`None`: no body).
    pub fn forward(body: Option<RequestBody>, limit: u64) -> ForwardedBody {
        match body {
            Some(RequestBody::Streaming(client)) => ForwardedBody::streaming(client, limit),
            Some(RequestBody::Buffered(bytes)) => ForwardedBody::buffered(bytes),
            None => ForwardedBody::empty(),
        }
    }
}
