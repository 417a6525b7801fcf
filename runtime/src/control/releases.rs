//! Deployments and stage pointers: the release state behind `turnpike
//! deploy`, `rollback` and `canary`, kept in `server.data_dir` by
//! [`crate::store::deployments`].
//!
//! A deployment is an immutable snapshot of one API: its routes,
//! integrations, authorizers, policy and CORS as TOML, with every plugin it
//! uses pinned to the sha256 of the component stored beside the uploads. A
//! stage without a pointer follows the configuration file (and reloads); a
//! stage with one serves its deployment until the next deploy or rollback.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::{Config, IntegrationConfig, PluginConfig, StageName};
use crate::store::deployments::new_deployment_id;
use crate::store::{DeploymentRecord, DeploymentStore, PluginStore, StageState, StoredVersion};
use crate::util::time::rfc3339_now;

/// A deployment loaded and validated, ready to compile.
#[derive(Debug)]
pub struct Deployment {
    /// The stored record.
    pub record: DeploymentRecord,
    /// Its definition, parsed; `apis[0]` is the API.
    pub config: Config,
}

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
    /// Cluster mode: Redis cannot be reached, nothing changed: 503.
    #[error("{0}")]
    Unavailable(String),
}

/// The release state: stage pointers and the deployments they name.
#[derive(Debug, Clone, Default)]
pub struct Releases {
    store: Option<DeploymentStore>,
    /// Pointer files by (API, stage).
    stages: BTreeMap<(String, String), StageState>,
    /// Deployments named by some pointer, by id.
    deployments: HashMap<String, Arc<Deployment>>,
}

