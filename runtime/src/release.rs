//! Deployments and stage pointers: the durable release state behind
//! `turnpike deploy`, `rollback` and `canary`, kept in `server.data_dir`.
//!
//! ```text
//! DATA_DIR/deployments/API/ID.json   one deployment, never changed once written
//! DATA_DIR/stages/API/STAGE.json     which deployment a stage serves, its
//!                                    canary and the deployments it served before
//! ```
//!
//! A deployment is an immutable snapshot of one API: its routes,
//! integrations, authorizers, policy and CORS as TOML, with every plugin it
//! uses pinned to the sha256 of the component stored beside the uploads. A
//! stage without a pointer follows the configuration file (and reloads); a
//! stage with one serves its deployment until the next deploy or rollback.
//!
//! Files are replaced with [`write_durably`]; a deployment is written before
//! any pointer names it, so a crash leaves the old state or the new one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Config, IntegrationConfig, PluginConfig, StageName};
use crate::store::{PluginStore, StoredVersion, write_durably};

/// One deployment as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// Its id: ten lower-case letters and digits.
    pub id: String,
    /// The API it is a snapshot of.
    pub api: String,
    /// When it was created, RFC 3339.
    pub created_at: String,
    /// What the release engineer said about it.
    #[serde(default)]
    pub description: String,
    /// Every plugin it uses, pinned: name → sha256 of the stored component.
    pub plugins: BTreeMap<String, String>,
    /// The API's definition: a configuration holding only this API and its
    /// plugins, every path absolute.
    pub definition: String,
}

/// A deployment loaded and validated, ready to compile.
#[derive(Debug)]
pub struct Deployment {
    /// The stored record.
    pub record: DeploymentRecord,
    /// Its definition, parsed; `apis[0]` is the API.
    pub config: Config,
}

/// A canary on a stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CanaryState {
    /// The deployment the canary serves.
    pub deployment: String,
    /// Share of the stage's requests it serves, 0 to 100.
    pub percent: f64,
    /// Stage variables the canary overrides.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// What a stage served before a change, so that a rollback can restore it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Served {
    /// The deployment (`None`: the configuration file).
    pub deployment: Option<String>,
    /// Stage variables overridden on top of the configuration file's.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// A stage's pointer file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageState {
    /// The deployment the stage serves (`None`: it follows the file).
    pub deployment: Option<String>,
    /// Stage variables overridden on top of the configuration file's (set
    /// by promoting a canary that had overrides).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// The canary, if one is set.
    #[serde(default)]
    pub canary: Option<CanaryState>,
    /// What the stage served before, oldest first.
    #[serde(default)]
    pub history: Vec<Served>,
}

impl StageState {
    /// The deployments the stage serves now: its own and its canary's.
    pub fn served(&self) -> impl Iterator<Item = &str> {
        self.deployment
            .iter()
            .chain(self.canary.as_ref().map(|c| &c.deployment))
            .map(String::as_str)
    }
    /// Points the stage at `deployment`, remembering what it served.
    pub fn deploy(&mut self, deployment: String, variables: BTreeMap<String, String>) {
        self.history.push(Served {
            deployment: self.deployment.take(),
            variables: std::mem::take(&mut self.variables),
        });
        // Bounded: a stage deployed every few minutes for years stays small.
        if self.history.len() > HISTORY_KEPT {
            self.history.remove(0);
        }
        self.deployment = Some(deployment);
        self.variables = variables;
    }
}

/// How many earlier deployments a stage remembers for rollbacks.
pub const HISTORY_KEPT: usize = 50;

/// Why a release call was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// No such API, stage or deployment: 404.
    #[error("{0}")]
    NotFound(String),
    /// The call makes no sense in the current state: 409.
    #[error("{0}")]
    Conflict(String),
    /// The request or the file it would deploy is invalid: 400.
    #[error("{0}")]
    Invalid(String),
    /// The data directory could not be written or read: 500.
    #[error("{0}")]
    Storage(String),
}

/// The release state: stage pointers and the deployments they name.
#[derive(Debug, Clone, Default)]
pub struct Releases {
    data_dir: Option<PathBuf>,
    /// Pointer files by (API, stage).
    stages: BTreeMap<(String, String), StageState>,
    /// Deployments named by some pointer, by id.
    deployments: HashMap<String, Arc<Deployment>>,
}

