//! The running gateway: the current snapshot behind an atomic pointer, the
//! shared upstream client and the access log.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::integrations::UpstreamClient;
use crate::observe::AccessLog;
use crate::plugin::{EngineOptions, PluginEngine, SlotReset};
use crate::snapshot::Snapshot;

/// Shared state of a running gateway.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    /// The WebAssembly engine, created only when some plugin is configured.
    plugin_engine: Option<PluginEngine>,
    upstream: UpstreamClient,
    access_log: AccessLog,
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
        let plugin_engine = if config.plugins.is_empty() {
            None
        } else {
            Some(
                PluginEngine::with_options(EngineOptions {
                    fuel: config.plugins.iter().any(|p| p.fuel.is_some()),
                    reset: slot_reset_for(config),
                    ..EngineOptions::default()
                })
                .map_err(StartError::Compile)?,
            )
        };
        let snapshot =
            Snapshot::build(config, plugin_engine.as_ref()).map_err(StartError::Compile)?;
        let access_log =
            AccessLog::open(&config.server.access_log).map_err(StartError::AccessLog)?;
        Ok(Gateway {
            snapshot: ArcSwap::from_pointee(snapshot),
            plugin_engine,
            upstream: UpstreamClient::new(),
            access_log,
        })
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
        self.plugin_engine.as_ref()
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

/// The pool's reset for the largest configured component (see
/// [`SlotReset::for_component_size`]).
fn slot_reset_for(config: &Config) -> SlotReset {
    let largest = config
        .plugins
        .iter()
        .filter_map(|p| Some((std::fs::metadata(&p.component).ok()?.len(), &p.name)))
        .max();
    match largest {
        Some((size, name)) => {
            let reset = SlotReset::for_component_size(size);
            if reset.pagemap_scan {
                tracing::info!(plugin = %name, "plugin with a language runtime: instance memory reset by dirtied pages");
            }
            reset
        }
        None => SlotReset::default(),
    }
}
