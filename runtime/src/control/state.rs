//! The desired state, under one owner: the configuration (as the file says,
//! with the plugin versions and API keys the admin API added on top), the
//! stage pointers and deployments, and the file they are read from.
//!
//! Every change — a reload, an upload, a deploy, a key — takes the lock,
//! computes the next state, compiles it into a snapshot (anything wrong
//! leaves everything as it was), records it durably, and only then serves
//! it and makes it current. One change at a time; the request path never
//! takes this lock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::cluster::Cluster;
pub use super::cluster::follow::CatchUp;
use super::cluster::follow::serving;
use super::cluster::redis::{ClusterError, Lease};
use super::gateway::{Gateway, ReloadError};
use super::releases::Releases;
use crate::config::{ApiKeyConfig, Config, is_api_key_value, is_identifier};
use crate::store::{ApiKeyStore, ImportStore, PluginStore, StoredKey};
use crate::util::fs::{journaled, undo};

/// Reads and validates a configuration file, then applies what the admin
/// API recorded in `server.data_dir` (the active plugin versions, the API
/// keys created at run time), so that a restart serves exactly what was
/// served before.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = Config::read(path).map_err(|e| e.to_string())?;
    load_text(path, &text)
}

/// [`load`] for the file's `text` as read before: what the stores in
/// `server.data_dir` hold now, on top of the file as last loaded.
pub fn load_text(path: &Path, text: &str) -> Result<Config, String> {
    let config = Config::parse(text, &path.display().to_string()).map_err(|e| e.to_string())?;
    let Some(data_dir) = config.server.data_dir.clone() else {
        return Ok(config);
    };
    let store = ImportStore::new(&data_dir);
    let imports = store.list()?;
    if imports.is_empty() {
        return apply_stores(config, &data_dir);
    }
    let merged = crate::store::imports::with_imports(text, &imports, &store);
    let config = Config::parse(&merged, &path.display().to_string()).map_err(|e| e.to_string())?;
    apply_stores(config, &data_dir)
}

/// Applies the active plugin versions and the run-time API keys recorded
/// in `data_dir` to `config`.
pub fn apply_stores(mut config: Config, data_dir: &Path) -> Result<Config, String> {
    apply_active_versions(&PluginStore::new(data_dir), &mut config)?;
    for key in ApiKeyStore::new(data_dir).list()? {
        add_key(&mut config, &key)?;
    }
    Ok(config)
}

/// Points every plugin of `config` that has an active uploaded version at
/// that version.
fn apply_active_versions(store: &PluginStore, config: &mut Config) -> Result<(), String> {
    for plugin in &mut config.plugins {
        let active = store.active(&plugin.name).map_err(|e| {
            format!(
                "plugin `{}`: cannot read its active version: {e}",
                plugin.name
            )
        })?;
        if let Some(sha256) = active {
            let path = store.component_path(&plugin.name, &sha256);
            if !path.is_file() {
                return Err(format!(
                    "plugin `{}`: the active version {sha256} is missing from {}",
                    plugin.name,
                    path.display()
                ));
            }
            plugin.component = path;
        }
    }
    Ok(())
}

/// Adds `key` to `config` and to its usage plans, with the configuration
/// file's rules; says why not.
pub fn add_key(config: &mut Config, key: &StoredKey) -> Result<(), String> {
    if key.name.len() > 128 || !is_identifier(&key.name) {
        return Err(format!(
            "`{}` is not a valid key name (letters, digits, `_` and `-`)",
            key.name
        ));
    }
    if !is_api_key_value(&key.value) {
        return Err("an API key is 20 to 128 printable ASCII characters without spaces".into());
    }
    if let Some(other) = config.api_keys.iter().find(|k| k.name == key.name) {
        return Err(format!("an API key named `{}` exists already", other.name));
    }
    if let Some(other) = config.api_keys.iter().find(|k| k.value == key.value) {
        return Err(format!("API key `{}` has the same value", other.name));
    }
    let index = config.api_keys.len();
    for plan_name in &key.usage_plans {
        let Some(plan) = config.usage_plans.iter().find(|p| p.name == *plan_name) else {
            return Err(format!("no usage plan `{plan_name}` is configured"));
        };
        for (api, stage) in &plan.stages {
            let taken = config.usage_plans.iter().any(|other| {
                other.name != *plan_name
                    && key.usage_plans.contains(&other.name)
                    && other.stages.iter().any(|(a, s)| a == api && s == stage)
            });
            if taken {
                return Err(format!(
                    "usage plans `{}` cover the same stage `{stage}` of API `{api}`; a key can be in one plan per stage",
                    key.usage_plans.join("`, `")
                ));
            }
        }
    }
    config.api_keys.push(ApiKeyConfig {
        name: key.name.clone(),
        value: key.value.clone(),
        enabled: key.enabled,
    });
    for plan in &mut config.usage_plans {
        if key.usage_plans.contains(&plan.name) {
            plan.api_keys.push(index);
        }
    }
    Ok(())
}

