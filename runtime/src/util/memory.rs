//! Giving freed memory back to the kernel while the gateway is quiet.
//!
//! mimalloc returns pages a while after they are freed (its purge delay,
//! 1 s by default), but only when the allocator runs again on that thread:
//! once thousands of idle connections close, a worker with nothing more to
//! do would keep their memory resident. Purging at once instead (delay 0)
//! costs 15–20 % of plain-proxy throughput (an madvise per retired page;
//! `../shared/bench/proxy-compare.sh`, 0.69x vs 0.86x nginx in one run each),
//! so the delay stays and each worker asks for a collection once a second.

use std::time::Duration;

/// Runs forever on a worker: every second, lets mimalloc release what was
/// freed longer than its purge delay ago.
pub async fn return_freed_memory() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        #[allow(unsafe_code)]
        // SAFETY: mi_collect walks the allocator's own structures only; it
        // is a no-op on memory mimalloc does not manage.
        unsafe {
            libmimalloc_sys::mi_collect(false)
        };
    }
}
