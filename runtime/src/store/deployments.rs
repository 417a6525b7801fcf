//! Deployments and stage pointers as files in `server.data_dir`:
//!
//! ```text
//! DATA_DIR/deployments/API/ID.json   one deployment, never changed once written
//! DATA_DIR/stages/API/STAGE.json     which deployment a stage serves, its
//!                                    canary and the deployments it served before
//! ```
//!
//! Files are replaced with [`write_durably`]; a deployment is written before
//! any pointer names it, so a crash leaves the old state or the new one.
//! What the records mean (and how a deployment's definition is validated) is
//! `control::releases`'s business; this module only keeps them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::util::fs::write_durably;

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

/// How many earlier deployments a stage remembers for rollbacks.
pub const HISTORY_KEPT: usize = 50;

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

/// The deployment and stage files under a data directory.
#[derive(Debug, Clone)]
pub struct DeploymentStore {
    data_dir: PathBuf,
}

impl DeploymentStore {
    /// The store in `data_dir` (folders are created on first write).
    pub fn new(data_dir: &Path) -> DeploymentStore {
        DeploymentStore {
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Where deployment `id` of `api` is (or would be) kept.
    pub fn deployment_path(&self, api: &str, id: &str) -> PathBuf {
        self.data_dir
            .join("deployments")
            .join(api)
            .join(format!("{id}.json"))
    }

    fn stage_path(&self, api: &str, stage: &str) -> PathBuf {
        self.data_dir
            .join("stages")
            .join(api)
            .join(format!("{stage}.json"))
    }

    /// Reads deployment `id` of `api`; `None` if there is none.
    pub fn read(&self, api: &str, id: &str) -> Result<Option<DeploymentRecord>, String> {
        if !is_deployment_id(id) {
            return Ok(None);
        }
        let path = self.deployment_path(api, id);
        if !path.is_file() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    /// Writes a new deployment.
    pub fn write(&self, record: &DeploymentRecord) -> Result<(), String> {
        let path = self.deployment_path(&record.api, &record.id);
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| e.to_string())?;
        write_durably(&path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Every stored deployment of `api`, newest first; unreadable files are
    /// left out.
    pub fn list(&self, api: &str) -> Vec<DeploymentRecord> {
        let Ok(entries) = std::fs::read_dir(self.data_dir.join("deployments").join(api)) else {
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

    /// Sha256 digests of plugin `name` that some stored deployment pins.
    pub fn pinned_digests(&self, plugin: &str) -> Vec<String> {
        let Ok(apis) = subfolders(&self.data_dir.join("deployments")) else {
            return Vec::new();
        };
        apis.iter()
            .flat_map(|(api, _)| self.list(api))
            .filter_map(|r| r.plugins.get(plugin).cloned())
            .collect()
    }

    /// Every stage pointer file, by (API, stage).
    pub fn stages(&self) -> Result<BTreeMap<(String, String), StageState>, String> {
        let mut out = BTreeMap::new();
        for (api, api_dir) in subfolders(&self.data_dir.join("stages"))? {
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
                out.insert((api.clone(), stage.to_owned()), read_json(&path)?);
            }
        }
        Ok(out)
    }

    /// Writes a stage's pointer file.
    pub fn write_stage(&self, api: &str, stage: &str, state: &StageState) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
        write_durably(&self.stage_path(api, stage), &bytes)
            .map_err(|e| format!("cannot record stage `{stage}` of API `{api}`: {e}"))
    }
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

/// Ten random lower-case letters and digits, as API Gateway's deployment ids.
pub fn new_deployment_id() -> String {
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
    fn ids_are_safe_file_names() {
        let id = new_deployment_id();
        assert!(is_deployment_id(&id), "{id}");
        assert!(!is_deployment_id("../x"));
        assert!(!is_deployment_id(""));
    }

    #[test]
    fn stage_pointers_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DeploymentStore::new(dir.path());
        let mut state = StageState::default();
        state.deploy("abc".into(), BTreeMap::new());
        store.write_stage("shop", "prod", &state).expect("write");
        let stages = store.stages().expect("read");
        assert_eq!(stages[&("shop".to_owned(), "prod".to_owned())], state);
    }
}
