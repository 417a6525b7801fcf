//! The fleet's state in Redis, and the calls that read and change it.
//!
//! ```text
//! NAME:cluster:seq           the number of the last committed change
//! NAME:cluster:log           a stream: change N has id N-1, its records in `change`
//! NAME:cluster:records       a hash: every shared record, by path
//! NAME:cluster:blob:SHA256   a hash: a component in chunks (`n` chunks, `0`..)
//! NAME:cluster:writer        the lease of the node writing now
//! NAME:cluster:nodes         a set of node ids; NAME:cluster:node:ID its last heartbeat
//! ```
//!
//! A change is committed by one Lua script that checks `seq` is still the
//! number the writer caught up to, adds the log entry, updates the records
//! and moves `seq`: two writers can never both commit on the same state.
//! Calls run on a small runtime of the cluster's own, so that they can be
//! made from any thread, async or not.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use sha2::{Digest, Sha256};

use super::records::Change;
use crate::config::ClusterConfig;

/// Why a cluster call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// Redis cannot be reached or did not answer in time.
    #[error("the cluster store (Redis) is unavailable: {0}")]
    Unavailable(String),
    /// Another change was committed first.
    #[error("{0}")]
    Conflict(String),
    /// What Redis holds is not what a node wrote (a blob whose digest does
    /// not match, a record that does not parse).
    #[error("the cluster store holds invalid state: {0}")]
    Invalid(String),
}

/// Checks the writer caught up with the last change, then commits the
/// next one. `KEYS`: seq, log, records, then blobs to delete. `ARGV`: the
/// expected seq, the log's length, the change's JSON, then triples of
/// `put`/`del`, path, text. Returns the new seq, or `-1 - seq` when `seq`
/// was not the expected one.
const COMMIT_SCRIPT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return -1 - current end
local next = current + 1
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], next .. '-1', 'change', ARGV[3])
local i = 4
while i <= #ARGV do
  if ARGV[i] == 'put' then
    redis.call('HSET', KEYS[3], ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('HDEL', KEYS[3], ARGV[i + 1])
  end
  i = i + 3
end
for k = 4, #KEYS do redis.call('DEL', KEYS[k]) end
redis.call('SET', KEYS[1], next)
return next
";

/// The whole state at one moment: `{seq, {path, text, ...}}`.
const STATE_SCRIPT: &str = r"
return {redis.call('GET', KEYS[1]) or '0', redis.call('HGETALL', KEYS[2])}
";

/// Deletes the lease only if this writer still holds it.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Components are stored in chunks of this size, so that no single Redis
/// value (or reply) is large.
const BLOB_CHUNK: usize = 4 * 1024 * 1024;
/// How long a writer's lease lasts if the writer dies holding it.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How long a writer waits for another's lease.
const LEASE_WAIT: Duration = Duration::from_secs(20);
/// How often a lost connection is retried.
const RECONNECT_EVERY: Duration = Duration::from_millis(500);

/// The Redis keys of one fleet.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    fn new(name: &str) -> Keys {
        Keys {
            prefix: format!("{name}:cluster:"),
        }
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// The pub/sub channel `@connections` calls are relayed on.
    pub fn relay_channel(&self) -> String {
        self.key("connections")
    }

    /// The pub/sub channel node `node` hears answers on.
    pub fn reply_channel(&self, node: &str) -> String {
        self.key(&format!("reply:{node}"))
    }
}

/// The connection to the fleet's Redis.
pub struct Shared {
    keys: Keys,
    client: redis::Client,
    timeout: Duration,
    log_length: u64,
    /// Taken out only on drop (a runtime may not be dropped in async code).
    runtime: Option<tokio::runtime::Runtime>,
    connection: ArcSwapOption<MultiplexedConnection>,
    connecting: tokio::sync::Mutex<Option<Instant>>,
    commit: redis::Script,
    state: redis::Script,
    release: redis::Script,
}

/// A writer's lease: while held, no other node commits.
#[derive(Debug)]
pub struct Lease {
    token: String,
}

