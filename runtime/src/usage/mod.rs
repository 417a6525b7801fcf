//! Rate limits and quotas: token buckets for usage plans and stage/route
//! throttling ([`bucket`]), per-key quotas ([`quota`]), and Redis when they
//! are shared between gateway nodes ([`redis`]).
//!
//! The [`Registry`] keeps buckets and quotas across snapshot rebuilds
//! (reloads, uploads, deploys), so that a reload does not refill them.

pub mod bucket;
pub mod daily;
pub mod quota;
pub mod redis;

pub use bucket::{Bucket, Refusal};
pub use quota::{Quota, QuotaRefusal};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::{QuotaConfig, ThrottleConfig};
use redis::RedisStore;

/// Buckets and quotas that outlive a snapshot, by what they limit.
#[derive(Debug, Default)]
pub struct Registry {
    data_dir: Option<PathBuf>,
    store: Option<Arc<RedisStore>>,
    buckets: Mutex<HashMap<String, Arc<Bucket>>>,
    quotas: Mutex<HashMap<(String, String), Arc<Quota>>>,
    daily: Mutex<HashMap<String, Arc<daily::DailyUsage>>>,
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

    /// The calls per day of API key `key` (by name; kept across rebuilds
    /// and rotations).
    pub fn daily(&self, key: &str) -> Arc<daily::DailyUsage> {
        self.daily
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone()
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
