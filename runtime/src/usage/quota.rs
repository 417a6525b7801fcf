//! Quotas: a key's requests per day, week or month (UTC, weeks starting
//! Monday, as API Gateway's).
//!
//! With a data directory, quota use is reserved durably in blocks ahead of
//! the requests it admits: a crash or `kill -9` can forget at most the
//! unused rest of a block, which then counts as used — a restart never hands
//! out quota twice. A quota shared between nodes is counted in Redis.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::redis::RedisStore;
use crate::config::{QuotaConfig, QuotaPeriod};
use crate::util::time::{civil_from_days, days_from_civil, unix_now};

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
    pub(super) settings: QuotaConfig,
    /// Requests reserved durably at a time.
    block: u64,
    file: Option<PathBuf>,
    state: Mutex<QuotaState>,
    /// The Redis key (without period) when the quota is shared between nodes.
    pub(super) shared: Option<(Arc<RedisStore>, String)>,
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
                crate::util::fs::write_durably(path, &bytes).map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;

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
