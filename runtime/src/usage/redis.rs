//! Rate limits and quotas shared by several gateway nodes, kept in Redis
//! (`[usage_store]`): one token bucket (GCRA, on Redis's clock) and one
//! quota counter per limit, each updated by one atomic Lua script per
//! request.
//!
//! The connection lives on a small runtime of its own, so that every
//! worker can use it; a lost connection is re-made at most once a second.
//! When Redis cannot answer within the timeout, the caller applies the
//! configured policy: admit (fail open, the default) or refuse (fail
//! closed), with a log line at most every few seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;

use crate::config::UsageStoreConfig;

/// Token bucket: `KEYS[1]` holds the next theoretical arrival time in
/// microseconds of Redis's clock. `ARGV[1]`: microseconds per token,
/// `ARGV[2]`: burst tolerance in microseconds. Returns 0, or the
/// microseconds until a token is there.
const BUCKET_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
if nxt - tolerance > now then return nxt - tolerance - now end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.floor((nxt - now) / 1000) + 1000)
return 0
";

/// Quota: counts one request in `KEYS[1]` unless it reached `ARGV[1]`;
/// the key expires `ARGV[2]` seconds after the period ends. Returns 1 when
/// counted, 0 when the quota is used up.
const QUOTA_SCRIPT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";

/// How often a lost connection is retried.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);
/// How often the same failure is logged.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// A connection to the Redis that holds shared limits.
pub struct RedisStore {
    settings: UsageStoreConfig,
    client: redis::Client,
    /// Taken out only on drop (a runtime may not be dropped in async code).
    runtime: Option<tokio::runtime::Runtime>,
    connection: ArcSwapOption<MultiplexedConnection>,
    connecting: tokio::sync::Mutex<Option<Instant>>,
    bucket: redis::Script,
    quota: redis::Script,
    started: Instant,
    last_logged_ms: AtomicU64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.settings.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `settings`; connects on first use.
    pub fn new(settings: UsageStoreConfig) -> Result<RedisStore, String> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| format!("usage_store.url: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("turnpike-redis")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the Redis client: {e}"))?;
        Ok(RedisStore {
            settings,
            client,
            runtime: Some(runtime),
            connection: ArcSwapOption::empty(),
            connecting: tokio::sync::Mutex::new(None),
            bucket: redis::Script::new(BUCKET_SCRIPT),
            quota: redis::Script::new(QUOTA_SCRIPT),
            started: Instant::now(),
            last_logged_ms: AtomicU64::new(0),
        })
    }

    /// Whether to admit requests when Redis cannot answer.
    pub fn fails_open(&self) -> bool {
        self.settings.fail_open
    }

    /// The Redis key for a limit named `id`.
    pub fn key(&self, id: &str) -> String {
        format!("{}:{id}", self.settings.key_prefix)
    }

    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        if let Some(connection) = self.connection.load_full() {
            return Ok((*connection).clone());
        }
        let mut last_attempt = self.connecting.lock().await;
        if let Some(connection) = self.connection.load_full() {
            return Ok((*connection).clone());
        }
        if last_attempt.is_some_and(|t| t.elapsed() < RECONNECT_EVERY) {
            return Err("Redis is unavailable (reconnecting)".into());
        }
        *last_attempt = Some(Instant::now());
        let client = self.client.clone();
        let timeout = self.settings.timeout.max(Duration::from_millis(500));
        // Made on the store's own runtime, which then drives it for every worker.
        let Some(runtime) = &self.runtime else {
            return Err("the Redis client is shutting down".into());
        };
        let connecting = runtime.spawn(async move {
            tokio::time::timeout(timeout, client.get_multiplexed_async_connection()).await
        });
        let connection = match connecting.await {
            Ok(Ok(Ok(connection))) => connection,
            Ok(Ok(Err(e))) => return Err(format!("cannot connect to Redis: {e}")),
            Ok(Err(_)) => return Err("cannot connect to Redis: timed out".into()),
            Err(e) => return Err(format!("cannot connect to Redis: {e}")),
        };
        tracing::info!("connected to Redis for shared rate limits and quotas");
        self.connection.store(Some(Arc::new(connection.clone())));
        Ok(connection)
    }

    async fn invoke(&self, script: &redis::Script, key: &str, args: &[i64]) -> Result<i64, String> {
        let mut connection = self.connection().await?;
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(*arg);
        }
        match tokio::time::timeout(
            self.settings.timeout,
            invocation.invoke_async::<i64>(&mut connection),
        )
        .await
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                    self.connection.store(None);
                }
                Err(format!("Redis: {e}"))
            }
            Err(_) => Err(format!(
                "Redis did not answer within {:?}",
                self.settings.timeout
            )),
        }
    }

    /// Takes a token from the shared bucket `key`; `Ok(Err(seconds))` when
    /// there is none, `Err` when Redis cannot say.
    pub async fn take_token(
        &self,
        key: &str,
        interval: Duration,
        tolerance: Duration,
    ) -> Result<Result<(), u64>, String> {
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let wait = self
            .invoke(&self.bucket, key, &[micros(interval), micros(tolerance)])
            .await?;
        if wait <= 0 {
            Ok(Ok(()))
        } else {
            Ok(Err((wait as u64).div_ceil(1_000_000).max(1)))
        }
    }

    /// Counts one request against the shared quota `key` of `limit`; the
    /// key expires `ttl` seconds from now. `Ok(false)` when used up.
    pub async fn count(&self, key: &str, limit: u64, ttl: u64) -> Result<bool, String> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ttl = i64::try_from(ttl).unwrap_or(i64::MAX).max(1);
        Ok(self.invoke(&self.quota, key, &[limit, ttl]).await? == 1)
    }

    /// Logs a failure, at most every few seconds.
    pub fn report(&self, error: &str) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_logged_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64)
            && self
                .last_logged_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            if self.settings.fail_open {
                tracing::warn!(%error, "usage store unavailable: admitting requests without shared limits (usage_store.on_error = \"allow\")");
            } else {
                tracing::error!(%error, "usage store unavailable: refusing requests that need shared limits (usage_store.on_error = \"deny\")");
            }
        }
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
