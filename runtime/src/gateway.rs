//! The running gateway: the current snapshot behind an atomic pointer, the
//! shared upstream client and the access log.

use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;

use crate::config::{AccessLogTarget, Config};
use crate::integrations::UpstreamClient;
use crate::limits::Registry;
use crate::observe::AccessLog;
use crate::plugin::PluginEngine;
use crate::release::Releases;
use crate::snapshot::Snapshot;

/// Shared state of a running gateway.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    /// The WebAssembly engine, created when the first plugin is configured
    /// (at start or by a reload).
    plugin_engine: OnceLock<PluginEngine>,
    upstream: UpstreamClient,
    access_log: AccessLog,
    /// What a reload may not change: the sockets are bound, the log open.
    fixed: FixedSettings,
    /// Serialises reloads; the snapshot swap itself needs no lock.
    reloading: Mutex<u64>,
    /// Stage pointers and deployments the snapshot was built with.
    releases: Mutex<Releases>,
    /// Rate-limit buckets and quotas, kept across rebuilds.
    limits: Registry,
}

/// Settings applied once at start; a reload that changes them is refused.
struct FixedSettings {
    listeners: Vec<(String, std::net::SocketAddr)>,
    access_log: AccessLogTarget,
    admin: Option<std::net::SocketAddr>,
    workers: Option<std::num::NonZeroUsize>,
    data_dir: Option<std::path::PathBuf>,
    usage_store: Option<crate::config::UsageStoreConfig>,
}

impl FixedSettings {
    fn of(config: &Config) -> FixedSettings {
        FixedSettings {
            listeners: config
                .listeners
                .iter()
                .map(|l| (l.name.clone(), l.address))
                .collect(),
            access_log: config.server.access_log.clone(),
            admin: config.admin.as_ref().map(|a| a.address),
            workers: config.server.workers,
            data_dir: config.server.data_dir.clone(),
            usage_store: config.usage_store.clone(),
        }
    }

    /// What differs in `config`, as a sentence, if anything.
    fn changed_in(&self, config: &Config) -> Option<String> {
        let new = FixedSettings::of(config);
        let mut changed = Vec::new();
        if new.listeners != self.listeners {
            changed.push("[[listeners]]");
        }
        if new.access_log != self.access_log {
            changed.push("server.access_log");
        }
        if new.admin != self.admin {
            changed.push("[admin] address");
        }
        if new.workers != self.workers {
            changed.push("server.workers");
        }
        if new.data_dir != self.data_dir {
            changed.push("server.data_dir");
        }
        if new.usage_store != self.usage_store {
            changed.push("[usage_store]");
        }
        (!changed.is_empty()).then(|| {
            format!(
                "{} changed; these apply only at start, restart the gateway for them",
                changed.join(", ")
            )
        })
    }
}

/// Why a reload was refused; the running configuration keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is not a valid configuration.
    #[error("{0}")]
    Invalid(String),
    /// The configuration is valid but changes start-only settings.
    #[error("{0}")]
    NeedsRestart(String),
    /// A plugin or route could not be compiled.
    #[error("{0}")]
    Compile(String),
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener's address could not be bound.
    #[error("listener `{listener}`: cannot bind {address}: {source}")]
    Bind {
        /// Listener name.
        listener: String,
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The access log could not be opened.
    #[error("cannot open the access log: {0}")]
    AccessLog(std::io::Error),
    /// The configuration could not be compiled.
    #[error("cannot compile the configuration: {0}")]
    Compile(String),
    /// A thread or runtime could not be started.
    #[error("cannot start the worker threads: {0}")]
    Runtime(std::io::Error),
    /// The configuration has no listener.
    #[error("the configuration has no [[listeners]]; nothing to serve on")]
    NoListeners,
}

