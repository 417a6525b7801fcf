//! Durable control-plane state in `server.data_dir`: plugin versions,
//! API keys created and APIs imported at run time, deployments and stage pointers. Every file
//! is written with [`crate::util::fs::write_durably`].
//!
//! The store keeps records; it does not interpret them against a
//! configuration (that is `control::state` and `control::releases`).

pub mod deployments;
pub mod imports;
pub mod keys;
pub mod plugins;
pub mod portal;

pub use deployments::{
    CanaryState, DeploymentRecord, DeploymentStore, HISTORY_KEPT, Served, StageState,
};
pub use imports::ImportStore;
pub use keys::{ApiKeyStore, StoredKey};
pub use plugins::{PluginStore, StoredVersion, is_sha256};
