//! Turnpike: a self-hosted API gateway with Amazon API Gateway's model (APIs,
//! routes, integrations, stages, deployments, authorizers, usage plans) in
//! one binary, with WebAssembly plugins.
//!
//! `docs/architecture.md` is the map. In short, the modules, each with one
//! job, from the leaves up (a module uses only those above it in the list):
//!
//! - [`util`]: leaf helpers (calendar math, durable writes, header facts).
//! - [`router`]: route keys and matching, built once, pure afterwards.
//! - [`store`]: durable records in `server.data_dir`.
//! - [`tls`]: certificates, SNI, server TLS configurations, client certificates.
//! - [`config`]: the TOML file → raw → validated, typed [`Config`].
//! - [`observe`]: the access log.
//! - [`upstream`]: the client to origins, its pool, TLS client settings.
//! - [`plugin`]: the WebAssembly engine, worlds, instances, host functions.
//! - [`body`], [`error`]: the request path's bodies and its one error type.
//! - [`auth`]: authorizers (JWT, SigV4, Wasm) and their decision cache.
//! - [`usage`]: token buckets, quotas, Redis for shared limits.
//! - [`integrations`]: `http_proxy`, `mock`, `function`.
//! - [`control`]: desired state, compilation into a snapshot, the running
//!   gateway, the admin API.
//! - [`proxy`]: the request path — listeners, the context, the phases.
//! - [`server`]: process wiring: threads, signals, drain.
//! - [`cli`]: the `turnpike` command.

pub mod auth;
pub mod body;
pub mod cache;
pub mod cli;
pub mod config;
pub mod control;
pub mod error;
pub mod integrations;
pub mod lambda;
pub mod observe;
pub mod openapi;
pub mod plugin;
pub mod portal;
pub mod proxy;
pub mod router;
pub mod server;
pub mod store;
pub mod tls;
pub mod upstream;
pub mod usage;
pub mod util;
pub mod vtl;

pub use config::Config;
pub use control::state::load as load_config;
pub use control::{Gateway, StartError, check};
pub use server::{ADMIN_LISTENER, PORTAL_LISTENER, run};

#[cfg(test)]
mod layout;
