//! Turnpike: a self-hosted API gateway with Amazon API Gateway's model (APIs,
//! routes, integrations, stages) in one binary.
//!
//! The binary (`src/main.rs`) only parses the command line; everything else
//! lives here so that tests and benchmarks use the same code.

pub mod body;
pub mod config;
pub mod error;
pub mod gateway;
pub mod integrations;
pub mod listeners;
pub mod observe;
pub mod pipeline;
pub mod plugin;
pub mod router;
pub mod scaffold;
pub mod snapshot;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use config::Config;
pub use gateway::{Gateway, StartError};

/// Checks everything `serve` would load before serving: the configuration
/// is already valid; this compiles and links its plugins.
pub fn check(config: &Config) -> Result<(), StartError> {
    Gateway::new(config).map(|_| ())
}

/// Runs the gateway for `config` until `shutdown` resolves.
///
/// `on_listening` is called once every listener is bound, with each
/// listener's name and the address it really bound. The calling thread waits
/// for `shutdown` on a small runtime of its own while worker threads serve.
pub fn run(
    config: Config,
    on_listening: impl FnOnce(&[(String, SocketAddr)]),
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let gateway = Arc::new(Gateway::new(&config)?);
    let bound = listeners::bind(&config)?;
    let addresses: Vec<(String, SocketAddr)> =
        bound.iter().map(|l| (l.name.clone(), l.address)).collect();
    let workers = config
        .server
        .workers
        .map(|w| w.get())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let limits = config.limits.clone();
    let grace = config.server.shutdown_grace;
    let serving_gateway = gateway.clone();
    let serving = std::thread::Builder::new()
        .name("turnpike-serve".into())
        .spawn(move || listeners::serve(serving_gateway, bound, &limits, workers, grace, stop_rx))
        .map_err(StartError::Runtime)?;
    on_listening(&addresses);
    control.block_on(async {
        shutdown.await;
        tracing::info!(grace = ?grace, "shutting down: no new connections, finishing requests in flight");
    });
    let _ = stop_tx.send(true);
    match serving.join() {
        Ok(Ok(())) => tracing::info!("all connections finished"),
        Ok(Err(error)) => tracing::error!(%error, "a worker could not start"),
        Err(_) => tracing::error!("a worker thread panicked"),
    }
    gateway.access_log().close();
    Ok(())
}
