//! API Gateway's stage cache: responses kept in memory per stage, bounded in
//! bytes (moka weighs every entry by its size), each with its own time to
//! live, looked up by a key built from the route and its declared cache key
//! parameters. Concurrent misses of one key wait for the first one's fetch
//! (bounded), so a burst of identical requests costs the upstream one call.
//!
//! The caches outlive snapshots ([`Caches`]): a reload keeps what a stage
//! has cached unless its cache settings changed. Entries of another
//! deployment never answer, because the key starts with the version's tag.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{
    AGE, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::watch;

use crate::body::ResponseBody;
use crate::config::StageCacheConfig;

/// What the cache did for a request (`cacheStatus` in the access log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Answered from the cache.
    Hit,
    /// Fetched from the integration and stored.
    Miss,
    /// Fetched and not stored: status not cached, body too large, a
    /// `Set-Cookie` or `Cache-Control: no-store`/`private`, or an error.
    Bypass,
    /// The caller's `Cache-Control: max-age=0` removed the entry; fetched
    /// anew.
    Invalidated,
}

impl CacheStatus {
    /// The access log's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
            CacheStatus::Invalidated => "invalidated",
        }
    }
}

/// Every stage's cache, kept across snapshots.
#[derive(Debug, Default)]
pub struct Caches {
    stages: Mutex<HashMap<(String, String), Arc<StageCache>>>,
}

impl Caches {
    /// The cache of `api`/`stage` with `settings`: the one it had if the
    /// settings did not change, else a new, empty one.
    pub fn stage(&self, api: &str, stage: &str, settings: &StageCacheConfig) -> Arc<StageCache> {
        let mut stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        let key = (api.to_owned(), stage.to_owned());
        match stages.get(&key) {
            Some(cache) if cache.settings == *settings => cache.clone(),
            _ => {
                let cache = Arc::new(StageCache::new(settings.clone()));
                stages.insert(key, cache.clone());
                cache
            }
        }
    }

    /// Drops the caches of stages not in `live` (removed, or cache turned off).
    pub fn retain(&self, live: &HashSet<(String, String)>) {
        let mut stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        stages.retain(|key, _| live.contains(key));
    }
}

/// A stored response.
#[derive(Debug)]
pub struct CachedResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    stored_at: Instant,
    ttl: Duration,
    weight: u32,
}

impl CachedResponse {
    /// The response as sent again, with its `Age`.
    pub fn response(&self) -> Response<ResponseBody> {
        let mut response = Response::new(ResponseBody::full(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
            .headers_mut()
            .insert(AGE, HeaderValue::from(self.stored_at.elapsed().as_secs()));
        response
    }
}

struct PerEntryTtl;

impl moka::Expiry<Arc<str>, Arc<CachedResponse>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        value: &Arc<CachedResponse>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Bytes an entry costs besides its key, headers and body: moka's node,
/// its expiry and frequency bookkeeping, the `Arc`s, the header map's table
/// and the allocator's rounding. Measured, not guessed: with 128-byte
/// bodies the process grew by 1,683 bytes per entry (benches/cache-memory.sh,
/// 100,000 entries) while keys, headers and bodies weighed 682 of them, so
/// `capacity` bounds what the cache really takes.
const ENTRY_OVERHEAD: usize = 1024;
/// Bytes a header costs besides its name and value: its slot in the map
/// and the value's own allocation.
const HEADER_OVERHEAD: usize = 96;

/// One stage's cache.
pub struct StageCache {
    /// What the stage's configuration says.
    pub settings: StageCacheConfig,
    entries: moka::sync::Cache<Arc<str>, Arc<CachedResponse>>,
    /// Keys being fetched right now, and how their waiters learn the
    /// fetch ended (the sender is dropped).
    inflight: Mutex<HashMap<Arc<str>, watch::Receiver<()>>>,
}

impl std::fmt::Debug for StageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageCache")
            .field("settings", &self.settings)
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

/// The outcome of a lookup.
pub enum Lookup<'c> {
    /// A fresh entry.
    Hit(Arc<CachedResponse>),
    /// No entry: this request fetches it; others wait until the guard is
    /// dropped.
    Lead(Leader<'c>),
    /// No entry, and waiting for another request's fetch gave none within
    /// the lock timeout: fetch without making others wait.
    Alone,
}

/// Holds the key's in-flight mark while its leader fetches; dropping it
/// (stored, not storable, failed or cancelled) wakes the waiters.
pub struct Leader<'c> {
    cache: &'c StageCache,
    key: Arc<str>,
    _done: watch::Sender<()>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut inflight = self
            .cache
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        inflight.remove(&self.key);
    }
}