impl Shared {
    /// A connection for `settings`, made on first use.
    pub fn new(settings: &ClusterConfig) -> Result<Arc<Shared>, String> {
        let client = settings
            .tls
            .client_for(&settings.url)
            .map_err(|e| format!("cluster.redis_url: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("turnpike-cluster")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the cluster client: {e}"))?;
        Ok(Arc::new(Shared {
            keys: Keys::new(&settings.name),
            client,
            timeout: settings.timeout,
            log_length: settings.log_length,
            runtime: Some(runtime),
            connection: ArcSwapOption::empty(),
            connecting: tokio::sync::Mutex::new(None),
            commit: redis::Script::new(COMMIT_SCRIPT),
            state: redis::Script::new(STATE_SCRIPT),
            release: redis::Script::new(RELEASE_SCRIPT),
        }))
    }

    /// The fleet's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The client, for connections of their own (pub/sub, blocking reads).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The cluster's runtime.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("runtime until drop").handle()
    }

    /// Runs `work` on the cluster's runtime and waits for it from any
    /// thread (a plain wait: works inside another runtime's task too).
    pub fn wait<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime().spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv()
            .expect("cluster runtime runs until the process ends")
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> ClusterError {
        ClusterError::Unavailable(e.to_string())
    }

    /// Whether a connection is open (last call succeeded).
    pub fn connected(&self) -> bool {
        self.connection.load().is_some()
    }

    async fn connection(&self) -> Result<MultiplexedConnection, ClusterError> {
        if let Some(connection) = self.connection.load_full() {
            return Ok((*connection).clone());
        }
        let mut last_attempt = self.connecting.lock().await;
        if let Some(connection) = self.connection.load_full() {
            return Ok((*connection).clone());
        }
        if last_attempt.is_some_and(|t| t.elapsed() < RECONNECT_EVERY) {
            return Err(self.unavailable("reconnecting"));
        }
        *last_attempt = Some(Instant::now());
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.unavailable(e))?;
        self.connection.store(Some(Arc::new(connection.clone())));
        Ok(connection)
    }

    /// Runs one command, forgetting the connection when it broke.
    async fn run<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, ClusterError> {
        let mut connection = self.connection().await?;
        let outcome = command.query_async::<T>(&mut connection).await;
        self.checked(outcome)
    }

    fn checked<T>(&self, outcome: redis::RedisResult<T>) -> Result<T, ClusterError> {
        outcome.map_err(|e| {
            if e.is_io_error()
                || e.is_connection_dropped()
                || e.is_unrecoverable_error()
                || e.is_timeout()
            {
                self.connection.store(None);
            }
            self.unavailable(e)
        })
    }

    /// The number of the last committed change.
    pub async fn head(&self) -> Result<u64, ClusterError> {
        let seq: Option<u64> = self
            .run(redis::cmd("GET").arg(self.keys.key("seq")))
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// The changes after `seq` still in the log, oldest first, with their
    /// numbers.
    pub async fn changes_after(&self, seq: u64) -> Result<Vec<(u64, Change)>, ClusterError> {
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .run(
                redis::cmd("XRANGE")
                    .arg(self.keys.key("log"))
                    .arg(format!("({seq}-1"))
                    .arg("+"),
            )
            .await?;
        entries
            .into_iter()
            .map(|(id, fields)| {
                let number = id
                    .split_once('-')
                    .and_then(|(n, _)| n.parse::<u64>().ok())
                    .ok_or_else(|| ClusterError::Invalid(format!("log entry id `{id}`")))?;
                let text = fields
                    .into_iter()
                    .find(|(name, _)| name == "change")
                    .map(|(_, text)| text)
                    .ok_or_else(|| ClusterError::Invalid(format!("log entry {id} is empty")))?;
                let change = serde_json::from_str(&text)
                    .map_err(|e| ClusterError::Invalid(format!("log entry {id}: {e}")))?;
                Ok((number, change))
            })
            .collect()
    }

    /// Every shared record and the change they are the state after, read
    /// in one step.
    pub async fn state(&self) -> Result<(u64, BTreeMap<String, String>), ClusterError> {
        let mut connection = self.connection().await?;
        let mut invocation = self.state.key(self.keys.key("seq"));
        invocation.key(self.keys.key("records"));
        let outcome = invocation
            .invoke_async::<(u64, Vec<(String, String)>)>(&mut connection)
            .await;
        let (seq, pairs) = self.checked(outcome)?;
        Ok((seq, pairs.into_iter().collect()))
    }

    /// Waits until a change after `seq` is in the log, at most `limit`, on
    /// a connection of its own (a blocking read would stall every other
    /// call on the shared one).
    pub async fn wait_for_change(
        &self,
        connection: &mut Option<MultiplexedConnection>,
        seq: u64,
        limit: Duration,
    ) -> Result<(), ClusterError> {
        if connection.is_none() {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(limit + self.timeout));
            *connection = Some(
                self.client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| self.unavailable(e))?,
            );
        }
        let Some(open) = connection.as_mut() else {
            return Err(self.unavailable("no connection"));
        };
        let outcome = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(limit.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.keys.key("log"))
            .arg(format!("{seq}-1"))
            .query_async::<redis::Value>(open)
            .await;
        if let Err(e) = outcome {
            *connection = None;
            return Err(self.unavailable(e));
        }
        Ok(())
    }

    /// Takes the writers' lease, waiting for another node's to end.
    pub async fn lease(&self, node: &str) -> Result<Lease, ClusterError> {
        let token = format!("{node}/{:016x}", fastrand::u64(..));
        let deadline = Instant::now() + LEASE_WAIT;
        loop {
            let taken: Option<String> = self
                .run(
                    redis::cmd("SET")
                        .arg(self.keys.key("writer"))
                        .arg(&token)
                        .arg("NX")
                        .arg("PX")
                        .arg(LEASE_TTL.as_millis() as u64),
                )
                .await?;
            if taken.is_some() {
                return Ok(Lease { token });
            }
            if Instant::now() > deadline {
                return Err(ClusterError::Conflict(format!(
                    "another node has been changing the cluster for over {LEASE_WAIT:?}; try again"
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Gives the lease back.
    pub async fn release(&self, lease: Lease) {
        let Ok(mut connection) = self.connection().await else {
            return;
        };
        let mut invocation = self.release.key(self.keys.key("writer"));
        invocation.arg(lease.token);
        let _ = invocation.invoke_async::<i64>(&mut connection).await;
    }

    /// Commits `change` on top of change `expected`; returns its number.
    /// `dropped_blobs` are components no record names any more.
    pub async fn commit(
        &self,
        expected: u64,
        change: &Change,
        dropped_blobs: &[String],
    ) -> Result<u64, ClusterError> {
        let mut connection = self.connection().await?;
        let mut invocation = self.commit.key(self.keys.key("seq"));
        invocation
            .key(self.keys.key("log"))
            .key(self.keys.key("records"));
        for sha256 in dropped_blobs {
            invocation.key(self.keys.key(&format!("blob:{sha256}")));
        }
        let text =
            serde_json::to_string(change).map_err(|e| ClusterError::Invalid(e.to_string()))?;
        invocation.arg(expected).arg(self.log_length).arg(text);
        for record in &change.records {
            match &record.content {
                Some(text) => invocation.arg("put").arg(&record.path).arg(text),
                None => invocation.arg("del").arg(&record.path).arg(""),
            };
        }
        let outcome = invocation.invoke_async::<i64>(&mut connection).await;
        let seq = self.checked(outcome)?;
        if seq < 0 {
            return Err(ClusterError::Conflict(format!(
                "change {} was committed by another node first; nothing changed, try again",
                -1 - seq
            )));
        }
        Ok(seq as u64)
    }

    /// Whether component `sha256` is stored whole.
    pub async fn has_blob(&self, sha256: &str) -> Result<bool, ClusterError> {
        self.run(
            redis::cmd("HEXISTS")
                .arg(self.keys.key(&format!("blob:{sha256}")))
                .arg("n"),
        )
        .await
    }

    /// Stores a component in chunks; the chunk count last, so that a
    /// reader never sees part of it.
    pub async fn put_blob(&self, sha256: &str, bytes: &[u8]) -> Result<(), ClusterError> {
        let key = self.keys.key(&format!("blob:{sha256}"));
        let chunks: Vec<&[u8]> = bytes.chunks(BLOB_CHUNK).collect();
        for (index, chunk) in chunks.iter().enumerate() {
            let () = self
                .run(redis::cmd("HSET").arg(&key).arg(index).arg(*chunk))
                .await?;
        }
        let () = self
            .run(redis::cmd("HSET").arg(&key).arg("n").arg(chunks.len()))
            .await?;
        Ok(())
    }

    /// Reads a component and checks its digest.
    pub async fn blob(&self, sha256: &str) -> Result<Vec<u8>, ClusterError> {
        let key = self.keys.key(&format!("blob:{sha256}"));
        let count: Option<usize> = self.run(redis::cmd("HGET").arg(&key).arg("n")).await?;
        let Some(count) = count else {
            return Err(ClusterError::Invalid(format!(
                "component {sha256} is not in the cluster store"
            )));
        };
        let mut bytes = Vec::new();
        for index in 0..count {
            let chunk: Option<Vec<u8>> = self.run(redis::cmd("HGET").arg(&key).arg(index)).await?;
            bytes.extend(chunk.ok_or_else(|| {
                ClusterError::Invalid(format!("component {sha256} misses chunk {index}"))
            })?);
        }
        let digest = hex::encode(Sha256::digest(&bytes));
        if digest != sha256 {
            return Err(ClusterError::Invalid(format!(
                "component {sha256} has the digest {digest}: refused"
            )));
        }
        Ok(bytes)
    }

    /// Records this node's heartbeat, valid for `ttl`.
    pub async fn heartbeat(
        &self,
        node: &str,
        status: &str,
        ttl: Duration,
    ) -> Result<(), ClusterError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.keys.key(&format!("node:{node}")))
            .arg(status)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .ignore()
            .cmd("SADD")
            .arg(self.keys.key("nodes"))
            .arg(node)
            .ignore();
        let mut connection = self.connection().await?;
        let outcome = pipe.query_async::<()>(&mut connection).await;
        self.checked(outcome)
    }

    /// Removes this node's heartbeat (it is shutting down).
    pub async fn leave(&self, node: &str) {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL")
            .arg(self.keys.key(&format!("node:{node}")))
            .ignore()
            .cmd("SREM")
            .arg(self.keys.key("nodes"))
            .arg(node)
            .ignore();
        if let Ok(mut connection) = self.connection().await {
            let _ = pipe.query_async::<()>(&mut connection).await;
        }
    }

    /// The last heartbeat of every live node; nodes whose heartbeat
    /// expired are taken out of the set.
    pub async fn nodes(&self) -> Result<Vec<String>, ClusterError> {
        let ids: Vec<String> = self
            .run(redis::cmd("SMEMBERS").arg(self.keys.key("nodes")))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut get = redis::cmd("MGET");
        for id in &ids {
            get.arg(self.keys.key(&format!("node:{id}")));
        }
        let statuses: Vec<Option<String>> = self.run(&get).await?;
        let mut live = Vec::new();
        for (id, status) in ids.iter().zip(statuses) {
            match status {
                Some(status) => live.push(status),
                None => {
                    let _: Result<i64, _> = self
                        .run(redis::cmd("SREM").arg(self.keys.key("nodes")).arg(id))
                        .await;
                }
            }
        }
        Ok(live)
    }

    /// Publishes `message` on `channel`; how many subscribers heard it.
    pub async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64, ClusterError> {
        self.run(redis::cmd("PUBLISH").arg(channel).arg(message))
            .await
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
