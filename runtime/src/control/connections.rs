//! The open WebSocket connections of every worker, by connection id: what
//! the `@connections` API reads, pushes to and closes. A connection is
//! served on one worker thread; everything else reaches it through its
//! [`ConnectionHandle`]: a queue of messages bounded in bytes (a client
//! that does not read is closed as a slow reader instead of growing the
//! queue) and a request to close.
//!
//! Registration and removal take a lock on one of [`SHARDS`] maps, once
//! per connection; a message on an open connection takes none.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

/// Independent maps, so that connects on different workers rarely meet.
const SHARDS: usize = 16;

/// Close code for a connection the `@connections` API deleted (normal
/// closure, as API Gateway's `DeleteConnection`).
pub const CLOSE_DELETED: u16 = 1000;
/// Close code for a client that does not read what it is sent (policy
/// violation).
pub const CLOSE_SLOW_READER: u16 = 1008;

/// Every open WebSocket connection.
#[derive(Debug)]
pub struct Connections {
    shards: [Mutex<HashMap<Arc<str>, Arc<ConnectionHandle>>>; SHARDS],
    open: AtomicUsize,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            open: AtomicUsize::new(0),
        }
    }
}

/// Something for a connection's client, queued.
#[derive(Debug)]
pub enum Outbound {
    /// A text (`true`) or binary message.
    Message(Bytes, bool),
}

/// Why a message could not be queued for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The connection is closed or closing (API Gateway's 410 Gone).
    Gone,
    /// The client reads too slowly: the queue reached its bound, and the
    /// connection is being closed.
    SlowReader,
}

/// One open connection, as the rest of the gateway sees it.
#[derive(Debug)]
pub struct ConnectionHandle {
    /// The connection id.
    pub id: Arc<str>,
    /// The API it belongs to.
    pub api: String,
    /// The stage it connected to.
    pub stage: String,
    /// When the upgrade completed.
    pub connected_at: SystemTime,
    /// The client's address.
    pub source_ip: IpAddr,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// Milliseconds since the epoch of the last message either way.
    last_active: AtomicU64,
    queue: mpsc::UnboundedSender<Outbound>,
    /// Bytes queued and not yet written.
    queued: AtomicUsize,
    queue_limit: usize,
    /// Non-zero once a close was asked for: the close code.
    close_code: AtomicU16,
    closing: Notify,
}

/// What a new connection's handle is made of.
#[derive(Debug)]
pub struct NewConnection {
    /// The connection id.
    pub id: Arc<str>,
    /// The API.
    pub api: String,
    /// The stage.
    pub stage: String,
    /// The client's address.
    pub source_ip: IpAddr,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// Bytes that may wait for the client.
    pub queue_limit: usize,
}

impl ConnectionHandle {
    /// A handle, and the receiving end of its queue for the connection's
    /// task.
    pub fn new(new: NewConnection) -> (Arc<ConnectionHandle>, mpsc::UnboundedReceiver<Outbound>) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let now = SystemTime::now();
        let handle = ConnectionHandle {
            id: new.id,
            api: new.api,
            stage: new.stage,
            connected_at: now,
            source_ip: new.source_ip,
            user_agent: new.user_agent,
            last_active: AtomicU64::new(unix_millis(now)),
            queue,
            queued: AtomicUsize::new(0),
            queue_limit: new.queue_limit,
            close_code: AtomicU16::new(0),
            closing: Notify::new(),
        };
        (Arc::new(handle), receiver)
    }

    /// Queues a message for the client. Past the queue's bound the
    /// connection is closed as a slow reader.
    pub fn push(&self, data: Bytes, text: bool) -> Result<(), PushError> {
        if self.close_code.load(Ordering::Relaxed) != 0 {
            return Err(PushError::Gone);
        }
        let len = data.len();
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.queue_limit {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            self.close(CLOSE_SLOW_READER);
            return Err(PushError::SlowReader);
        }
        self.queue
            .send(Outbound::Message(data, text))
            .map_err(|_| PushError::Gone)
    }

    /// Called by the connection's task for each queued message it wrote.
    pub fn written(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::AcqRel);
    }

    /// Asks the connection to close with `code` (the first code asked for
    /// wins).
    pub fn close(&self, code: u16) {
        if self
            .close_code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.closing.notify_one();
        }
    }

    /// Whether a close was asked for (the connection is on its way out).
    pub fn is_closing(&self) -> bool {
        self.close_code.load(Ordering::Acquire) != 0
    }

    /// Resolves once a close is asked for; returns its code.
    pub async fn closed(&self) -> u16 {
        loop {
            let code = self.close_code.load(Ordering::Acquire);
            if code != 0 {
                return code;
            }
            self.closing.notified().await;
        }
    }

    /// Records activity now.
    pub fn touch(&self) {
        self.last_active
            .store(unix_millis(SystemTime::now()), Ordering::Relaxed);
    }

    /// When the connection last carried a message.
    pub fn last_active(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + std::time::Duration::from_millis(self.last_active.load(Ordering::Relaxed))
    }
}

fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Connections {
    fn shard(&self, id: &str) -> &Mutex<HashMap<Arc<str>, Arc<ConnectionHandle>>> {
        // Ids are random: their last byte spreads them well enough.
        let at = id.as_bytes().last().copied().unwrap_or(0) as usize % SHARDS;
        &self.shards[at]
    }

    /// Adds an open connection; it stays until the returned guard drops.
    pub fn register(self: &Arc<Self>, handle: Arc<ConnectionHandle>) -> Registered {
        let id = handle.id.clone();
        lock(self.shard(&id)).insert(id.clone(), handle);
        self.open.fetch_add(1, Ordering::Relaxed);
        Registered {
            connections: self.clone(),
            id,
        }
    }

    /// The open connection `id`.
    pub fn get(&self, id: &str) -> Option<Arc<ConnectionHandle>> {
        lock(self.shard(id)).get(id).cloned()
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding it; a poisoned map is still consistent.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A registered connection; removed from the registry when dropped.
#[derive(Debug)]
pub struct Registered {
    connections: Arc<Connections>,
    id: Arc<str>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if lock(self.connections.shard(&self.id))
            .remove(&self.id)
            .is_some()
        {
            self.connections.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A new connection id: 16 random letters and digits (about 95 bits), as
/// long as API Gateway's, and safe as a URL path segment and a command-line
/// argument as they are.
pub fn new_connection_id() -> Arc<str> {
    (0..16)
        .map(|_| fastrand::alphanumeric())
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(limit: usize) -> (Arc<ConnectionHandle>, mpsc::UnboundedReceiver<Outbound>) {
        ConnectionHandle::new(NewConnection {
            id: new_connection_id(),
            api: "chat".into(),
            stage: "prod".into(),
            source_ip: IpAddr::from([127, 0, 0, 1]),
            user_agent: None,
            queue_limit: limit,
        })
    }

    #[test]
    fn a_full_queue_closes_the_connection_as_a_slow_reader() {
        let (h, mut rx) = handle(10);
        assert_eq!(h.push(Bytes::from_static(b"123456"), true), Ok(()));
        assert_eq!(
            h.push(Bytes::from_static(b"123456"), true),
            Err(PushError::SlowReader)
        );
        assert_eq!(h.push(Bytes::from_static(b"1"), true), Err(PushError::Gone));
        assert!(rx.try_recv().is_ok());
        assert_eq!(h.close_code.load(Ordering::Relaxed), CLOSE_SLOW_READER);
    }

    #[test]
    fn one_message_larger_than_the_queue_still_goes_to_an_empty_queue() {
        let (h, _rx) = handle(4);
        assert_eq!(h.push(Bytes::from_static(b"123456"), false), Ok(()));
        h.written(6);
        assert_eq!(h.push(Bytes::from_static(b"123456"), false), Ok(()));
    }

    #[test]
    fn registration_ends_with_its_guard() {
        let connections = Arc::new(Connections::default());
        let (h, _rx) = handle(10);
        let id = h.id.clone();
        let guard = connections.register(h);
        assert!(connections.get(&id).is_some());
        assert_eq!(connections.open(), 1);
        drop(guard);
        assert!(connections.get(&id).is_none());
        assert_eq!(connections.open(), 0);
        assert_eq!(new_connection_id().len(), 16);
    }
}
