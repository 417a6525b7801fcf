//! Uploaded plugin versions and which one of each plugin is active.
//!
//! ```text
//! DATA_DIR/plugins/NAME/SHA256.wasm   the component, content-addressed
//! DATA_DIR/plugins/NAME/SHA256.json   its world, size and upload time
//! DATA_DIR/plugins/NAME/active        the SHA256 of the active version
//! ```
//!
//! Every file is written to a temporary name, flushed, renamed over its final
//! name and the folder flushed, so a crash at any moment leaves the old file
//! or the new one, never a torn one. The `active` pointer is written last: a
//! crash during an upload leaves the previous version active.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::util::fs::{remove_durably, write_durably};

/// One stored version of a plugin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StoredVersion {
    /// Hex sha256 of the component bytes.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// The world it implements.
    pub world: String,
    /// When it was uploaded, RFC 3339.
    pub uploaded_at: String,
}

/// The plugin store under a data directory.
#[derive(Debug, Clone)]
pub struct PluginStore {
    root: PathBuf,
}

impl PluginStore {
    /// The store in `data_dir` (folders are created on first write).
    pub fn new(data_dir: &Path) -> PluginStore {
        PluginStore {
            root: data_dir.join("plugins"),
        }
    }

    fn dir(&self, plugin: &str) -> PathBuf {
        self.root.join(plugin)
    }

    /// Where a version's component is (or would be) stored.
    pub fn component_path(&self, plugin: &str, sha256: &str) -> PathBuf {
        self.dir(plugin).join(format!("{sha256}.wasm"))
    }

    /// Stores a component; returns whether it was not stored before.
    pub fn put_component(&self, plugin: &str, sha256: &str, bytes: &[u8]) -> std::io::Result<bool> {
        let path = self.component_path(plugin, sha256);
        if path.is_file() {
            return Ok(false);
        }
        write_durably(&path, bytes)?;
        Ok(true)
    }

    /// Removes an inactive version: its component and its metadata.
    pub fn forget(&self, plugin: &str, sha256: &str) {
        self.remove_component(plugin, sha256);
        let _ = remove_durably(&self.dir(plugin).join(format!("{sha256}.json")));
    }

    /// Removes a stored component (after a rejected upload).
    pub fn remove_component(&self, plugin: &str, sha256: &str) {
        let _ = remove_durably(&self.component_path(plugin, sha256));
    }

    /// Records a version's metadata and makes it the active one.
    pub fn activate(&self, plugin: &str, version: &StoredVersion) -> std::io::Result<()> {
        self.write_metadata(plugin, version)?;
        write_durably(&self.dir(plugin).join("active"), version.sha256.as_bytes())
    }

    /// Records a version's metadata without activating it (a deployment
    /// captured it), unless it is recorded already.
    pub fn record(&self, plugin: &str, version: &StoredVersion) -> std::io::Result<()> {
        if self
            .dir(plugin)
            .join(format!("{}.json", version.sha256))
            .is_file()
        {
            return Ok(());
        }
        self.write_metadata(plugin, version)
    }

    fn write_metadata(&self, plugin: &str, version: &StoredVersion) -> std::io::Result<()> {
        let metadata = serde_json::to_vec_pretty(version).map_err(std::io::Error::other)?;
        write_durably(
            &self.dir(plugin).join(format!("{}.json", version.sha256)),
            &metadata,
        )
    }

    /// Forgets which version is active: the plugin follows its
    /// configuration file again.
    pub fn deactivate(&self, plugin: &str) -> std::io::Result<()> {
        remove_durably(&self.dir(plugin).join("active")).map(|_| ())
    }

    /// The active version's sha256, if a version was ever activated.
    pub fn active(&self, plugin: &str) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(self.dir(plugin).join("active")) {
            Ok(text) => Ok(Some(text.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every stored version with its metadata, newest first.
    pub fn versions(&self, plugin: &str) -> Vec<StoredVersion> {
        let Ok(entries) = std::fs::read_dir(self.dir(plugin)) else {
            return Vec::new();
        };
        let mut versions: Vec<StoredVersion> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
            .collect();
        versions.sort_by(|a, b| b.uploaded_at.cmp(&a.uploaded_at));
        versions
    }
}

/// Whether `text` is a sha256 digest as the store names versions: 64 hex
/// digits. Checked before a digest from outside goes into a file name.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_content_addressed_and_the_pointer_moves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PluginStore::new(dir.path());
        assert_eq!(store.active("p").expect("read"), None);
        assert!(store.put_component("p", "aa", b"one").expect("put"));
        assert!(!store.put_component("p", "aa", b"one").expect("put again"));
        let version = StoredVersion {
            sha256: "aa".into(),
            size: 3,
            world: "authorizer".into(),
            uploaded_at: "2026-01-01T00:00:00Z".into(),
        };
        store.activate("p", &version).expect("activate");
        assert_eq!(store.active("p").expect("read").as_deref(), Some("aa"));
        assert_eq!(store.versions("p"), vec![version]);
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path().join("plugins/p"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }
}
