//! One downstream connection's life after it is accepted: the listener's
//! connection limit, the idle timeout, and graceful shutdown.
//!
//! - **Limit**: `max_connections` of a listener counts its open
//!   connections across every worker; past it, a new connection is refused
//!   at once — on a plain listener with a `503` and `Connection: close`
//!   written first (what an HTTP/1 client can show), on a TLS listener by
//!   closing it before the handshake (no CPU spent on a refused client).
//! - **Idle**: a connection with no request in flight for
//!   `limits.idle_timeout` is shut down gracefully (HTTP/1.1 closes,
//!   HTTP/2 sends GOAWAY), whatever the protocol; an HTTP/1.1 one is
//!   parked well before that (`proxy::parking`).
//! - **Shutdown**: on stop every connection is asked to finish its requests
//!   and close; the worker waits for all of them (up to the grace period).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use crate::util::time::monotonic_nanos;

/// Requests in flight on one connection and when the last one ended.
#[derive(Debug, Default)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// Reads that brought bytes (HTTP/1.1 connections count them: a
    /// client in the middle of sending a request is not idle).
    reads: AtomicU64,
    /// `monotonic_nanos` when the connection last had nothing in flight.
    idle_since: AtomicU64,
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            reads: AtomicU64::new(0),
            idle_since: AtomicU64::new(monotonic_nanos()),
        })
    }

    /// Counts a request until the returned guard drops.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Counts a read that brought bytes.
    pub fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads that brought bytes so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// How long nothing has been in flight, or `None` while a request is.
    pub fn idle_for(&self) -> Option<Duration> {
        self.idle_since()
            .map(|since| Duration::from_nanos(monotonic_nanos().saturating_sub(since)))
    }

    /// Since when nothing is in flight, or `None` while a request is.
    fn idle_since(&self) -> Option<u64> {
        (self.in_flight.load(Ordering::Relaxed) == 0)
            .then(|| self.idle_since.load(Ordering::Relaxed))
    }
}

/// A request in flight on its connection.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .idle_since
            .store(monotonic_nanos(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What bounds one connection's life: its activity, the idle timeout, the
/// worker's closing signal, and its place in the listener's count (held
/// until the connection ends).
pub struct Bounds {
    /// Requests in flight and bytes read.
    pub activity: Arc<Activity>,
    /// `limits.idle_timeout`.
    pub idle: Duration,
    /// Changes when the worker stops.
    pub stop: watch::Receiver<()>,
    /// The listener's count of this connection.
    pub open: OpenConnection,
    /// Where a WebSocket upgrade leaves the connection it accepted.
    pub upgrade: Option<Arc<crate::proxy::websocket::UpgradeSlot>>,
}

/// Drives `connection` to its end, shutting it down gracefully (with
/// `shutdown`) once it has been idle for `bounds.idle`, or when the worker
/// stops.
pub async fn drive<C, E>(
    connection: C,
    shutdown: impl Fn(Pin<&mut C>),
    bounds: Bounds,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let Bounds {
        activity,
        idle,
        mut stop,
        open: _open,
        upgrade: _,
    } = bounds;
    let mut connection = pin!(connection);
    let idle_nanos = u64::try_from(idle.as_nanos()).unwrap_or(u64::MAX);
    let timer = tokio::time::sleep(idle);
    let mut timer = pin!(timer);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = connection.as_mut() => return ended,
            _ = stop.changed(), if !closing => {
                shutdown(connection.as_mut());
                closing = true;
            }
            () = timer.as_mut(), if !closing => {
                let now = monotonic_nanos();
                match activity.idle_since() {
                    Some(since) if now.saturating_sub(since) >= idle_nanos => {
                        shutdown(connection.as_mut());
                        closing = true;
                    }
                    // Not idle long enough yet: look again when it would be.
                    Some(since) => {
                        let left = idle_nanos - now.saturating_sub(since);
                        timer.as_mut().reset(tokio::time::Instant::now() + Duration::from_nanos(left));
                    }
                    None => timer.as_mut().reset(tokio::time::Instant::now() + idle),
                }
            }
        }
    }
}

/// The open connections of every listener, all workers together.
#[derive(Debug)]
pub struct ConnectionCounts {
    open: Vec<Arc<AtomicUsize>>,
    /// When a refusal was last logged, per listener (`monotonic_nanos`).
    warned: Vec<AtomicU64>,
}

impl ConnectionCounts {
    /// Counts for `listeners` listeners.
    pub fn new(listeners: usize) -> ConnectionCounts {
        ConnectionCounts {
            open: (0..listeners).map(|_| Arc::default()).collect(),
            warned: (0..listeners).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts a new connection on `listener`, unless `max` are open.
    pub fn open(&self, listener: usize, max: Option<usize>) -> Option<OpenConnection> {
        let count = &self.open[listener];
        let before = count.fetch_add(1, Ordering::Relaxed);
        if max.is_some_and(|max| before >= max) {
            count.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(OpenConnection(count.clone()))
    }

    /// Whether a refusal on `listener` should be logged: at most once a
    /// second, so a flood does not flood the log too.
    pub fn should_warn(&self, listener: usize) -> bool {
        let now = monotonic_nanos();
        let last = self.warned[listener].load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= 1_000_000_000)
            && self.warned[listener]
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// One counted connection; uncounted when dropped.
#[derive(Debug)]
pub struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a plain listener writes to a connection over its limit.
const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
content-length: 33\r\n\
retry-after: 1\r\n\
connection: close\r\n\
\r\n\
{\"message\":\"Service Unavailable\"}";

/// Refuses a plain connection over the limit: the 503, then close (a
/// client that reads nothing within a second just loses the answer).
pub async fn refuse(mut stream: tokio::net::TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(OVERLOADED).await?;
        stream.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_response() {
        let text = std::str::from_utf8(OVERLOADED).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).expect("json")["message"],
            "Service Unavailable"
        );
    }

    #[test]
    fn the_count_refuses_past_the_maximum_and_frees_on_drop() {
        let counts = ConnectionCounts::new(1);
        let a = counts.open(0, Some(2)).expect("first");
        let _b = counts.open(0, Some(2)).expect("second");
        assert!(counts.open(0, Some(2)).is_none());
        drop(a);
        assert!(counts.open(0, Some(2)).is_some());
        assert!(counts.open(0, None).is_some());
    }
}
