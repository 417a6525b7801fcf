//! Rate limits and quotas: token buckets for usage plans and stage/route
//! throttling, and durable per-key quotas.
//!
//! A [`Bucket`] is a token bucket (rate, burst) kept as one atomic
//! "theoretical arrival time" (the generic cell rate algorithm), so taking a
//! token is a compare-and-swap, never a lock. A [`Quota`] counts a key's
//! requests per day, week or month (UTC, weeks starting Monday, as API
//! Gateway's). With a data directory, quota use is reserved durably in
//! blocks ahead of the requests it admits: a crash or `kill -9` can forget
//! at most the unused rest of a block, which then counts as used — a
//! restart never hands out quota twice.
//!
//! The [`Registry`] keeps buckets and quotas across snapshot rebuilds
//! (reloads, uploads, deploys), so that a reload does not refill them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::{QuotaConfig, QuotaPeriod, ThrottleConfig};
use crate::redis_store::RedisStore;

/// Why a bucket did not admit a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token; seconds until there is one.
    Limited(u64),
    /// The shared store cannot say, and the policy is to fail closed.
    Unavailable(String),
}

/// Nanoseconds since the first bucket was created: the buckets' clock.
fn clock_nanos() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A token bucket: `rate` tokens per second, at most `burst` at once.
#[derive(Debug)]
pub struct Bucket {
    settings: ThrottleConfig,
    /// Nanoseconds one token takes to refill.
    interval: u64,
    /// How far ahead of now the arrival time may run: `burst` tokens' worth.
    tolerance: u64,
    /// The theoretical arrival time of the next request, in [`clock_nanos`].
    arrival: AtomicU64,
    /// The Redis key of the bucket when it is shared between nodes.
    shared: Option<(Arc<RedisStore>, String)>,
}

impl Bucket {
    /// A full bucket.
    pub fn new(settings: ThrottleConfig) -> Bucket {
        let interval = (1e9 / settings.rate).clamp(1.0, u64::MAX as f64) as u64;
        Bucket {
            settings,
            interval,
            tolerance: interval.saturating_mul(u64::from(settings.burst)),
            arrival: AtomicU64::new(0),
            shared: None,
        }
    }

    /// Admits one request: from this bucket, or from the shared one in Redis.
    pub async fn admit(&self) -> Result<(), Refusal> {
        let Some((store, key)) = &self.shared else {
            return self.take().map_err(Refusal::Limited);
        };
        match store
            .take_token(
                key,
                Duration::from_nanos(self.interval),
                Duration::from_nanos(self.tolerance),
            )
            .await
        {
            Ok(result) => result.map_err(Refusal::Limited),
            Err(error) => {
                store.report(&error);
                if store.fails_open() {
                    Ok(())
                } else {
                    Err(Refusal::Unavailable(error))
                }
            }
        }
    }

    /// Takes one token, or says after how many whole seconds one will be
    /// there (at least 1, for `Retry-After`).
    pub fn take(&self) -> Result<(), u64> {
        let now = clock_nanos();
        let mut arrival = self.arrival.load(Ordering::Relaxed);
        loop {
            let next = arrival.max(now).saturating_add(self.interval);
            if next > now.saturating_add(self.tolerance) {
                let wait = next - now - self.tolerance;
                return Err(Duration::from_nanos(wait).as_secs_f64().ceil().max(1.0) as u64);
            }
            match self.arrival.compare_exchange_weak(
                arrival,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => arrival = seen,
            }
        }
    }
}

/// The start of the quota period holding `now` (seconds since the epoch, UTC).
pub fn period_start(period: QuotaPeriod, now: i64) -> i64 {
    let days = now.div_euclid(86_400);
    let day = match period {
        QuotaPeriod::Day => days,
        // 1970-01-01 was a Thursday: Monday is 3 days before.
        QuotaPeriod::Week => days - (days + 3).rem_euclid(7),
        QuotaPeriod::Month => {
            let (year, month, _) = civil_from_days(days);
            days_from_civil(year, month, 1)
        }
    };
    day * 86_400
}

