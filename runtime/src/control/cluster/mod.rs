//! Cluster mode (`[cluster]`): the nodes of a fleet share their control
//! plane through Redis, so that one upload, deploy or key change reaches
//! every node.
//!
//! What is shared are the stores' records (see [`records`]); each node's
//! `data_dir` is its copy, which it serves from when Redis is away. A write
//! through any node's admin API takes the writers' lease, catches the node
//! up with the log, is validated and compiled like any change
//! ([`super::state::Control::change`]), then committed with a
//! compare-and-set on the log's position; only then does the node serve
//! it. Every other node follows the log ([`follow`]), applies changes in
//! order — compiling locally from verified source components, never from
//! another node's artifacts — and reports what it serves in a heartbeat.
//! `@connections` calls for a WebSocket connection held by another node are
//! relayed over pub/sub ([`relay`]).

pub mod follow;
pub mod records;
pub mod redis;
pub mod relay;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use self::records::{Change, DataDir, Record, is_shared_path, version_of};
use self::redis::{ClusterError, Lease, Shared};
use crate::config::ClusterConfig;
use crate::util::fs::{Written, remove_durably, write_durably};
use crate::util::time::rfc3339_now;

/// Where a node keeps the number of the last change it applied.
const POSITION_FILE: &str = "cluster/applied";

/// One node's membership of the fleet.
pub struct Cluster {
    settings: ClusterConfig,
    shared: Arc<Shared>,
    data: DataDir,
    /// The number of the last change this node serves.
    applied: AtomicU64,
    /// Why the last change could not be applied here, if it could not.
    failure: Mutex<Option<String>>,
    started_at: String,
    relay: Arc<relay::Relay>,
    /// The admin listener's address, reported to the fleet.
    admin: OnceLock<String>,
    /// What the node serves, recorded after every swap (heartbeats read
    /// it without waiting for a change in progress).
    serving: Mutex<Serving>,
    /// Wakes the heartbeat when what the node serves changed, so that the
    /// fleet sees it at once rather than at the next interval.
    changed: tokio::sync::Notify,
}

/// What a node says about itself in its heartbeat, and `GET /cluster`
/// shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Its id.
    pub node: String,
    /// Its admin listener, if it has one.
    #[serde(default)]
    pub admin: Option<String>,
    /// The number of the last change it applied.
    pub applied: u64,
    /// Why it could not apply the change after that, if it could not.
    #[serde(default)]
    pub failure: Option<String>,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// When it wrote this, RFC 3339.
    pub heartbeat_at: String,
    /// What it serves.
    pub serving: Serving,
}

/// What a node serves: per stage, per plugin.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Serving {
    /// `API/STAGE` → the deployment it serves (`None`: the file's routes).
    pub stages: BTreeMap<String, StageServing>,
    /// Plugin → the sha256 of its active uploaded version, or `file`.
    pub plugins: BTreeMap<String, String>,
}

/// What one stage serves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageServing {
    /// Its deployment; `None`: it follows the configuration file.
    pub deployment: Option<String>,
    /// Its canary's deployment and share, if it has one.
    #[serde(default)]
    pub canary: Option<(String, f64)>,
}

