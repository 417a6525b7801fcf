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
pub mod router;
pub mod snapshot;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use config::Config;
pub use gateway::{Gateway, StartError};

/// Runs the gateway for `config` until `shutdown` resolves.
///
/// `on_listening` is called once every listener is bound, with each
/// listener's name and the address it really bound.
pub async fn run(
    config: Config,
    on_listening: impl FnOnce(&[(String, SocketAddr)]),
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let gateway = Arc::new(Gateway::new(&config)?);
    let bound = listeners::bind(&config).await?;
    let addresses: Vec<(String, SocketAddr)> =
        bound.iter().map(|l| (l.name.clone(), l.address)).collect();
    on_listening(&addresses);
    listeners::serve(
        gateway.clone(),
        bound,
        &config.limits,
        config.server.shutdown_grace,
        shutdown,
    )
    .await;
    gateway.access_log().close();
    Ok(())
}