/// Removes API key `name` from `config` and from its usage plans; `false`
/// if there is none.
pub fn remove_key(config: &mut Config, name: &str) -> bool {
    let Some(index) = config.api_keys.iter().position(|k| k.name == name) else {
        return false;
    };
    // Later keys move down one place; the plans' indexes follow.
    config.api_keys.remove(index);
    for plan in &mut config.usage_plans {
        plan.api_keys.retain(|&k| k != index);
        for k in &mut plan.api_keys {
            if *k > index {
                *k -= 1;
            }
        }
    }
    true
}

/// What the gateway should serve.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The configuration: the file's, with uploads and keys applied.
    pub config: Config,
    /// Stage pointers and the deployments they name.
    pub releases: Releases,
}

/// The owner of the desired state; see the module documentation.
pub struct Control {
    gateway: Arc<Gateway>,
    /// The file reloads (and deployments) read.
    config_path: Option<PathBuf>,
    /// The fleet, in cluster mode: changes to shared records are committed
    /// there before they are served, and other nodes' are applied here.
    cluster: Option<Arc<Cluster>>,
    desired: Mutex<Current>,
}

/// The desired state being served, and how many changes were served.
struct Current {
    desired: Desired,
    generation: u64,
    /// The configuration file's text as last loaded: a change another node
    /// made is applied on top of it, not on edits not yet reloaded.
    file_text: Option<String>,
}