impl Cluster {
    /// This node's membership for `settings`, its copy in `data_dir`;
    /// Redis is reached on first use.
    pub fn new(settings: &ClusterConfig, data_dir: &Path) -> Result<Arc<Cluster>, String> {
        let shared = Shared::new(settings)?;
        let data = DataDir::new(data_dir);
        let applied = std::fs::read_to_string(data.file(POSITION_FILE))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        Ok(Arc::new(Cluster {
            relay: Arc::new(relay::Relay::new(shared.clone(), &settings.node_id)),
            admin: OnceLock::new(),
            serving: Mutex::new(Serving::default()),
            changed: tokio::sync::Notify::new(),
            settings: settings.clone(),
            shared,
            data,
            applied: AtomicU64::new(applied),
            failure: Mutex::new(None),
            started_at: rfc3339_now(),
        }))
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ClusterConfig {
        &self.settings
    }

    /// The node's id.
    pub fn node_id(&self) -> &str {
        &self.settings.node_id
    }

    /// The Redis side.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The `@connections` relay.
    pub fn relay(&self) -> &Arc<relay::Relay> {
        &self.relay
    }

    /// Records what the node serves now.
    pub fn set_serving(&self, serving: Serving) {
        *self.serving.lock().unwrap_or_else(|e| e.into_inner()) = serving;
        self.changed.notify_one();
    }

    /// Resolves when what the node serves (or its position) changed.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// What the node serves.
    pub fn serving(&self) -> Serving {
        self.serving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records the admin listener's address, reported in heartbeats.
    pub fn set_admin_address(&self, address: String) {
        let _ = self.admin.set(address);
    }

    /// The admin listener's address, if it has one.
    pub fn admin_address(&self) -> Option<String> {
        self.admin.get().cloned()
    }

    /// The number of the last change this node serves.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Why the node could not apply the latest change, if it could not.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records that change `seq` could not be applied, and why.
    pub fn fail(&self, seq: Option<u64>, why: &str) {
        let text = match seq {
            Some(seq) => format!("cannot apply change {seq}: {why}"),
            None => why.to_owned(),
        };
        tracing::error!(node = %self.node_id(), "cluster: {text}; the previous state keeps serving");
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
    }

    /// Records that the node serves change `seq` (durably, so that a
    /// restart knows where it was).
    pub fn applied_now(&self, seq: u64) {
        self.applied.store(seq, Ordering::Release);
        self.changed.notify_one();
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Err(e) = write_durably(&self.data.file(POSITION_FILE), seq.to_string().as_bytes()) {
            tracing::warn!(error = %e, "cluster: cannot record the applied position");
        }
    }

    /// Takes the writers' lease (waiting for another node's write).
    pub fn lease(&self) -> Result<Lease, ClusterError> {
        let shared = self.shared.clone();
        let node = self.settings.node_id.clone();
        self.shared.wait(async move { shared.lease(&node).await })
    }

    /// Gives the lease back, without waiting.
    pub fn release(&self, lease: Lease) {
        let shared = self.shared.clone();
        self.shared
            .runtime()
            .spawn(async move { shared.release(lease).await });
    }

    /// Brings the local copy up to the shared state: the changes after the
    /// applied one, in order, or the whole state when the log no longer
    /// holds them. Components are fetched and checked; records are written
    /// into `data_dir` (inside the caller's journal, to be undone if the
    /// result does not compile). Returns the change now reached, or `None`
    /// when there was nothing new.
    pub fn pull(&self) -> Result<Option<u64>, ClusterError> {
        let shared = self.shared.clone();
        let applied = self.applied();
        let head = self.shared.wait({
            let shared = shared.clone();
            async move { shared.head().await }
        })?;
        if head == applied {
            return Ok(None);
        }
        if head < applied {
            // Redis lost its data and was seeded again by a node (or was
            // restored from an older backup): its state is the fleet's now.
            tracing::warn!(node = %self.node_id(), head, applied, "cluster: the shared log restarted below this node's position; reading the whole shared state");
        }
        // A node that never joined (no position) reads the whole state, so
        // that records it had of its own do not linger.
        let changes = if head > applied && applied > 0 {
            self.shared.wait({
                let shared = shared.clone();
                async move { shared.changes_after(applied).await }
            })?
        } else {
            Vec::new()
        };
        let contiguous = changes
            .iter()
            .enumerate()
            .all(|(i, (seq, _))| *seq == applied + 1 + i as u64);
        let reached = changes.last().map(|(seq, _)| *seq).unwrap_or(0);
        if head > applied && applied > 0 && contiguous && reached >= head {
            // The net effect, each path's last record: a version added and
            // removed again within the batch is never fetched (its component
            // left the store with it).
            let mut net: Vec<&Record> = Vec::new();
            for record in changes.iter().flat_map(|(_, c)| &c.records) {
                net.retain(|r| r.path != record.path);
                net.push(record);
            }
            for record in net {
                self.put(record)?;
            }
            return Ok(Some(reached));
        }
        // The log was trimmed past this node's position: the whole state.
        let (seq, state) = self.shared.wait(async move { shared.state().await })?;
        self.replace_with(&state)?;
        Ok(Some(seq))
    }

    /// Makes the local records exactly `state`.
    fn replace_with(&self, state: &BTreeMap<String, String>) -> Result<(), ClusterError> {
        let local = self.data.scan().map_err(ClusterError::Invalid)?;
        for path in local.keys().filter(|p| !state.contains_key(*p)) {
            self.put(&Record {
                path: path.clone(),
                content: None,
            })?;
        }
        for (path, text) in state {
            if local.get(path) != Some(text) {
                self.put(&Record {
                    path: path.clone(),
                    content: Some(text.clone()),
                })?;
            }
        }
        Ok(())
    }

    /// Writes or removes one shared record locally; a version's component
    /// is fetched first and checked against its digest.
    fn put(&self, record: &Record) -> Result<(), ClusterError> {
        if !is_shared_path(&record.path) {
            return Err(ClusterError::Invalid(format!(
                "`{}` is not a shared record's path",
                record.path
            )));
        }
        let file = self.data.file(&record.path);
        let local = |e: std::io::Error| {
            ClusterError::Invalid(format!("cannot write {}: {e}", file.display()))
        };
        match &record.content {
            Some(text) => {
                if let Some((plugin, sha256)) = version_of(&record.path) {
                    let component = self.data.component(plugin, sha256);
                    if !component.is_file() {
                        let shared = self.shared.clone();
                        let digest = sha256.to_owned();
                        let bytes = self
                            .shared
                            .wait(async move { shared.blob(&digest).await })?;
                        write_durably(&component, &bytes).map_err(local)?;
                    }
                }
                write_durably(&file, &self.data.local(text)).map_err(local)?;
            }
            None => {
                remove_durably(&file).map_err(local)?;
                if let Some((plugin, sha256)) = version_of(&record.path) {
                    remove_durably(&self.data.component(plugin, sha256)).map_err(local)?;
                }
            }
        }
        Ok(())
    }

    /// Commits the shared records among `written` (a change this node
    /// compiled) on top of the change it applied; components they name
    /// are stored first. Returns the change's number, or `None` when
    /// nothing shared was written.
    pub fn commit(&self, written: &[Written]) -> Result<Option<u64>, ClusterError> {
        let records = self.data.records(written).map_err(ClusterError::Invalid)?;
        if records.is_empty() {
            return Ok(None);
        }
        let mut dropped = Vec::new();
        for record in &records {
            let Some((plugin, sha256)) = version_of(&record.path) else {
                continue;
            };
            if record.content.is_some() {
                self.store_component(plugin, sha256)?;
            } else if !self.named_elsewhere(sha256) {
                dropped.push(sha256.to_owned());
            }
        }
        let change = Change {
            node: self.settings.node_id.clone(),
            at: rfc3339_now(),
            records,
        };
        let expected = self.applied();
        if self.failure().is_some() {
            return Err(ClusterError::Conflict(format!(
                "this node cannot apply the fleet's latest change ({}); fix that (a reload, or a restart with an empty data_dir) before changing the fleet through it",
                self.failure().unwrap_or_default()
            )));
        }
        let shared = self.shared.clone();
        let seq = self
            .shared
            .wait(async move { shared.commit(expected, &change, &dropped).await })?;
        self.applied_now(seq);
        Ok(Some(seq))
    }

    /// Whether `written` holds a shared record (a change that must reach
    /// the fleet).
    pub fn data_records(&self, written: &[Written]) -> bool {
        self.data
            .records(written)
            .map_or(true, |records| !records.is_empty())
    }

    /// Stores a component in Redis unless it is there; its digest is
    /// checked first, so a corrupted local copy is never shared.
    fn store_component(&self, plugin: &str, sha256: &str) -> Result<(), ClusterError> {
        let shared = self.shared.clone();
        let digest = sha256.to_owned();
        if self
            .shared
            .wait(async move { shared.has_blob(&digest).await })?
        {
            return Ok(());
        }
        let path = self.data.component(plugin, sha256);
        let bytes = std::fs::read(&path)
            .map_err(|e| ClusterError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        if actual != sha256 {
            return Err(ClusterError::Invalid(format!(
                "{} has the digest {actual}, not {sha256}",
                path.display()
            )));
        }
        let shared = self.shared.clone();
        let digest = sha256.to_owned();
        self.shared
            .wait(async move { shared.put_blob(&digest, &bytes).await })
    }

    /// Whether a version record of another plugin names component
    /// `sha256` (then its blob stays).
    fn named_elsewhere(&self, sha256: &str) -> bool {
        let Ok(plugins) = std::fs::read_dir(self.data.root().join("plugins")) else {
            return false;
        };
        plugins
            .filter_map(Result::ok)
            .any(|dir| dir.path().join(format!("{sha256}.json")).is_file())
    }

    /// Takes the node out of the fleet's list (it is shutting down).
    pub fn leave(&self) {
        let shared = self.shared.clone();
        let node = self.settings.node_id.clone();
        self.shared.wait(async move {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(1), shared.leave(&node)).await;
        });
    }

    /// Joins the fleet at start, before the configuration is loaded from
    /// `data_dir`: seeds an empty store with this node's records, or brings
    /// the local copy to the shared state. When Redis cannot be reached the
    /// node starts from its copy and catches up later (a warning says so).
    pub fn join(&self) -> Result<(), String> {
        match self.seed_if_empty() {
            Ok(_) => {}
            Err(ClusterError::Unavailable(why)) => {
                tracing::warn!(node = %self.node_id(), %why, "cluster: Redis is unavailable; serving this node's copy of the shared state until it is back");
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        }
        match self.pull() {
            Ok(Some(seq)) => {
                self.applied_now(seq);
                tracing::info!(node = %self.node_id(), change = seq, "cluster: joined with the fleet's state");
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(ClusterError::Unavailable(why)) => {
                tracing::warn!(node = %self.node_id(), %why, "cluster: Redis is unavailable; serving this node's copy of the shared state until it is back");
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Seeds an empty shared store with this node's records (a new fleet,
    /// or a Redis that lost its data): one change holding every record.
    /// Another node seeding first wins; this one then follows it.
    pub fn seed_if_empty(&self) -> Result<bool, ClusterError> {
        let shared = self.shared.clone();
        let head = self.shared.wait(async move { shared.head().await })?;
        if head != 0 {
            return Ok(false);
        }
        let local = self.data.scan().map_err(ClusterError::Invalid)?;
        if local.is_empty() {
            return Ok(false);
        }
        let written: Vec<Written> = local
            .iter()
            .map(|(path, text)| Written {
                path: self.data.file(path),
                before: None,
                after: Some(self.data.local(text)),
            })
            .collect();
        let lease = self.lease()?;
        // Seeding starts the log afresh: the node's old position means
        // nothing in it.
        self.applied.store(0, Ordering::Release);
        let outcome = self.commit(&written);
        self.release(lease);
        match outcome {
            Ok(_) => {
                tracing::info!(node = %self.node_id(), records = local.len(), "cluster: seeded the empty cluster store with this node's state");
                Ok(true)
            }
            Err(ClusterError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