impl Releases {
    /// Reads every stage pointer in `data_dir` and the deployments they
    /// name. Without a data directory there are none.
    pub fn load(data_dir: Option<&Path>) -> Result<Releases, String> {
        let Some(data_dir) = data_dir else {
            return Ok(Releases::default());
        };
        let store = DeploymentStore::new(data_dir);
        let mut releases = Releases {
            stages: store.stages()?,
            store: Some(store),
            deployments: HashMap::new(),
        };
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
                let deployment = releases.read_deployment(&api, &id)?.ok_or_else(|| {
                    format!(
                        "stage pointers name deployment {id} of API `{api}`, which is not stored"
                    )
                })?;
                releases.deployments.insert(id, Arc::new(deployment));
            }
        }
        Ok(releases)
    }

    fn store(&self) -> Result<&DeploymentStore, ReleaseError> {
        self.store.as_ref().ok_or_else(|| {
            ReleaseError::Conflict("deployments need server.data_dir, where they are kept".into())
        })
    }

    fn read_deployment(&self, api: &str, id: &str) -> Result<Option<Deployment>, String> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let Some(record) = store.read(api, id)? else {
            return Ok(None);
        };
        let path = store.deployment_path(api, id);
        let config = Config::parse(&record.definition, &path.display().to_string())
            .map_err(|e| format!("deployment {id} of API `{api}` no longer validates: {e}"))?;
        Ok(Some(Deployment { record, config }))
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
        self.store()?;
        match self.read_deployment(api, id) {
            Ok(Some(deployment)) => Ok(Arc::new(deployment)),
            Ok(None) => Err(ReleaseError::NotFound(format!(
                "API `{api}` has no deployment `{id}`"
            ))),
            Err(why) => Err(ReleaseError::Storage(why)),
        }
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
        self.store.as_ref().map_or_else(Vec::new, |s| s.list(api))
    }

    /// Sha256 digests of plugin `name` that a stored deployment pins, so
    /// that they are not removed from the store.
    pub fn pinned_digests(&self, plugin: &str) -> Vec<String> {
        self.store
            .as_ref()
            .map_or_else(Vec::new, |s| s.pinned_digests(plugin))
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
        let state = self.stage(api, stage).cloned().unwrap_or_default();
        self.store()?
            .write_stage(api, stage, &state)
            .map_err(ReleaseError::Storage)
    }

    /// Snapshots API `api` as `config` (the configuration file `file` as
    /// read now, with the active plugin versions) defines it: stores the
    /// components of the plugins it uses and writes the deployment. Returns
    /// it loaded.
    pub fn create(
        &self,
        config: &Config,
        file: &Path,
        api: &str,
        description: &str,
    ) -> Result<Arc<Deployment>, ReleaseError> {
        let store = self.store()?;
        let data_dir = config
            .server
            .data_dir
            .as_deref()
            .ok_or_else(|| ReleaseError::Conflict("deployments need server.data_dir".into()))?;
        // Written into the deployment's definition, which is read from
        // another folder: every path in it must be absolute.
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let text = std::fs::read_to_string(file)
            .map_err(|e| ReleaseError::Invalid(format!("cannot read {}: {e}", file.display())))?;
        let Some(api_index) = config.apis.iter().position(|a| a.name == api) else {
            return Err(ReleaseError::NotFound(format!(
                "{} defines no API `{api}`",
                file.display()
            )));
        };
        let plugins = PluginStore::new(&data_dir);
        let mut pins = BTreeMap::new();
        let mut components = BTreeMap::new();
        for plugin in used_plugins(config, api_index) {
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
            plugins
                .put_component(base, &sha256, &bytes)
                .and_then(|_| {
                    plugins.record(
                        base,
                        &StoredVersion {
                            sha256: sha256.clone(),
                            size: bytes.len() as u64,
                            world: plugin.world.as_str().to_owned(),
                            uploaded_at: rfc3339_now(),
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
                .or_insert_with(|| plugins.component_path(base, &sha256));
            if pinned.is_none() {
                components.insert(base.to_owned(), plugins.component_path(base, &sha256));
                pins.insert(base.to_owned(), sha256);
            }
        }
        let base_dir = file.parent().unwrap_or(Path::new("."));
        let base_dir = std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_path_buf());
        let definition = definition_text(&text, api, &data_dir, &base_dir, &components)?;
        let id = new_deployment_id();
        let path = store.deployment_path(api, &id);
        let parsed = Config::parse(&definition, &path.display().to_string()).map_err(|e| {
            ReleaseError::Invalid(format!("the API does not stand on its own: {e}"))
        })?;
        let record = DeploymentRecord {
            id,
            api: api.to_owned(),
            created_at: rfc3339_now(),
            description: description.to_owned(),
            plugins: pins,
            definition,
        };
        store.write(&record).map_err(ReleaseError::Storage)?;
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
        if let IntegrationConfig::Function { plugin, .. } = &route.integration {
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
    base_dir: &Path,
    components: &BTreeMap<String, PathBuf>,
) -> Result<String, ReleaseError> {
    let invalid = |what: &str| ReleaseError::Invalid(format!("cannot snapshot the API: {what}"));
    let mut table: toml::Table = text.parse().map_err(|_| invalid("the file is not TOML"))?;
    let listeners = table.remove("listeners");
    let mut apis = table.remove("apis");
    let plugins = table.remove("plugins");
    // `integration_timeout` is the default timeout of the API's integrations.
    let limits = table.remove("limits");
    // The upstreams the routes name, so that the deployment keeps working
    // if the file's `[upstreams]` change or go.
    let mut upstreams = table.remove("upstreams");
    table.clear();
    if let Some(toml::Value::Array(mut listeners)) = listeners {
        // Only names and addresses matter to a definition; certificates
        // stay with the file (and would be read again for nothing).
        for listener in &mut listeners {
            if let Some(l) = listener.as_table_mut() {
                l.remove("tls");
                l.remove("redirect_https");
            }
        }
        table.insert("listeners".into(), toml::Value::Array(listeners));
    }
    // Files the definition reads, which is itself read from another folder.
    if let Some(toml::Value::Table(upstreams)) = &mut upstreams {
        for (_, upstream) in upstreams.iter_mut() {
            let tls = upstream.get_mut("tls").and_then(toml::Value::as_table_mut);
            if let Some(tls) = tls {
                absolute(tls, "ca", base_dir);
                if let Some(cert) = tls
                    .get_mut("client_cert")
                    .and_then(toml::Value::as_table_mut)
                {
                    absolute(cert, "cert", base_dir);
                    absolute(cert, "key", base_dir);
                }
            }
        }
    }
    if let Some(upstreams) = upstreams {
        table.insert("upstreams".into(), upstreams);
    }
    if let Some(toml::Value::Array(apis)) = &mut apis {
        for api in apis.iter_mut().filter_map(toml::Value::as_table_mut) {
            for (key, file_key) in [("authorizers", "jwks_file"), ("models", "schema_file")] {
                if let Some(toml::Value::Table(entries)) = api.get_mut(key) {
                    for entry in entries.iter_mut().filter_map(|(_, e)| e.as_table_mut()) {
                        absolute(entry, file_key, base_dir);
                    }
                }
            }
        }
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

/// Makes the path at `table[key]`, if any, absolute against `base_dir`.
fn absolute(table: &mut toml::Table, key: &str, base_dir: &Path) {
    if let Some(toml::Value::String(path)) = table.get_mut(key) {
        *path = base_dir.join(&*path).display().to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        let file_config = Config::from_file(&file).expect("valid");
        let deployment = releases
            .create(&file_config, &file, "first", "test")
            .expect("deploy");
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
            releases.create(&file_config, &file, "third", ""),
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
    fn a_deployment_keeps_its_upstreams_and_reads_their_files_from_anywhere() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pem = rcgen::generate_simple_self_signed(vec!["origin.internal".to_owned()])
            .expect("cert")
            .cert
            .pem();
        std::fs::write(dir.path().join("ca.pem"), &pem).expect("write ca");
        let file = dir.path().join("gw.toml");
        std::fs::write(
            &file,
            r#"
[server]
data_dir = "data"
access_log = "off"

[[listeners]]
name = "main"
address = "127.0.0.1:0"
redirect_https = "secure"

[[listeners]]
name = "secure"
address = "127.0.0.1:0"
tls = { certificates = [{ cert = "server.pem", key = "server.key" }] }

[upstreams.orders]
targets = ["10.0.0.5:8443"]
tls = { ca = "ca.pem" }

[[apis]]
name = "shop"

[[apis.routes]]
key = "GET /orders"
integration = { type = "http_proxy", url = "https://orders/v1/orders" }
"#,
        )
        .expect("write config");
        let definition = definition_text(
            &std::fs::read_to_string(&file).expect("read"),
            "shop",
            &dir.path().join("data"),
            dir.path(),
            &BTreeMap::new(),
        )
        .expect("definition");
        // Read from the data folder: every path must still resolve, and the
        // listeners' certificates are not part of it.
        let elsewhere = dir.path().join("data/deployments/x.toml");
        let config = Config::parse(&definition, &elsewhere.display().to_string())
            .unwrap_or_else(|e| panic!("{e}\n{definition}"));
        assert_eq!(config.upstreams.len(), 1);
        assert_eq!(
            config.upstreams[0].tls.as_ref().and_then(|t| t.ca.clone()),
            Some(dir.path().join("ca.pem"))
        );
        assert!(config.listeners.iter().all(|l| l.tls.is_none()));
    }
}
