//! Calls of each API key per day, for the portal's usage chart (API
//! Gateway's `GetUsage`): requests admitted and requests refused with 429,
//! for the last [`DAYS`] days (UTC), in memory. One relaxed atomic add per
//! call; a day's slot is reset by the first call of a new day.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// How many days are kept.
pub const DAYS: usize = 31;

/// One day's counts.
#[derive(Debug, Default)]
struct Day {
    /// Days since 1970-01-01 this slot counts, or 0 when unused.
    day: AtomicI64,
    admitted: AtomicU64,
    refused: AtomicU64,
}

/// One key's calls per day.
#[derive(Debug, Default)]
pub struct DailyUsage {
    days: [Day; DAYS],
}

/// One day of [`DailyUsage::recent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayUsage {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Calls admitted.
    pub admitted: u64,
    /// Calls refused with 429 (rate or quota).
    pub refused: u64,
}

impl DailyUsage {
    fn slot(&self, today: i64) -> &Day {
        let slot = &self.days[today.rem_euclid(DAYS as i64) as usize];
        let seen = slot.day.load(Ordering::Relaxed);
        if seen != today
            && slot
                .day
                .compare_exchange(seen, today, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            slot.admitted.store(0, Ordering::Relaxed);
            slot.refused.store(0, Ordering::Relaxed);
        }
        slot
    }

    /// Counts one admitted call.
    pub fn admitted(&self) {
        self.admitted_on(today());
    }

    /// Counts one call refused with 429.
    pub fn refused(&self) {
        self.refused_on(today());
    }

    fn admitted_on(&self, day: i64) {
        self.slot(day).admitted.fetch_add(1, Ordering::Relaxed);
    }

    fn refused_on(&self, day: i64) {
        self.slot(day).refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The last `days` days up to today, oldest first (days without calls
    /// as zeros).
    pub fn recent(&self, days: usize) -> Vec<DayUsage> {
        self.recent_until(today(), days)
    }

    fn recent_until(&self, today: i64, days: usize) -> Vec<DayUsage> {
        let days = days.clamp(1, DAYS) as i64;
        (today - days + 1..=today)
            .map(|day| {
                let slot = &self.days[day.rem_euclid(DAYS as i64) as usize];
                let counted = slot.day.load(Ordering::Relaxed) == day;
                let read = |n: &AtomicU64| {
                    if counted {
                        n.load(Ordering::Relaxed)
                    } else {
                        0
                    }
                };
                DayUsage {
                    day,
                    admitted: read(&slot.admitted),
                    refused: read(&slot.refused),
                }
            })
            .collect()
    }
}

fn today() -> i64 {
    crate::util::time::unix_now().div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_counted_apart_and_old_slots_reset() {
        let usage = DailyUsage::default();
        usage.admitted_on(20_000);
        usage.admitted_on(20_000);
        usage.refused_on(20_000);
        usage.admitted_on(20_001);
        let recent = usage.recent_until(20_001, 3);
        assert_eq!(
            recent,
            vec![
                DayUsage {
                    day: 19_999,
                    admitted: 0,
                    refused: 0
                },
                DayUsage {
                    day: 20_000,
                    admitted: 2,
                    refused: 1
                },
                DayUsage {
                    day: 20_001,
                    admitted: 1,
                    refused: 0
                },
            ]
        );
        // A month later the slot of day 20,000 counts day 20,031 afresh.
        usage.admitted_on(20_000 + DAYS as i64);
        let later = usage.recent_until(20_000 + DAYS as i64, 1);
        assert_eq!(later[0].admitted, 1);
        assert_eq!(later[0].refused, 0);
    }
}