/// The start of the period after the one starting at `start`.
pub fn period_end(period: QuotaPeriod, start: i64) -> i64 {
    match period {
        QuotaPeriod::Day => start + 86_400,
        QuotaPeriod::Week => start + 7 * 86_400,
        QuotaPeriod::Month => {
            let (year, month, _) = civil_from_days(start.div_euclid(86_400));
            let (year, month) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            days_from_civil(year, month, 1) * 86_400
        }
    }
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the Unix epoch, by the system clock.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What a quota file holds.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct QuotaRecord {
    /// Start of the period, seconds since the epoch.
    period_start: i64,
    /// Requests of the period admitted or reserved for admission.
    reserved: u64,
}

#[derive(Debug, Default)]
struct QuotaState {
    period_start: i64,
    used: u64,
    reserved: u64,
}

/// A key's request quota in one usage plan.
#[derive(Debug)]
pub struct Quota {
    settings: QuotaConfig,
    /// Requests reserved durably at a time.
    block: u64,
    file: Option<PathBuf>,
    state: Mutex<QuotaState>,
    /// The Redis key (without period) when the quota is shared between nodes.
    shared: Option<(Arc<RedisStore>, String)>,
}

/// Why a quota refused a request.
#[derive(Debug, PartialEq, Eq)]
pub enum QuotaRefusal {
    /// Used up; seconds until the period ends.
    Exceeded(u64),
    /// The reservation could not be written (fail closed: a restart must
    /// not hand the request out again).
    Storage(String),
}

impl Quota {
    /// A quota kept in `file` (if any), resuming what the file recorded for
    /// the current period.
    pub fn open(settings: QuotaConfig, file: Option<PathBuf>) -> Result<Quota, String> {
        let mut state = QuotaState::default();
        if let Some(path) = &file {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let record: QuotaRecord = serde_json::from_slice(&bytes)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    state.period_start = record.period_start;
                    state.used = record.reserved;
                    state.reserved = record.reserved;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
        Ok(Quota {
            // 1% of the quota per durable write: a crash forgets at most
            // that much, and a busy key writes its file rarely.
            block: (settings.limit / 100).max(1),
            settings,
            file,
            state: Mutex::new(state),
            shared: None,
        })
    }

    /// Counts one request here, or in Redis when the quota is shared.
    pub async fn admit(&self) -> Result<(), QuotaRefusal> {
        let Some((store, base)) = &self.shared else {
            return self.take();
        };
        let now = unix_now();
        let start = period_start(self.settings.period, now);
        let end = period_end(self.settings.period, start);
        let left = u64::try_from(end - now).unwrap_or(1).max(1);
        // The period is in the key: a new period starts a new count, and the
        // old one expires an hour after its end.
        let key = format!("{base}:{start}");
        match store.count(&key, self.settings.limit, left + 3600).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(QuotaRefusal::Exceeded(left)),
            Err(error) => {
                store.report(&error);
                if store.fails_open() {
                    Ok(())
                } else {
                    Err(QuotaRefusal::Storage(error))
                }
            }
        }
    }

    /// Counts one request, unless the period's quota is used up.
    pub fn take(&self) -> Result<(), QuotaRefusal> {
        self.take_at(unix_now())
    }

    fn take_at(&self, now: i64) -> Result<(), QuotaRefusal> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let start = period_start(self.settings.period, now);
        if state.period_start != start {
            *state = QuotaState {
                period_start: start,
                ..QuotaState::default()
            };
        }
        if state.used >= self.settings.limit {
            let end = period_end(self.settings.period, start);
            return Err(QuotaRefusal::Exceeded(
                u64::try_from(end - now).unwrap_or(1).max(1),
            ));
        }
        if state.used >= state.reserved {
            let reserved = (state.used + self.block).min(self.settings.limit);
            if let Some(path) = &self.file {
                let record = QuotaRecord {
                    period_start: start,
                    reserved,
                };
                let bytes = serde_json::to_vec(&record)
                    .map_err(|e| QuotaRefusal::Storage(e.to_string()))?;
                crate::store::write_durably(path, &bytes).map_err(|e| {
                    QuotaRefusal::Storage(format!("cannot write {}: {e}", path.display()))
                })?;
            }
            state.reserved = reserved;
        }
        state.used += 1;
        Ok(())
    }

    /// Requests counted in the current period.
    pub fn used(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).used
    }
}

