//! The control plane: what the gateway should serve and how a change gets
//! there.
//!
//! - [`state`]: the desired state (configuration, uploads, keys, stage
//!   pointers) under one owner, and how a change is applied.
//! - [`releases`]: deployments and stage pointers.
//! - [`compile`]: configuration + releases → [`snapshot::Snapshot`].
//! - [`gateway`]: the snapshot being served, swapped atomically, and what
//!   outlives snapshots.
//! - [`connections`]: the open WebSocket connections, for `@connections`.
//! - [`cluster`]: cluster mode, the fleet's shared state in Redis.
//! - [`admin`]: the admin API over all of it.
//!
//! Life of a change: file, upload or admin call → validate
//! ([`crate::config`]) → next desired state → compile (plugins loaded,
//! routes built) → record durably ([`crate::store`]) → swap the snapshot.

pub mod admin;
pub mod cluster;
pub mod compile;
pub mod connections;
pub mod gateway;
pub mod releases;
pub mod snapshot;
pub mod state;

pub use gateway::{Gateway, ReloadError, StartError, check};
pub use snapshot::Snapshot;
pub use state::{Control, Desired};
