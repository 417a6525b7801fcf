//! The running gateway: the snapshot being served behind an atomic
//! pointer, and what outlives snapshots — the WebAssembly engine, the
//! upstream client, the access log, rate-limit buckets and quotas.
//!
//! The gateway serves; what it should serve (the configuration, uploads,
//! deployments, keys) is [`super::state`]'s to decide.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use super::compile;
use super::releases::Releases;
use super::snapshot::Snapshot;
use crate::config::{AccessLogTarget, Config};
use crate::observe::AccessLog;
use crate::plugin::{EngineOptions, PluginEngine};
use crate::upstream::UpstreamClient;
use crate::usage::Registry;
use crate::usage::redis::RedisStore;

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
    /// Rate-limit buckets, quotas and stage caches, kept across rebuilds.
    retained: compile::Retained,
    /// Per listener: TLS session caches and ticket keys, kept across
    /// rebuilds so that resumption survives reloads.
    sessions: Vec<crate::tls::Sessions>,
    /// The addresses the listeners really bound (port 0 resolved), once
    /// they are bound.
    bound: OnceLock<Vec<std::net::SocketAddr>>,
    /// Per listener: the `Alt-Svc` value advertising its HTTP/3 port.
    alt_svc: OnceLock<Vec<Option<http::HeaderValue>>>,
    /// Open WebSocket connections.
    connections: Arc<super::connections::Connections>,
    /// Cluster mode: how `@connections` reaches connections other nodes
    /// hold.
    relay: OnceLock<Arc<super::cluster::relay::Relay>>,
    /// Trace context for every request; spans to the collector when
    /// `[tracing]` says so.
    tracer: crate::observe::trace::Tracer,
}

/// Settings applied once at start; a reload that changes them is refused.
struct FixedSettings {
    /// Name, address, and whether HTTP/3 runs beside it (a UDP socket).
    listeners: Vec<(String, std::net::SocketAddr, bool)>,
    access_log: AccessLogTarget,
    access_log_format: crate::config::AccessLogFormat,
    tracing: Option<crate::config::TracingConfig>,
    admin: Option<std::net::SocketAddr>,
    workers: Option<std::num::NonZeroUsize>,
    data_dir: Option<std::path::PathBuf>,
    usage_store: Option<crate::config::UsageStoreConfig>,
    cluster: Option<crate::config::ClusterConfig>,
    portal: Option<crate::config::PortalConfig>,
    /// Set in the connection builders at start.
    header_read_timeout: std::time::Duration,
}