impl Control {
    /// The owner of `desired`, which `gateway` serves already.
    pub fn new(gateway: Arc<Gateway>, config_path: Option<PathBuf>, desired: Desired) -> Control {
        let file_text = config_path
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok());
        Control {
            gateway,
            config_path,
            cluster: None,
            desired: Mutex::new(Current {
                desired,
                generation: 0,
                file_text,
            }),
        }
    }

    /// The same owner as a node of `cluster`.
    pub fn with_cluster(mut self, cluster: Arc<Cluster>) -> Control {
        cluster.set_serving(self.read(serving));
        self.cluster = Some(cluster);
        self
    }

    /// The fleet this node belongs to, in cluster mode.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, Current> {
        self.desired.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The configuration file, if the gateway was started from one.
    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }

    /// A copy of the desired state being served.
    pub fn current(&self) -> Desired {
        self.lock().desired.clone()
    }

    /// Reads the desired state being served without copying it.
    pub fn read<T>(&self, read: impl FnOnce(&Desired) -> T) -> T {
        read(&self.lock().desired)
    }

    /// Applies one change: `change` computes the next desired state from
    /// the current one; it is compiled, `record` writes it durably, and then
    /// it is served. An error from any step leaves everything as it was
    /// (apart from what `record` wrote before failing). Returns what
    /// `change` returned and the new generation: how many changes (reloads,
    /// uploads, deploys, keys) have been served since start.
    ///
    /// In cluster mode the node first takes the fleet's writers' lease and
    /// catches up with every change committed before; the shared records
    /// the change wrote are then committed to the fleet before the change
    /// is served. If that fails (Redis away: `Unavailable`; lease lost:
    /// `Conflict`) the records are put back and nothing changed. A change
    /// that writes no shared record (a reload) needs no Redis.
    pub fn change<T, E: From<ReloadError>>(
        &self,
        change: impl FnOnce(&Desired) -> Result<(Desired, T), E>,
        record: impl FnOnce(&Desired, &T) -> Result<(), E>,
    ) -> Result<(T, u64), E> {
        let metrics = crate::observe::Metrics::global();
        let mut current = self.lock();
        let lease = self
            .cluster
            .as_ref()
            .map(|cluster| cluster.lease().map_err(ReloadError::from));
        if let Some(Ok(_)) = &lease {
            // A change is made on top of every change committed before it.
            // If this node cannot apply them, a change of its own that
            // shares records fails the commit's check (409); one that does
            // not (a reload fixing what stopped it) goes ahead.
            let _ = self.catch_up_locked(&mut current);
        }
        let (applied, written) = journaled(|| -> Result<_, E> {
            let (next, outcome) = change(&current.desired)?;
            let snapshot = self.gateway.compile(&next.config, &next.releases)?;
            record(&next, &outcome)?;
            Ok((next, outcome, snapshot))
        });
        let committed = match (&self.cluster, &applied) {
            (Some(cluster), Ok(_)) => match &lease {
                Some(Ok(_)) => cluster.commit(&written).map_err(ReloadError::from),
                Some(Err(e)) if cluster.data_records(&written) => Err(e.clone()),
                _ => Ok(None),
            },
            _ => Ok(None),
        };
        self.release(lease);
        if let Err(e) = committed {
            undo(&written);
            metrics.changes_rejected.inc();
            return Err(E::from(e));
        }
        let (next, outcome, snapshot) = applied.inspect_err(|_| metrics.changes_rejected.inc())?;
        self.swap(&mut current, next, snapshot);
        Ok((outcome, current.generation))
    }

    /// Serves `snapshot`, compiled from `next`, and makes `next` current.
    fn swap(&self, current: &mut Current, next: Desired, snapshot: super::Snapshot) {
        let metrics = crate::observe::Metrics::global();
        self.gateway.serve(snapshot);
        if let Some(cluster) = &self.cluster {
            cluster.set_serving(serving(&next));
        }
        current.desired = next;
        current.generation += 1;
        metrics.changes_applied.inc();
        metrics
            .generation
            .store(current.generation, std::sync::atomic::Ordering::Relaxed);
    }

    fn release(&self, lease: Option<Result<Lease, ReloadError>>) {
        if let (Some(cluster), Some(Ok(lease))) = (&self.cluster, lease) {
            cluster.release(lease);
        }
    }

    /// The configuration text that defines what `api` serves on `stage` —
    /// its deployment's definition, or the file as last loaded with the
    /// imported APIs — and the file relative paths in it are read against;
    /// what `turnpike export openapi` reads. `None` without a file.
    pub fn definition_of(&self, api: &str, stage: &str) -> Option<(String, PathBuf)> {
        let current = self.lock();
        let path = self.config_path.clone()?;
        let deployed = current
            .desired
            .releases
            .stage(api, stage)
            .and_then(|s| s.deployment.as_deref())
            .and_then(|id| current.desired.releases.loaded(id));
        if let Some(deployment) = deployed {
            return Some((deployment.record.definition.clone(), path));
        }
        let text = current.file_text.clone()?;
        let Some(data_dir) = &current.desired.config.server.data_dir else {
            return Some((text, path));
        };
        let store = ImportStore::new(data_dir);
        let imports = store.list().ok()?;
        Some((
            crate::store::imports::with_imports(&text, &imports, &store),
            path,
        ))
    }

    /// Cluster mode: applies every change the fleet committed that this
    /// node does not serve yet. Returns the change it serves now.
    pub fn catch_up(&self) -> Result<u64, CatchUp> {
        let mut current = self.lock();
        self.catch_up_locked(&mut current)
    }

    fn catch_up_locked(&self, current: &mut Current) -> Result<u64, CatchUp> {
        let Some(cluster) = &self.cluster else {
            return Ok(0);
        };
        let (pulled, written) = journaled(|| cluster.pull());
        let seq = match pulled {
            Ok(None) => return Ok(cluster.applied()),
            Ok(Some(seq)) => seq,
            Err(ClusterError::Unavailable(_)) => {
                undo(&written);
                return Err(CatchUp::Unavailable);
            }
            Err(error) => {
                undo(&written);
                cluster.fail(None, &error.to_string());
                return Err(CatchUp::Failed(cluster.applied() + 1));
            }
        };
        let rebuilt = self.rebuild_from_data_dir(current).and_then(|next| {
            let snapshot = self
                .gateway
                .compile(&next.config, &next.releases)
                .map_err(|e| e.to_string())?;
            Ok((next, snapshot))
        });
        match rebuilt {
            Ok((next, snapshot)) => {
                self.swap(current, next, snapshot);
                cluster.applied_now(seq);
                tracing::info!(node = %cluster.node_id(), change = seq, "cluster: applied the fleet's changes");
                Ok(seq)
            }
            Err(why) => {
                undo(&written);
                crate::observe::Metrics::global().changes_rejected.inc();
                cluster.fail(Some(seq), &why);
                Err(CatchUp::Failed(seq))
            }
        }
    }

    /// The desired state as the configuration file (as last loaded) and
    /// the records in `data_dir` make it: what a restart would serve.
    fn rebuild_from_data_dir(&self, current: &Current) -> Result<Desired, String> {
        let (Some(path), Some(text)) = (&self.config_path, &current.file_text) else {
            return Err("cluster mode needs a configuration file".into());
        };
        let config = load_text(path, text)?;
        let releases = Releases::load(config.server.data_dir.as_deref())?;
        Ok(Desired { config, releases })
    }

    /// Rebuilds the snapshot from the desired state as it is, re-reading
    /// what it names from disk (certificates that changed): new handshakes
    /// use the new certificates, open connections keep theirs. Refused (the
    /// old keeps serving) if anything no longer loads.
    pub fn rebuild(&self) -> Result<u64, ReloadError> {
        self.change(|current| Ok((current.clone(), ())), |_, _| Ok(()))
            .map(|((), generation)| generation)
    }

    /// Every file the served TLS configuration reads (certificates, keys,
    /// truststores, revocation lists), to watch for changes.
    pub fn tls_files(&self) -> Vec<PathBuf> {
        self.read(|d| {
            let mut files = Vec::new();
            for listener in &d.config.listeners {
                for cert in listener.tls.iter().flat_map(|t| &t.settings.certificates) {
                    files.extend([cert.cert.clone(), cert.key.clone()]);
                }
            }
            for domain in &d.config.domains {
                if let Some(cert) = &domain.tls.certificate {
                    files.extend([cert.cert.clone(), cert.key.clone()]);
                }
                if let Some(mtls) = &domain.tls.mtls {
                    files.push(mtls.truststore.clone());
                    files.extend(mtls.crls.iter().cloned());
                }
            }
            files
        })
    }

    /// Re-reads the configuration file and serves it if it is valid. Used
    /// by `POST /reload` and SIGHUP. Returns the new generation.
    pub fn reload_from_file(&self) -> Result<u64, ReloadError> {
        let Some(path) = self.config_path.clone() else {
            return Err(ReloadError::NeedsRestart(
                "the gateway was not started from a file".into(),
            ));
        };
        let text = Config::read(&path).map_err(|e| ReloadError::Invalid(e.to_string()))?;
        let loaded = text.clone();
        let generation = self
            .change(
                |current| {
                    let config = load_text(&path, &loaded).map_err(ReloadError::Invalid)?;
                    Ok((
                        Desired {
                            config,
                            releases: current.releases.clone(),
                        },
                        (),
                    ))
                },
                |_, _| Ok::<(), ReloadError>(()),
            )
            .map(|((), generation)| generation)?;
        self.lock().file_text = Some(text);
        // A node that could not apply the fleet's changes with the old file
        // may be able to with the new one.
        if self.cluster.is_some() {
            let _ = self.catch_up();
        }
        Ok(generation)
    }
}