impl Releases {
    /// Reads every stage pointer in `data_dir` and the deployments they
    /// name. Without a data directory there are none.
    pub fn load(data_dir: Option<&Path>) -> Result<Releases, String> {
        let mut releases = Releases {
            data_dir: data_dir.map(Path::to_path_buf),
            ..Releases::default()
        };
        let Some(data_dir) = data_dir else {
            return Ok(releases);
        };
        let stages_dir = data_dir.join("stages");
        for (api, api_dir) in subfolders(&stages_dir)? {
            let entries = std::fs::read_dir(&api_dir)
                .map_err(|e| format!("cannot list {}: {e}", api_dir.display()))?;
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                let Some(stage) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                    .filter(|n| !n.starts_with('.'))
                else {
                    continue;
                };
                let state: StageState = read_json(&path)?;
                releases
                    .stages
                    .insert((api.clone(), stage.to_owned()), state);
            }
        }
        let named: Vec<(String, String)> = releases
            .stages
            .iter()
            .flat_map(|((api, _), state)| {
                // Only what is served; earlier ones load when rolled back to.
                state.served().map(move |id| (api.clone(), id.to_owned()))
            })
            .collect();
        for (api, id) in named {
            if !releases.deployments.contains_key(&id) {
                let deployment = releases.read_deployment(&api, &id)?;
                releases.deployments.insert(id, Arc::new(deployment));
            }
        }
        Ok(releases)
    }

    fn data_dir(&self) -> Result<&Path, ReleaseError> {
        self.data_dir.as_deref().ok_or_else(|| {
            ReleaseError::Conflict("deployments need server.data_dir, where they are kept".into())
        })
    }

    fn deployment_path(data_dir: &Path, api: &str, id: &str) -> PathBuf {
        data_dir
            .join("deployments")
            .join(api)
            .join(format!("{id}.json"))
    }

    fn stage_path(data_dir: &Path, api: &str, stage: &str) -> PathBuf {
        data_dir
            .join("stages")
            .join(api)
            .join(format!("{stage}.json"))
    }

    fn read_deployment(&self, api: &str, id: &str) -> Result<Deployment, String> {
        let data_dir = self.data_dir.as_deref().ok_or("no server.data_dir")?;
        if !is_deployment_id(id) {
            return Err(format!("`{id}` is not a deployment id"));
        }
        let path = Releases::deployment_path(data_dir, api, id);
        let record: DeploymentRecord = read_json(&path)?;
        let config = Config::parse(&record.definition, &path.display().to_string())
            .map_err(|e| format!("deployment {id} of API `{api}` no longer validates: {e}"))?;
        Ok(Deployment { record, config })
    }

    /// The stage's pointer file, if it has one.
    pub fn stage(&self, api: &str, stage: &str) -> Option<&StageState> {
        self.stages.get(&(api.to_owned(), stage.to_owned()))
    }

    /// Every stage pointer, by (API, stage).
    pub fn stages(&self) -> impl Iterator<Item = (&(String, String), &StageState)> {
        self.stages.iter()
    }

    /// A deployment named by some pointer, or stored for `api`.
    pub fn deployment(&self, api: &str, id: &str) -> Result<Arc<Deployment>, ReleaseError> {
        if let Some(d) = self.deployments.get(id) {
            return if d.record.api == api {
                Ok(d.clone())
            } else {
                Err(ReleaseError::NotFound(format!(
                    "deployment {id} is not a deployment of API `{api}`"
                )))
            };
        }
        let data_dir = self.data_dir()?;
        if !is_deployment_id(id) || !Releases::deployment_path(data_dir, api, id).is_file() {
            return Err(ReleaseError::NotFound(format!(
                "API `{api}` has no deployment `{id}`"
            )));
        }
        self.read_deployment(api, id)
            .map(Arc::new)
            .map_err(ReleaseError::Storage)
    }

    /// The plugins of every loaded deployment.
    pub fn deployed_plugins(&self) -> impl Iterator<Item = &PluginConfig> {
        self.deployments
            .values()
            .flat_map(|d| d.config.plugins.iter())
    }

    /// The deployment a loaded pointer names (see [`Releases::load`]).
    pub fn loaded(&self, id: &str) -> Option<&Arc<Deployment>> {
        self.deployments.get(id)
    }

    /// Every stored deployment of `api`, newest first.
    pub fn list(&self, api: &str) -> Vec<DeploymentRecord> {
        let Some(data_dir) = self.data_dir.as_deref() else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(data_dir.join("deployments").join(api)) else {
            return Vec::new();
        };
        let mut records: Vec<DeploymentRecord> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| read_json(&e.path()).ok())
            .collect();
        records.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        records
    }

    /// Sha256 digests of plugin `name` that a stored deployment pins, so
    /// that they are not removed from the store.
    pub fn pinned_digests(&self, plugin: &str) -> Vec<String> {
        let Some(data_dir) = self.data_dir.as_deref() else {
            return Vec::new();
        };
        let Ok(apis) = subfolders(&data_dir.join("deployments")) else {
            return Vec::new();
        };
        apis.iter()
            .flat_map(|(api, _)| self.list(api))
            .filter_map(|r| r.plugins.get(plugin).cloned())
            .collect()
    }

    /// A copy with stage `api`/`stage` changed by `change`, the deployments
    /// it names loaded; nothing is written until [`Releases::persist`].
    pub fn with_stage(
        &self,
        api: &str,
        stage: &str,
        added: Option<Arc<Deployment>>,
        change: impl FnOnce(&mut StageState) -> Result<(), ReleaseError>,
    ) -> Result<Releases, ReleaseError> {
        let mut next = self.clone();
        if let Some(d) = added {
            next.deployments.insert(d.record.id.clone(), d);
        }
        let state = next
            .stages
            .entry((api.to_owned(), stage.to_owned()))
            .or_default();
        change(state)?;
        let ids: Vec<String> = state.served().map(str::to_owned).collect();
        for id in ids {
            if !next.deployments.contains_key(&id) {
                let deployment = next.deployment(api, &id)?;
                next.deployments.insert(id, deployment);
            }
        }
        Ok(next)
    }

    /// Writes the stage pointer of `api`/`stage` as it is in `self`.
    pub fn persist(&self, api: &str, stage: &str) -> Result<(), ReleaseError> {
        let data_dir = self.data_dir()?;
        let state = self.stage(api, stage).cloned().unwrap_or_default();
        let bytes =
            serde_json::to_vec_pretty(&state).map_err(|e| ReleaseError::Storage(e.to_string()))?;
        write_durably(&Releases::stage_path(data_dir, api, stage), &bytes).map_err(|e| {
            ReleaseError::Storage(format!("cannot record stage `{stage}` of API `{api}`: {e}"))
        })
    }

    /// Snapshots API `api` as `file` (the configuration file, as read now and
    /// with the active plugin versions) defines it: stores the components of
    /// the plugins it uses and writes the deployment. Returns it loaded.
    pub fn create(
        &self,
        file: &Path,
        api: &str,
        description: &str,
    ) -> Result<Arc<Deployment>, ReleaseError> {
        let data_dir = self.data_dir()?.to_path_buf();
        let config = crate::load_config(file).map_err(|e| {
            ReleaseError::Invalid(format!("the configuration file does not validate:\n{e}"))
        })?;
        let text = std::fs::read_to_string(file)
            .map_err(|e| ReleaseError::Invalid(format!("cannot read {}: {e}", file.display())))?;
        let Some(api_index) = config.apis.iter().position(|a| a.name == api) else {
            return Err(ReleaseError::NotFound(format!(
                "{} defines no API `{api}`",
                file.display()
            )));
        };
        let store = PluginStore::new(&data_dir);
        let mut pins = BTreeMap::new();
        let mut components = BTreeMap::new();
        for plugin in used_plugins(&config, api_index) {
            let (base, pinned) = match plugin.name.split_once('@') {
                Some((base, sha)) => (base, Some(sha)),
                None => (plugin.name.as_str(), None),
            };
            let bytes = std::fs::read(&plugin.component).map_err(|e| {
                ReleaseError::Storage(format!(
                    "plugin `{}`: cannot read {}: {e}",
                    plugin.name,
                    plugin.component.display()
                ))
            })?;
            let sha256 = match pinned {
                Some(sha) => sha.to_owned(),
                None => hex::encode(Sha256::digest(&bytes)),
            };
            store
                .put_component(base, &sha256, &bytes)
                .and_then(|_| {
                    store.record(
                        base,
                        &StoredVersion {
                            sha256: sha256.clone(),
                            size: bytes.len() as u64,
                            world: plugin.world.as_str().to_owned(),
                            uploaded_at: now(),
                        },
                    )
                })
                .map_err(|e| {
                    ReleaseError::Storage(format!("plugin `{base}`: cannot store it: {e}"))
                })?;
            // A plugin used only as `NAME@SHA256` still needs its `[plugins.NAME]`
            // settings, and that entry a component that exists.
            components
                .entry(base.to_owned())
                .or_insert_with(|| store.component_path(base, &sha256));
            if pinned.is_none() {
                components.insert(base.to_owned(), store.component_path(base, &sha256));
                pins.insert(base.to_owned(), sha256);
            }
        }
        let definition = definition_text(&text, api, &data_dir, &components)?;
        let id = new_deployment_id();
        let path = Releases::deployment_path(&data_dir, api, &id);
        let parsed = Config::parse(&definition, &path.display().to_string()).map_err(|e| {
            ReleaseError::Invalid(format!("the API does not stand on its own: {e}"))
        })?;
        let record = DeploymentRecord {
            id,
            api: api.to_owned(),
            created_at: now(),
            description: description.to_owned(),
            plugins: pins,
            definition,
        };
        let bytes =
            serde_json::to_vec_pretty(&record).map_err(|e| ReleaseError::Storage(e.to_string()))?;
        write_durably(&path, &bytes)
            .map_err(|e| ReleaseError::Storage(format!("cannot write {}: {e}", path.display())))?;
        Ok(Arc::new(Deployment {
            record,
            config: parsed,
        }))
    }

    /// Whether `config` has stage `stage` of API `api`.
    pub fn stage_exists(config: &Config, api: &str, stage: &str) -> bool {
        config.apis.iter().any(|a| {
            a.name == api
                && a.stages.iter().any(|s| match &s.name {
                    StageName::Default => stage == "$default",
                    StageName::Named(n) => n == stage,
                })
        })
    }
}