impl FixedSettings {
    fn of(config: &Config) -> FixedSettings {
        FixedSettings {
            listeners: config
                .listeners
                .iter()
                .map(|l| {
                    (
                        l.name.clone(),
                        l.address,
                        l.tls.as_ref().is_some_and(|t| t.http3),
                    )
                })
                .collect(),
            access_log: config.server.access_log.clone(),
            access_log_format: config.server.access_log_format.clone(),
            tracing: config.tracing.clone(),
            admin: config.admin.as_ref().map(|a| a.address),
            workers: config.server.workers,
            data_dir: config.server.data_dir.clone(),
            usage_store: config.usage_store.clone(),
            cluster: config.cluster.clone(),
            portal: config.portal.clone(),
            header_read_timeout: config.limits.header_read_timeout,
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
        if new.access_log_format != self.access_log_format {
            changed.push("server.access_log_format");
        }
        if new.tracing != self.tracing {
            changed.push("[tracing]");
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
        if new.cluster != self.cluster {
            changed.push("[cluster]");
        }
        if new.portal != self.portal {
            changed.push("[portal]");
        }
        if new.usage_store != self.usage_store {
            changed.push("[usage_store]");
        }
        if new.header_read_timeout != self.header_read_timeout {
            changed.push("limits.header_read_timeout");
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
#[derive(Debug, Clone, thiserror::Error)]
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
    /// Cluster mode: the shared store cannot be reached, so nothing that
    /// should reach every node can change (503).
    #[error("{0}; nothing changed")]
    Unavailable(String),
    /// Cluster mode: another node's change came first (409).
    #[error("{0}")]
    Conflict(String),
}

impl From<super::cluster::redis::ClusterError> for ReloadError {
    fn from(error: super::cluster::redis::ClusterError) -> ReloadError {
        use super::cluster::redis::ClusterError;
        match error {
            ClusterError::Unavailable(_) => ReloadError::Unavailable(error.to_string()),
            ClusterError::Conflict(why) => ReloadError::Conflict(why),
            ClusterError::Invalid(_) => ReloadError::Unavailable(error.to_string()),
        }
    }
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
    /// The trace exporter could not be set up.
    #[error("[tracing]: {0}")]
    Tracing(String),
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
    /// Compiles `config` with the stage pointers of `releases`, connects
    /// nothing yet (Redis on first use), and opens the access log.
    pub fn new(config: &Config, releases: &Releases) -> Result<Gateway, StartError> {
        let plugin_engine = OnceLock::new();
        let store = config
            .usage_store
            .clone()
            .map(RedisStore::new)
            .transpose()
            .map_err(StartError::Compile)?
            .map(Arc::new);
        let retained =
            compile::Retained::new(Registry::new(config.server.data_dir.as_deref(), store));
        let sessions: Vec<crate::tls::Sessions> = config
            .listeners
            .iter()
            .map(|_| crate::tls::Sessions::default())
            .collect();
        let snapshot = engine_for(&plugin_engine, config, releases, false)
            .and_then(|engine| compile::build(config, releases, &retained, engine, &sessions, &[]))
            .map_err(StartError::Compile)?;
        let access_log =
            AccessLog::open(&config.server.access_log, &config.server.access_log_format)
                .map_err(StartError::AccessLog)?;
        let tracer = crate::observe::trace::Tracer::new(config.tracing.as_ref())
            .map_err(StartError::Tracing)?;
        start_health_checks(&snapshot);
        Ok(Gateway {
            snapshot: ArcSwap::from_pointee(snapshot),
            plugin_engine,
            upstream: UpstreamClient::new(),
            access_log,
            fixed: FixedSettings::of(config),
            retained,
            sessions,
            bound: OnceLock::new(),
            alt_svc: OnceLock::new(),
            connections: Arc::default(),
            relay: OnceLock::new(),
            tracer,
        })
    }

    /// Compiles `config` with the stage pointers of `releases`, without
    /// serving it yet (see [`Gateway::serve`]). Anything wrong leaves the
    /// running snapshot untouched.
    pub fn compile(&self, config: &Config, releases: &Releases) -> Result<Snapshot, ReloadError> {
        if let Some(why) = self.fixed.changed_in(config) {
            return Err(ReloadError::NeedsRestart(why));
        }
        let engine = engine_for(&self.plugin_engine, config, releases, false)
            .map_err(ReloadError::Compile)?;
        if let Some(engine) = engine
            && !engine.fuel()
            && all_plugins(config, releases).any(|p| p.fuel.is_some())
        {
            return Err(ReloadError::NeedsRestart(
                "a plugin now sets `fuel`, which changes how every plugin is compiled; restart the gateway for it".into(),
            ));
        }
        let previous = &self.snapshot.load().upstreams;
        compile::build(
            config,
            releases,
            &self.retained,
            engine,
            &self.sessions,
            previous,
        )
        .map_err(ReloadError::Compile)
    }

    /// Records the addresses the listeners bound, in configuration order.
    pub fn set_bound(&self, addresses: Vec<std::net::SocketAddr>) {
        let alt_svc = addresses
            .iter()
            .zip(&self.fixed.listeners)
            .map(|(address, (_, _, http3))| {
                // A day, as the HTTP/3 servers of large sites advertise.
                http3
                    .then(|| format!("h3=\":{}\"; ma=86400", address.port()))
                    .and_then(|v| http::HeaderValue::try_from(v).ok())
            })
            .collect();
        let _ = self.alt_svc.set(alt_svc);
        let _ = self.bound.set(addresses);
    }

    /// The `Alt-Svc` value of listener `index`, if it serves HTTP/3.
    pub fn alt_svc(&self, index: usize) -> Option<&http::HeaderValue> {
        self.alt_svc.get()?.get(index)?.as_ref()
    }

    /// The address listener `index` bound, once bound.
    pub fn bound(&self, index: usize) -> Option<std::net::SocketAddr> {
        self.bound.get()?.get(index).copied()
    }

    /// Serves `snapshot` from now on; requests in flight finish on the one
    /// they started with.
    pub fn serve(&self, snapshot: Snapshot) {
        start_health_checks(&snapshot);
        self.snapshot.store(Arc::new(snapshot));
    }

    /// The snapshot current now; a request keeps it for its whole life.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// `limits.body_read_timeout` of the current snapshot, for a new
    /// request's body.
    pub fn body_read_timeout(&self) -> std::time::Duration {
        self.snapshot.load().limits.body_read_timeout
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

    /// Rate-limit buckets, quotas and calls per key, kept across rebuilds.
    pub fn limits(&self) -> &crate::usage::Registry {
        &self.retained.limits
    }

    /// Cluster mode: the relay to connections other nodes hold.
    pub fn relay(&self) -> Option<&Arc<super::cluster::relay::Relay>> {
        self.relay.get()
    }

    /// Cluster mode: relays `@connections` calls through `relay`.
    pub fn set_relay(&self, relay: Arc<super::cluster::relay::Relay>) {
        let _ = self.relay.set(relay);
    }

    /// Open WebSocket connections.
    pub fn connections(&self) -> &Arc<super::connections::Connections> {
        &self.connections
    }

    /// The trace context source and span exporter.
    pub fn tracer(&self) -> &crate::observe::trace::Tracer {
        &self.tracer
    }

    /// The response cache of `api`/`stage`, if the stage has one.
    pub fn stage_cache(&self, api: &str, stage: &str) -> Option<Arc<crate::cache::StageCache>> {
        // The snapshot's, not the registry's: a compile that failed after
        // making a new cache never served it.
        let snapshot = self.snapshot();
        let api = snapshot.apis.iter().find(|a| a.name == api)?;
        let stage = api.stages.iter().find(|s| s.name == stage)?;
        stage.main.stage.cache.clone()
    }
}

/// Compiles everything `config` needs, as `serve` would, without serving
/// it: plugins compiled and linked in an engine that never runs them, JWT
/// key files read. Opens no log, starts no thread of its own, connects to
/// nothing and writes nothing (the compiled-plugin cache is only read).
pub fn check(config: &Config) -> Result<(), StartError> {
    let engine = OnceLock::new();
    let releases = Releases::default();
    let engine = engine_for(&engine, config, &releases, true).map_err(StartError::Compile)?;
    compile::build(
        config,
        &releases,
        &compile::Retained::new(Registry::new(None, None)),
        engine,
        &[],
        &[],
    )
    .map(drop)
    .map_err(StartError::Compile)
}

/// Health checks run for the upstreams of the snapshot being served (each
/// stops once its cluster is dropped with the snapshot).
fn start_health_checks(snapshot: &Snapshot) {
    for cluster in &snapshot.upstreams {
        cluster.start_health_checks();
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
    check_only: bool,
) -> Result<Option<&'a PluginEngine>, String> {
    if all_plugins(config, releases).next().is_none() {
        return Ok(engine.get());
    }
    if let Some(engine) = engine.get() {
        return Ok(Some(engine));
    }
    let created = PluginEngine::with_options(EngineOptions {
        fuel: all_plugins(config, releases).any(|p| p.fuel.is_some()),
        check_only,
        ..EngineOptions::default()
    })?;
    Ok(Some(engine.get_or_init(|| created)))
}
