//! Token buckets: usage plans' rate and burst, stage and route throttles.
//!
//! A [`Bucket`] is kept as one atomic "theoretical arrival time" (the
//! generic cell rate algorithm), so taking a token is a compare-and-swap,
//! never a lock; a bucket shared between nodes lives in Redis instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::redis::RedisStore;
use crate::config::ThrottleConfig;

/// Why a bucket did not admit a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token; seconds until there is one.
    Limited(u64),
    /// The shared store cannot say, and the policy is to fail closed.
    Unavailable(String),
}

/// The buckets' clock.
fn clock_nanos() -> u64 {
    crate::util::time::monotonic_nanos()
}

/// A token bucket: `rate` tokens per second, at most `burst` at once.
#[derive(Debug)]
pub struct Bucket {
    pub(super) settings: ThrottleConfig,
    /// Nanoseconds one token takes to refill.
    interval: u64,
    /// How far ahead of now the arrival time may run: `burst` tokens' worth.
    tolerance: u64,
    /// The theoretical arrival time of the next request, in [`clock_nanos`].
    arrival: AtomicU64,
    /// The Redis key of the bucket when it is shared between nodes.
    pub(super) shared: Option<(Arc<RedisStore>, String)>,
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
}