impl Gateway {
    /// Compiles `config` and opens the access log.
    pub fn new(config: &Config) -> Result<Gateway, StartError> {
        let plugin_engine = OnceLock::new();
        let releases =
            Releases::load(config.server.data_dir.as_deref()).map_err(StartError::Compile)?;
        let store = config
            .usage_store
            .clone()
            .map(crate::redis_store::RedisStore::new)
            .transpose()
            .map_err(StartError::Compile)?
            .map(Arc::new);
        let limits = Registry::new(config.server.data_dir.as_deref(), store);
        let snapshot = engine_for(&plugin_engine, config, &releases)
            .and_then(|engine| Snapshot::build_with(config, &releases, &limits, engine))
            .map_err(StartError::Compile)?;
        let access_log =
            AccessLog::open(&config.server.access_log).map_err(StartError::AccessLog)?;
        Ok(Gateway {
            snapshot: ArcSwap::from_pointee(snapshot),
            plugin_engine,
            upstream: UpstreamClient::new(),
            access_log,
            fixed: FixedSettings::of(config),
            reloading: Mutex::new(0),
            releases: Mutex::new(releases),
            limits,
        })
    }

    /// Compiles `config` and, if everything compiles, makes it the one new
    /// requests get; requests in flight finish on the snapshot they started
    /// with. Anything wrong leaves the running configuration untouched.
    /// Returns how many reloads succeeded since start.
    pub fn reload(&self, config: &Config) -> Result<u64, ReloadError> {
        let mut generation = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let releases = self.releases();
        let snapshot = self.compile(config, &releases)?;
        self.swap_snapshot(snapshot);
        *generation += 1;
        Ok(*generation)
    }

    /// Compiles `config` with the stage pointers of `releases`, without
    /// serving it yet (see [`Gateway::install`]).
    pub fn compile(&self, config: &Config, releases: &Releases) -> Result<Snapshot, ReloadError> {
        if let Some(why) = self.fixed.changed_in(config) {
            return Err(ReloadError::NeedsRestart(why));
        }
        let engine =
            engine_for(&self.plugin_engine, config, releases).map_err(ReloadError::Compile)?;
        if let Some(engine) = engine
            && !engine.fuel()
            && all_plugins(config, releases).any(|p| p.fuel.is_some())
        {
            return Err(ReloadError::NeedsRestart(
                "a plugin now sets `fuel`, which changes how every plugin is compiled; restart the gateway for it".into(),
            ));
        }
        Snapshot::build_with(config, releases, &self.limits, engine).map_err(ReloadError::Compile)
    }

    /// Serves `snapshot`, compiled from `releases`, from now on.
    pub fn install(&self, snapshot: Snapshot, releases: Releases) {
        let mut current = self.releases.lock().unwrap_or_else(|e| e.into_inner());
        self.swap_snapshot(snapshot);
        *current = releases;
    }

    /// The stage pointers and deployments being served.
    pub fn releases(&self) -> Releases {
        self.releases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The snapshot current now; a request keeps it for its whole life.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replaces the snapshot; requests in flight keep the old one.
    pub fn swap_snapshot(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    /// The WebAssembly engine, if any plugin is configured.
    pub fn plugin_engine(&self) -> Option<&PluginEngine> {
        self.plugin_engine.get()
    }

    /// The upstream client.
    pub fn upstream(&self) -> &UpstreamClient {
        &self.upstream
    }

    /// The access log.
    pub fn access_log(&self) -> &AccessLog {
        &self.access_log
    }
}

/// Every plugin the file and the stages' deployments configure.
fn all_plugins<'a>(
    config: &'a Config,
    releases: &'a Releases,
) -> impl Iterator<Item = &'a crate::config::PluginConfig> {
    config.plugins.iter().chain(releases.deployed_plugins())
}

/// The engine, created on first need with settings for `config`'s plugins;
/// `None` while no plugin is configured.
fn engine_for<'a>(
    engine: &'a OnceLock<PluginEngine>,
    config: &Config,
    releases: &Releases,
) -> Result<Option<&'a PluginEngine>, String> {
    if all_plugins(config, releases).next().is_none() {
        return Ok(engine.get());
    }
    if let Some(engine) = engine.get() {
        return Ok(Some(engine));
    }
    let created = PluginEngine::new(all_plugins(config, releases).any(|p| p.fuel.is_some()))?;
    Ok(Some(engine.get_or_init(|| created)))
}
