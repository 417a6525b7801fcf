//! The admin API's request and response bodies: one set of serde types that
//! the server's handlers produce and the CLI reads, so that renaming a field
//! breaks the build instead of the CLI.
//!
//! JSON field names are camelCase, as API Gateway's own API writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::store::{CanaryState, Served, StoredVersion};

/// `GET @connections/ID`: API Gateway's `GetConnection` answer, with the
/// API and stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// When the connection opened (RFC 3339).
    pub connected_at: String,
    /// When it last carried a message either way.
    pub last_active_at: String,
    /// Who is connected.
    pub identity: ConnectionIdentity,
    /// The API.
    pub api: String,
    /// The stage.
    pub stage: String,
}

/// The client of a WebSocket connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionIdentity {
    /// The client's address.
    pub source_ip: String,
    /// The client's `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// The body of every refusal: `message`, and with some the `reason` or the
/// list of `problems`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub message: String,
    /// Why a component was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every problem of a rejected configuration, one per line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl ErrorBody {
    /// A refusal with just a message.
    pub fn message(message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            message: message.into(),
            ..ErrorBody::default()
        }
    }
}

/// `GET /healthz`, `GET /readyz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, `ready` or `not ready`.
    pub status: String,
}

/// `POST /reload`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reloaded {
    /// Always `reloaded`.
    pub status: String,
    /// Changes served since start: reloads, plugin uploads and activations,
    /// deployments and stage changes, API key changes.
    pub generation: u64,
}

/// `PUT /plugins/NAME` and `PUT /plugins/NAME/active`: the version now
/// serving.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginActivated {
    /// The plugin.
    pub name: String,
    /// Always true: the version serves when this answer arrives.
    pub active: bool,
    /// The version.
    pub version: PluginVersion,
}

/// `PUT /plugins/NAME/active`: which version to serve.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// A stored version's sha256, or the configuration file's version's.
    pub sha256: String,
}

/// One version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersion {
    /// Hex sha256 of the component bytes.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// The world it implements.
    pub world: String,
    /// When it was uploaded (or captured by a deployment); absent for the
    /// configuration file's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
    /// `file` (the component the configuration file names) or `upload`.
    pub source: VersionSource,
}

/// Where a plugin version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionSource {
    /// The component the configuration file names.
    File,
    /// Uploaded through the admin API, or stored by a deployment.
    Upload,
}

impl PluginVersion {
    /// A stored version.
    pub fn uploaded(stored: StoredVersion) -> PluginVersion {
        PluginVersion {
            sha256: stored.sha256,
            size: stored.size,
            world: stored.world,
            uploaded_at: Some(stored.uploaded_at),
            source: VersionSource::Upload,
        }
    }
}

/// `GET /plugins`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginList {
    /// Every configured plugin.
    pub plugins: Vec<PluginView>,
    /// The engines' instance pools, when a plugin is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<InstancePool>,
}

/// A configured plugin and its versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginView {
    /// Its name.
    pub name: String,
    /// Its world.
    pub world: String,
    /// The component file serving now.
    pub component: String,
    /// The sha256 of the version serving now.
    pub active: Option<String>,
    /// The version the configuration file names (if it can be read), which
    /// `PUT /plugins/NAME/active` can bring back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PluginVersion>,
    /// The stored versions, newest first.
    pub versions: Vec<PluginVersion>,
}

/// How full the WebAssembly instance pools are.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct InstancePool {
    /// Component instances alive: serving a request, or idle for reuse.
    pub live: u64,
    /// Instances the pools have room for.
    pub capacity: u64,
}

/// `DELETE /plugins/NAME/versions/SHA256`, `DELETE /api-keys/NAME`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Removed {
    /// What was removed.
    pub removed: String,
}

/// `POST /apis/API/deployments`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// A stage to serve the new deployment on at once.
    #[serde(default)]
    pub stage: Option<String>,
    /// A note kept with the deployment.
    #[serde(default)]
    pub description: String,
}

/// `PUT /apis/API/stages/STAGE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointRequest {
    /// The stored deployment the stage serves.
    pub deployment: String,
}

/// `POST /apis/API/stages/STAGE/rollback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// A deployment the stage served earlier; default: the one before.
    #[serde(default)]
    pub deployment: Option<String>,
}

/// `PUT /apis/API/stages/STAGE/canary`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryRequest {
    /// Share of the stage's requests, 0 to 100.
    pub percent: f64,
    /// A stored deployment; default: a new one of the file as it is now.
    #[serde(default)]
    pub deployment: Option<String>,
    /// Stage variables the canary overrides.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// A note kept with a new deployment.
    #[serde(default)]
    pub description: String,
}

