//! A node's two background duties in a fleet: follow the shared log
//! (apply every change another node commits, in order) and report itself
//! alive with what it serves.
//!
//! Following waits on the log with a blocking read on a connection of its
//! own; the read only wakes the node, which then catches up through
//! [`Control::catch_up`] — the same path a writer takes before its own
//! change — so there is one way changes are applied. When Redis is away
//! the node keeps serving what it has and retries; when Redis is back it
//! catches up from the log, or from the whole state if the log was
//! trimmed, or seeds an empty store with its own state.

use std::sync::Arc;
use std::time::Duration;

use super::{Cluster, NodeStatus, Serving, StageServing};
use crate::control::state::{Control, Desired};
use crate::util::time::rfc3339_now;

/// How long one blocking read of the log waits before it is made again.
const READ_BLOCK: Duration = Duration::from_secs(5);
/// How long the follower waits after Redis failed before trying again.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Starts following the log and the heartbeat.
pub fn start(control: Arc<Control>, cluster: Arc<Cluster>) {
    let runtime = cluster.shared().runtime().clone();
    {
        let control = control.clone();
        let cluster = cluster.clone();
        runtime.spawn(async move { follow(control, cluster).await });
    }
    runtime.spawn(async move { heartbeat(cluster).await });
}

async fn follow(control: Arc<Control>, cluster: Arc<Cluster>) {
    let shared = cluster.shared().clone();
    let mut connection = None;
    // The head a catch-up failed at: wait for a change after it rather
    // than retrying the same failing one in a loop.
    let mut failed_at: Option<u64> = None;
    let mut seeded = false;
    loop {
        if !seeded {
            let seeding = {
                let cluster = cluster.clone();
                tokio::task::spawn_blocking(move || cluster.seed_if_empty()).await
            };
            match seeding {
                Ok(Ok(_)) => seeded = true,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "cluster: cannot reach the store yet");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
                Err(_) => seeded = true,
            }
        }
        let control = control.clone();
        let caught_up = tokio::task::spawn_blocking(move || control.catch_up()).await;
        match caught_up {
            Ok(Ok(_)) => failed_at = None,
            Ok(Err(CatchUp::Unavailable)) => {
                connection = None;
                seeded = false;
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
            Ok(Err(CatchUp::Failed(head))) => failed_at = Some(head),
            Err(_) => {}
        }
        let after = failed_at.unwrap_or(0).max(cluster.applied());
        if let Err(error) = shared
            .wait_for_change(&mut connection, after, READ_BLOCK)
            .await
        {
            tracing::debug!(%error, "cluster: waiting on the log failed");
            seeded = false;
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }
}

/// Why a catch-up did not reach the head.
#[derive(Debug)]
pub enum CatchUp {
    /// Redis could not be reached.
    Unavailable,
    /// The changes up to this head could not be applied here (the node
    /// reports why in its heartbeat).
    Failed(u64),
}

async fn heartbeat(cluster: Arc<Cluster>) {
    let every = cluster.settings().heartbeat;
    let ttl = every * 3;
    let shared = cluster.shared().clone();
    let node = cluster.node_id().to_owned();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = cluster.changed() => {}
        }
        let status = status(&cluster);
        let Ok(text) = serde_json::to_string(&status) else {
            continue;
        };
        if let Err(error) = shared.heartbeat(&node, &text, ttl).await {
            tracing::debug!(%error, "cluster: heartbeat not recorded");
        }
    }
}

/// What this node reports about itself now. Never waits for a change
/// being compiled: what it serves is recorded after every swap.
pub fn status(cluster: &Cluster) -> NodeStatus {
    NodeStatus {
        node: cluster.node_id().to_owned(),
        admin: cluster.admin_address(),
        applied: cluster.applied(),
        failure: cluster.failure(),
        started_at: cluster.started_at.clone(),
        heartbeat_at: rfc3339_now(),
        serving: cluster.serving(),
    }
}

/// What `desired` serves, per stage and plugin.
pub fn serving(desired: &Desired) -> Serving {
    let mut out = Serving::default();
    for api in &desired.config.apis {
        for stage in &api.stages {
            let pointer = desired.releases.stage(&api.name, stage.name.as_str());
            out.stages.insert(
                format!("{}/{}", api.name, stage.name.as_str()),
                StageServing {
                    deployment: pointer.and_then(|p| p.deployment.clone()),
                    canary: pointer
                        .and_then(|p| p.canary.as_ref())
                        .map(|c| (c.deployment.clone(), c.percent)),
                },
            );
        }
    }
    let store = desired
        .config
        .server
        .data_dir
        .as_deref()
        .map(|d| std::path::absolute(d.join("plugins")).unwrap_or_else(|_| d.join("plugins")));
    for plugin in desired
        .config
        .plugins
        .iter()
        .filter(|p| !p.name.contains('@'))
    {
        let component =
            std::path::absolute(&plugin.component).unwrap_or_else(|_| plugin.component.clone());
        let uploaded = store.as_deref().is_some_and(|s| component.starts_with(s));
        let version = match component.file_stem().and_then(|s| s.to_str()) {
            Some(sha256) if uploaded => sha256.to_owned(),
            _ => "file".to_owned(),
        };
        out.plugins.insert(plugin.name.clone(), version);
    }
    out
}
