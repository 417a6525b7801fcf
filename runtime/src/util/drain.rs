//! Reading and discarding a request body the gateway answered without.

use std::time::Duration;

use http_body::Body;
use http_body_util::BodyExt;

/// How long a request body the gateway did not need may keep arriving.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads and discards the rest of a request body in the background.
///
/// When the gateway answers before reading the whole request body (an error,
/// a mock, a body over the limit), closing the connection at once would make
/// the kernel reset it while the client is still sending, and the client
/// would lose the response. Draining for a bounded time, as nginx's lingering
/// close does, lets the response arrive and often keeps the connection alive.
pub fn drain_in_background<B>(body: B)
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
{
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