/// A stage and what it serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageView {
    /// The API.
    pub api: String,
    /// The stage.
    pub stage: String,
    /// The deployment it serves (`null`: the configuration file).
    pub deployment: Option<String>,
    /// Stage variables overridden on top of the file's.
    pub variables: BTreeMap<String, String>,
    /// Its canary.
    pub canary: Option<CanaryState>,
    /// What it served before, oldest first.
    pub history: Vec<Served>,
}

/// `POST /apis/API/deployments`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCreated {
    /// Its id.
    pub id: String,
    /// The API.
    pub api: String,
    /// When it was created, RFC 3339.
    pub created_at: String,
    /// The note kept with it.
    pub description: String,
    /// Plugins pinned: name → sha256.
    pub plugins: BTreeMap<String, String>,
    /// The stage now serving it, if one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<StageView>,
}

/// `GET /apis/API/deployments`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentList {
    /// Newest first.
    pub deployments: Vec<DeploymentSummary>,
}

/// A stored deployment, without its definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSummary {
    /// Its id.
    pub id: String,
    /// When it was created, RFC 3339.
    pub created_at: String,
    /// The note kept with it.
    pub description: String,
    /// Plugins pinned: name → sha256.
    pub plugins: BTreeMap<String, String>,
}

/// `GET /apis`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiList {
    /// Every API of the running configuration.
    pub apis: Vec<ApiView>,
}

/// An API and its stages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiView {
    /// Its name.
    pub name: String,
    /// Its stages.
    pub stages: Vec<StageSummary>,
}

/// A stage in [`ApiView`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageSummary {
    /// Its name.
    pub name: String,
    /// The deployment it serves (`null`: the configuration file).
    pub deployment: Option<String>,
    /// Stage variables overridden on top of the file's.
    pub variables: BTreeMap<String, String>,
    /// Its canary.
    pub canary: Option<CanaryState>,
}

/// `GET /recent-errors`: the last failed requests that were not the
/// client's fault, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct RecentErrors {
    /// At most 50.
    pub errors: Vec<crate::observe::metrics::ErrorRecord>,
}

/// `GET|DELETE /apis/API/stages/STAGE/cache`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheView {
    /// The API.
    pub api: String,
    /// The stage.
    pub stage: String,
    /// Bytes the cache may hold.
    pub capacity_bytes: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes they weigh.
    pub bytes: u64,
    /// Entries a flush removed (`DELETE` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flushed: Option<u64>,
}

/// `POST /api-keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateKeyRequest {
    /// The key's name.
    pub name: String,
    /// The value clients send; default: 40 random letters and digits.
    #[serde(default)]
    pub value: Option<String>,
    /// Whether it is enabled (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Usage plans to put it in.
    #[serde(default)]
    pub usage_plans: Vec<String>,
}

fn yes() -> bool {
    true
}

/// `PATCH /api-keys/NAME`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    /// Enable or disable it.
    pub enabled: bool,
}

/// `POST /api-keys`: the only answer that shows the value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCreated {
    /// Its name.
    pub name: String,
    /// What clients send in `x-api-key`.
    pub value: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its usage plans.
    pub usage_plans: Vec<String>,
    /// When it was created, RFC 3339.
    pub created_at: String,
}

/// `PATCH /api-keys/NAME`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyChanged {
    /// Its name.
    pub name: String,
    /// Whether it is enabled now.
    pub enabled: bool,
    /// Its usage plans.
    pub usage_plans: Vec<String>,
}

/// `GET /api-keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    /// Every key, without values.
    pub api_keys: Vec<KeyView>,
}

/// A key in [`KeyList`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// Its name.
    pub name: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its usage plans.
    pub usage_plans: Vec<String>,
    /// `config` (the file) or `admin` (created through the admin API).
    pub source: String,
}

/// `POST /apis/NAME/import`: the API imported and serving.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiImported {
    /// The API's name.
    pub api: String,
    /// Routes now served.
    pub routes_imported: usize,
    /// Routes left out (unsupported integrations, `partial`).
    pub routes_left_out: usize,
    /// The import report, one finding per line.
    pub report: Vec<String>,
    /// Changes served since start.
    pub generation: u64,
}

/// `GET /cluster`: the fleet as this node sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// The fleet's name (`cluster.name`).
    pub cluster: String,
    /// The node that answered.
    pub node: String,
    /// The number of the last change committed to the fleet (`None`: Redis
    /// could not be asked).
    pub head: Option<u64>,
    /// Whether Redis answered.
    pub redis: RedisHealth,
    /// Every node with a live heartbeat (only this one when Redis is away).
    pub nodes: Vec<NodeView>,
}

/// Whether the fleet's Redis answered, and if not why.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisHealth {
    /// It answered.
    pub reachable: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One node in [`ClusterView`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// What it reported in its last heartbeat.
    #[serde(flatten)]
    pub status: crate::control::cluster::NodeStatus,
    /// It has not applied the last committed change.
    pub lagging: bool,
    /// It could not apply a change (see `failure`).
    pub failing: bool,
}