/// The plugins API `api_index` of `config` uses, each once.
fn used_plugins(config: &Config, api_index: usize) -> Vec<&PluginConfig> {
    let api = &config.apis[api_index];
    let mut indexes: Vec<usize> = api.authorizers.iter().filter_map(|a| a.plugin()).collect();
    for route in &api.routes {
        indexes.extend(route.mapper);
        if let IntegrationConfig::Function { plugin } = &route.integration {
            indexes.push(*plugin);
        }
    }
    indexes.sort_unstable();
    indexes.dedup();
    indexes.iter().map(|&i| &config.plugins[i]).collect()
}

/// The configuration `text` cut down to API `api` and the plugins it uses,
/// standing on its own: plugin components point into the store, the data
/// directory is absolute, `[limits]` (defaults of the integrations) stays,
/// and nothing else process-wide (admin, logs, keys, plans) is kept.
fn definition_text(
    text: &str,
    api: &str,
    data_dir: &Path,
    components: &BTreeMap<String, PathBuf>,
) -> Result<String, ReleaseError> {
    let invalid = |what: &str| ReleaseError::Invalid(format!("cannot snapshot the API: {what}"));
    let mut table: toml::Table = text.parse().map_err(|_| invalid("the file is not TOML"))?;
    let listeners = table.remove("listeners");
    let apis = table.remove("apis");
    let plugins = table.remove("plugins");
    // `integration_timeout` is the default timeout of the API's integrations.
    let limits = table.remove("limits");
    table.clear();
    if let Some(listeners) = listeners {
        table.insert("listeners".into(), listeners);
    }
    if let Some(limits) = limits {
        table.insert("limits".into(), limits);
    }
    let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let mut server = toml::Table::new();
    server.insert(
        "data_dir".into(),
        toml::Value::String(data_dir.display().to_string()),
    );
    table.insert("server".into(), toml::Value::Table(server));
    let toml::Value::Array(apis) = apis.ok_or_else(|| invalid("no [[apis]]"))? else {
        return Err(invalid("`apis` is not an array of tables"));
    };
    let kept: Vec<toml::Value> = apis
        .into_iter()
        .filter(|a| a.get("name").and_then(toml::Value::as_str) == Some(api))
        .collect();
    table.insert("apis".into(), toml::Value::Array(kept));
    if let Some(toml::Value::Table(plugins)) = plugins {
        let mut kept = toml::Table::new();
        for (name, mut plugin) in plugins {
            let Some(path) = components.get(&name) else {
                continue;
            };
            if let Some(p) = plugin.as_table_mut() {
                p.insert(
                    "component".into(),
                    toml::Value::String(path.display().to_string()),
                );
            }
            kept.insert(name, plugin);
        }
        table.insert("plugins".into(), toml::Value::Table(kept));
    }
    toml::to_string(&table).map_err(|e| invalid(&e.to_string()))
}