/// What [`StageCache::usage`] reports.
#[derive(Debug, Clone, Copy)]
pub struct CacheUsage {
    /// Entries stored (approximate until moka's pending work runs).
    pub entries: u64,
    /// Bytes they weigh.
    pub bytes: u64,
}

impl StageCache {
    fn new(settings: StageCacheConfig) -> StageCache {
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.capacity)
            .weigher(|key: &Arc<str>, value: &Arc<CachedResponse>| {
                value.weight.saturating_add(key.len() as u32)
            })
            .expire_after(PerEntryTtl)
            .build();
        StageCache {
            settings,
            entries,
            inflight: Mutex::default(),
        }
    }

    /// Finds `key`; on a miss, either leads its fetch or waits (at most
    /// the lock timeout) for the request already fetching it.
    pub async fn lookup(&self, key: &Arc<str>) -> Lookup<'_> {
        if let Some(hit) = self.entries.get(key) {
            return Lookup::Hit(hit);
        }
        let waiting = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            match inflight.get(key) {
                Some(done) => done.clone(),
                None => {
                    let (done, waiters) = watch::channel(());
                    inflight.insert(key.clone(), waiters);
                    return Lookup::Lead(Leader {
                        cache: self,
                        key: key.clone(),
                        _done: done,
                    });
                }
            }
        };
        let mut waiting = waiting;
        // Err: the leader dropped its guard (the only way it signals).
        let _ = tokio::time::timeout(self.settings.lock_timeout, waiting.changed()).await;
        match self.entries.get(key) {
            Some(hit) => Lookup::Hit(hit),
            None => Lookup::Alone,
        }
    }

    /// Removes `key` (a permitted `Cache-Control: max-age=0`).
    pub fn invalidate(&self, key: &Arc<str>) {
        self.entries.invalidate(key);
    }

    /// Removes every entry; returns how many there were.
    pub fn flush(&self) -> u64 {
        self.entries.run_pending_tasks();
        let count = self.entries.entry_count();
        self.entries.invalidate_all();
        self.entries.run_pending_tasks();
        count
    }

    /// How full the cache is.
    pub fn usage(&self) -> CacheUsage {
        self.entries.run_pending_tasks();
        CacheUsage {
            entries: self.entries.entry_count(),
            bytes: self.entries.weighted_size(),
        }
    }

    /// Sends `response` on, storing it under `key` for `ttl` if it may be
    /// stored: a cached status, no `Set-Cookie`, no `no-store`/`private`,
    /// a body of at most `max_entry_bytes`. The body is read before the
    /// answer starts only when it will be stored, up to that size; a larger
    /// one streams on from where reading stopped. Returns whether it was
    /// stored.
    pub async fn store(
        &self,
        key: Arc<str>,
        response: Response<ResponseBody>,
        ttl: Duration,
    ) -> (Response<ResponseBody>, bool) {
        if !self.storable(&response) {
            return (response, false);
        }
        let limit = self.settings.max_entry_bytes;
        let (parts, mut body) = response.into_parts();
        let mut read = BytesMut::new();
        // A body that trickles (a stream, a long poll) is not held back
        // longer than this: what was read goes on, and the rest streams.
        let deadline = tokio::time::Instant::now() + self.settings.lock_timeout;
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => {
                    let rest = ResponseBody::resumed(read.freeze(), body);
                    return (Response::from_parts(parts, rest), false);
                }
            };
            match frame {
                None => break,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        read.extend_from_slice(&data);
                        if read.len() as u64 > limit {
                            let rest = ResponseBody::resumed(read.freeze(), body);
                            return (Response::from_parts(parts, rest), false);
                        }
                    }
                    // Trailers are not stored: this answer passes as it is.
                    Err(frame) => {
                        let trailers = frame.into_trailers().unwrap_or_default();
                        let rest = ResponseBody::resumed_with_trailers(read.freeze(), trailers);
                        return (Response::from_parts(parts, rest), false);
                    }
                },
                Some(Err(error)) => {
                    // The upstream broke off: the client sees the same.
                    let rest = ResponseBody::resumed_with_error(read.freeze(), error);
                    return (Response::from_parts(parts, rest), false);
                }
            }
        }
        // Stored compactly: without the spare room the buffer grew into,
        // and with header values copied out of the upstream connection's
        // read buffer (hyper's parsed values share it, and would keep all
        // of it alive as long as the entry lives).
        let body = if read.capacity() > read.len() + read.len() / 8 {
            Bytes::copy_from_slice(&read)
        } else {
            read.freeze()
        };
        let mut headers = HeaderMap::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            if let Ok(copied) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.append(name.clone(), copied);
            }
        }
        headers.remove(TRANSFER_ENCODING);
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        let weight = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + HEADER_OVERHEAD)
            .sum::<usize>()
            + body.len()
            + ENTRY_OVERHEAD;
        let entry = Arc::new(CachedResponse {
            status: parts.status,
            headers,
            body: body.clone(),
            stored_at: Instant::now(),
            ttl,
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
        });
        self.entries.insert(key, entry);
        (Response::from_parts(parts, ResponseBody::full(body)), true)
    }

    fn storable(&self, response: &Response<ResponseBody>) -> bool {
        use http_body::Body;
        let headers = response.headers();
        self.settings.statuses.contains(&response.status().as_u16())
            && !headers.contains_key(SET_COOKIE)
            // A stream of events is never complete: not an entry.
            && !headers.get(CONTENT_TYPE).is_some_and(|t| {
                t.as_bytes()
                    .get(..17)
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"text/event-stream"))
            })
            && !headers.get_all(CACHE_CONTROL).iter().any(|v| {
                v.to_str().is_ok_and(|v| {
                    v.split(',').any(|d| {
                        let d = d.trim();
                        d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("private")
                    })
                })
            })
            && response
                .body()
                .size_hint()
                .upper()
                .is_none_or(|n| n <= self.settings.max_entry_bytes)
    }
}

/// Builds a cache key: the version's tag, the method, the route key, and the
/// route's key parameters, each part length-prefixed so that no two
/// different requests can spell the same key.
pub struct KeyBuilder {
    key: String,
}

impl KeyBuilder {
    /// A key for `tag` (the serving version), `method` and `route`.
    pub fn new(tag: &str, method: &str, route: &str) -> KeyBuilder {
        let mut builder = KeyBuilder {
            key: String::with_capacity(tag.len() + method.len() + route.len() + 32),
        };
        builder.part(tag);
        builder.part(method);
        builder.part(route);
        builder
    }

    /// Adds one part (a parameter's name, or one of its values).
    pub fn part(&mut self, text: &str) {
        use std::fmt::Write;
        let _ = write!(self.key, "{}:{text}", text.len());
    }

    /// Adds a parameter that is absent (told apart from an empty value).
    pub fn absent(&mut self) {
        self.key.push('-');
    }

    /// The finished key.
    pub fn finish(self) -> Arc<str> {
        Arc::from(self.key)
    }
}

#[cfg(test)]
mod tests;
