//! API keys created through the admin API, kept in `server.data_dir`:
//!
//! ```text
//! DATA_DIR/api_keys/NAME.json   the key, whether it is enabled, its usage plans
//! ```
//!
//! They join the keys of the configuration file at every start and reload
//! (see `control::state`), with the same rules: unique names and values,
//! existing usage plans, one plan per API stage.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::util::fs::write_durably;

/// An API key as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StoredKey {
    /// Its name.
    pub name: String,
    /// What clients send in `x-api-key`.
    pub value: String,
    /// A disabled key is refused like an unknown one.
    pub enabled: bool,
    /// Usage plans it is in.
    pub usage_plans: Vec<String>,
    /// When it was created, RFC 3339.
    pub created_at: String,
    /// The portal consumer holding it, for keys made in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The admin-created keys under a data directory.
#[derive(Debug, Clone)]
pub struct ApiKeyStore {
    root: PathBuf,
}

impl ApiKeyStore {
    /// The store in `data_dir`.
    pub fn new(data_dir: &Path) -> ApiKeyStore {
        ApiKeyStore {
            root: data_dir.join("api_keys"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.json"))
    }

    /// Every stored key, by name.
    pub fn list(&self) -> Result<Vec<StoredKey>, String> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot list {}: {e}", self.root.display())),
        };
        let mut keys = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.'));
            if hidden || path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            keys.push(
                serde_json::from_slice::<StoredKey>(&bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            );
        }
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    /// Writes a key durably.
    pub fn put(&self, key: &StoredKey) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(key).map_err(std::io::Error::other)?;
        write_durably(&self.path(&key.name), &bytes)
    }

    /// Removes a key's file.
    pub fn remove(&self, name: &str) -> std::io::Result<()> {
        crate::util::fs::remove_durably(&self.path(name)).map(|_| ())
    }
}

/// A new key value: 40 letters and digits from the operating system's
/// secure random source (about 238 bits).
pub fn new_value() -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut value = String::with_capacity(40);
    while value.len() < 40 {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).map_err(|e| format!("no secure random source: {e}"))?;
        // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
        value.extend(
            bytes
                .iter()
                .filter(|&&b| b < 248)
                .map(|&b| ALPHABET[usize::from(b % 62)] as char)
                .take(40 - value.len()),
        );
    }
    Ok(value)
}
