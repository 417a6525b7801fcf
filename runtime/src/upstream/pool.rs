//! The per-worker pool of HTTP/1.1 connections to upstream targets, plain
//! or TLS (keyed by scheme and authority).
//!
//! Every worker runs its own single-threaded runtime, so the pool is a
//! thread-local without a lock, and a response hands its connection back
//! ([`checkin`]) when its body ends.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

use super::ForwardedBody;

/// How long an idle upstream connection is kept for reuse.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per origin and worker thread.
const MAX_IDLE_PER_ORIGIN: usize = 256;

/// A pooled connection on loan to one request; handed back with [`checkin`]
/// once the response body has been read to the end.
pub struct PooledConnection {
    pub(super) sender: SendRequest<ForwardedBody>,
    pub(super) authority: Arc<str>,
}

struct Idle {
    sender: SendRequest<ForwardedBody>,
    since: Instant,
}

thread_local! {
    static IDLE: RefCell<HashMap<Arc<str>, Vec<Idle>>> = RefCell::new(HashMap::new());
}

/// An idle connection to `authority` on this thread, if one is usable.
pub(super) fn take_idle(authority: &Arc<str>) -> Option<SendRequest<ForwardedBody>> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let list = idle.get_mut(authority)?;
        while let Some(entry) = list.pop() {
            if !entry.sender.is_closed() && entry.since.elapsed() < POOL_IDLE_TIMEOUT {
                return Some(entry.sender);
            }
        }
        None
    })
}

/// Returns a connection to this thread's pool after its response ended.
pub fn checkin(connection: PooledConnection) {
    if connection.sender.is_closed() {
        return;
    }
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let list = idle.entry(connection.authority).or_default();
        let now = Instant::now();
        // The oldest connections sit at the front; drop the expired ones and
        // keep the list bounded.
        let expired = list
            .iter()
            .take_while(|e| now.duration_since(e.since) >= POOL_IDLE_TIMEOUT)
            .count();
        list.drain(..expired);
        if list.len() >= MAX_IDLE_PER_ORIGIN {
            list.remove(0);
        }
        list.push(Idle {
            sender: connection.sender,
            since: now,
        });
    });
}