fn subfolders(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().to_str()?.to_owned(), e.path())))
        .collect())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Ten random lower-case letters and digits, as API Gateway's deployment ids.
fn new_deployment_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..10)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// Whether `id` looks like a deployment id; checked before it goes into a
/// file name.
pub fn is_deployment_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deploying_remembers_what_was_served() {
        let mut state = StageState::default();
        state.deploy("aaa".into(), BTreeMap::new());
        state.deploy("bbb".into(), BTreeMap::from([("k".into(), "v".into())]));
        assert_eq!(state.deployment.as_deref(), Some("bbb"));
        assert_eq!(
            state.history,
            vec![
                Served {
                    deployment: None,
                    variables: BTreeMap::new()
                },
                Served {
                    deployment: Some("aaa".into()),
                    variables: BTreeMap::new()
                },
            ]
        );
        for i in 0..(HISTORY_KEPT * 2) {
            state.deploy(format!("d{i}"), BTreeMap::new());
        }
        assert_eq!(state.history.len(), HISTORY_KEPT);
    }

    #[test]
    fn a_deployment_holds_one_api_and_its_pinned_plugins() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.wasm"), b"component a").expect("write");
        std::fs::write(dir.path().join("b.wasm"), b"component b").expect("write");
        let file = dir.path().join("gw.toml");
        std::fs::write(
            &file,
            r#"
[server]
data_dir = "data"
access_log = "off"

[limits]
integration_timeout = "7s"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.auth_a]
component = "a.wasm"
world = "authorizer"