/// Buckets and quotas that outlive a snapshot, by what they limit.
#[derive(Debug, Default)]
pub struct Registry {
    data_dir: Option<PathBuf>,
    store: Option<Arc<RedisStore>>,
    buckets: Mutex<HashMap<String, Arc<Bucket>>>,
    quotas: Mutex<HashMap<(String, String), Arc<Quota>>>,
}

impl Registry {
    /// A registry keeping quota files under `data_dir/usage`, or every
    /// bucket and quota in `store` when one is given.
    pub fn new(data_dir: Option<&Path>, store: Option<Arc<RedisStore>>) -> Registry {
        Registry {
            data_dir: data_dir.map(Path::to_path_buf),
            store,
            ..Registry::default()
        }
    }

    /// The bucket named `id` with `settings`; the same one as last time if
    /// the settings did not change.
    pub fn bucket(&self, id: String, settings: ThrottleConfig) -> Arc<Bucket> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(&id) {
            Some(b) if b.settings == settings => b.clone(),
            _ => {
                let mut bucket = Bucket::new(settings);
                if let Some(store) = &self.store {
                    bucket.shared = Some((store.clone(), store.key(&format!("bucket:{id}"))));
                }
                let bucket = Arc::new(bucket);
                buckets.insert(id, bucket.clone());
                bucket
            }
        }
    }

    /// The quota of key `key` in plan `plan`; its count survives changes of
    /// the limit within a period, and restarts when a data directory is set.
    pub fn quota(
        &self,
        plan: &str,
        key: &str,
        settings: QuotaConfig,
    ) -> Result<Arc<Quota>, String> {
        let mut quotas = self.quotas.lock().unwrap_or_else(|e| e.into_inner());
        let id = (plan.to_owned(), key.to_owned());
        if let Some(q) = quotas.get(&id)
            && q.settings == settings
        {
            return Ok(q.clone());
        }
        let quota = match &self.store {
            Some(store) => {
                let mut quota = Quota::open(settings, None)?;
                quota.shared = Some((store.clone(), store.key(&format!("quota:{plan}:{key}"))));
                quota
            }
            None => {
                let file = self
                    .data_dir
                    .as_ref()
                    .map(|d| d.join("usage").join(plan).join(format!("{key}.json")));
                Quota::open(settings, file)?
            }
        };
        let quota = Arc::new(quota);
        quotas.insert(id, quota.clone());
        Ok(quota)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        let bucket = Bucket::new(ThrottleConfig {
            rate: 1.0,
            burst: 3,
        });
        for _ in 0..3 {
            assert_eq!(bucket.take(), Ok(()));
        }
        assert_eq!(bucket.take(), Err(1));
    }

    #[test]
    fn periods_start_at_utc_midnight_monday_and_the_first() {
        // 2026-11-21T15:00:00Z is a Saturday.
        let now = 1_795_273_200;
        assert_eq!(period_start(QuotaPeriod::Day, now), 1_795_219_200);
        // Monday 2026-11-16.
        assert_eq!(period_start(QuotaPeriod::Week, now), 1_794_787_200);
        // 2026-11-01 and 2026-12-01.
        let month = period_start(QuotaPeriod::Month, now);
        assert_eq!(month, 1_793_491_200);
        assert_eq!(period_end(QuotaPeriod::Month, month), 1_796_083_200);
        // December rolls into January.
        let december = period_end(QuotaPeriod::Month, month);
        assert_eq!(period_end(QuotaPeriod::Month, december), 1_798_761_600);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn a_quota_survives_a_restart_without_handing_out_more() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("q.json");
        let settings = QuotaConfig {
            limit: 5,
            period: QuotaPeriod::Day,
        };
        let now = 1_795_273_200;
        let quota = Quota::open(settings, Some(file.clone())).expect("open");
        assert_eq!(quota.take_at(now), Ok(()));
        assert_eq!(quota.take_at(now), Ok(()));
        drop(quota);
        // A crash after two requests: at most the reserved block is lost.
        let quota = Quota::open(settings, Some(file.clone())).expect("reopen");
        let mut admitted = 0;
        while quota.take_at(now).is_ok() {
            admitted += 1;
        }
        assert!(admitted <= 3, "admitted {admitted} more after 2 of 5");
        assert_eq!(quota.take_at(now), Err(QuotaRefusal::Exceeded(32_400)));
        // The next day starts afresh.
        assert_eq!(quota.take_at(now + 86_400), Ok(()));
    }
}