[plugins.auth_b]
component = "b.wasm"
world = "authorizer"

[[apis]]
name = "first"
hosts = ["first.example"]
[apis.authorizers.token]
type = "wasm"
plugin = "auth_a"
identity_sources = ["$request.header.Authorization"]
[[apis.routes]]
key = "GET /a"
authorizer = "token"
integration = { type = "mock", body = "a" }

[[apis.routes]]
key = "GET /b"
integration = { type = "mock", body = "b" }

[[apis]]
name = "second"
[apis.authorizers.token]
type = "wasm"
plugin = "auth_b"
identity_sources = ["$request.header.Authorization"]
[[apis.routes]]
key = "GET /c"
authorizer = "token"
integration = { type = "mock", body = "c" }
"#,
        )
        .expect("write config");
        let data_dir = dir.path().join("data");
        let releases = Releases::load(Some(&data_dir)).expect("load");
        let deployment = releases.create(&file, "first", "test").expect("deploy");
        let sha = hex::encode(Sha256::digest(b"component a"));
        assert_eq!(
            deployment.record.plugins,
            BTreeMap::from([("auth_a".to_owned(), sha.clone())])
        );
        let config = &deployment.config;
        assert_eq!(config.limits.integration_timeout, Duration::from_secs(7));
        assert_eq!(config.apis.len(), 1);
        assert_eq!(config.apis[0].name, "first");
        assert_eq!(config.apis[0].routes.len(), 2);
        assert_eq!(config.plugins.len(), 1);
        assert_eq!(
            config.plugins[0].component,
            PluginStore::new(&data_dir).component_path("auth_a", &sha)
        );
        assert!(matches!(
            releases.create(&file, "third", ""),
            Err(ReleaseError::NotFound(_))
        ));
        // The component is stored, so the deployment no longer needs the file.
        std::fs::remove_file(dir.path().join("a.wasm")).expect("rm");
        let again = releases
            .deployment("first", &deployment.record.id)
            .expect("read back");
        assert_eq!(again.record.definition, deployment.record.definition);
        assert!(matches!(
            releases.deployment("second", &deployment.record.id),
            Err(ReleaseError::NotFound(_))
        ));
    }

    #[test]
    fn ids_are_safe_file_names() {
        let id = new_deployment_id();
        assert!(is_deployment_id(&id), "{id}");
        assert!(!is_deployment_id("../x"));
        assert!(!is_deployment_id(""));
    }
}
