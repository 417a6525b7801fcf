//! Which files of `server.data_dir` a fleet shares, and how they travel.
//!
//! The shared state is exactly the control plane's records as the stores
//! keep them (see [`crate::store`]): plugin version metadata and `active`
//! pointers, API keys, deployments, stage pointers and imported APIs, by
//! their path relative to `data_dir`. Plugin components travel apart, as
//! content-addressed blobs checked against their sha256 before they are
//! written. Everything else in `data_dir` (compiled artifacts, the node's
//! own position) stays with the node.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::is_sha256;
use crate::util::fs::Written;

/// The folders of `data_dir` whose records are shared.
const SHARED_FOLDERS: [&str; 5] = ["plugins", "api_keys", "deployments", "stages", "imports"];

/// Stands for the node's absolute `data_dir` in shared records: a
/// deployment's definition names its plugins' components by absolute path,
/// and every node keeps them in its own folder.
const DATA_DIR_TOKEN: &str = "@@TURNPIKE_DATA_DIR@@";

/// One record written (`content`) or removed (`None`) by a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its path relative to `data_dir`, `/`-separated.
    pub path: String,
    /// The file's text, `data_dir` replaced by a token; `None`: removed.
    pub content: Option<String>,
}

/// One committed change as the shared log holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// The node whose admin API made it.
    pub node: String,
    /// When it was committed, RFC 3339.
    pub at: String,
    /// What it wrote and removed, in order.
    pub records: Vec<Record>,
}

/// Whether `path` (relative, `/`-separated) names a shared record: one of
/// the stores' layouts, every segment a plain name. Checked on every path
/// read from Redis before it becomes a file name.
pub fn is_shared_path(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 200
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.$".contains(&b))
    };
    if !segments.iter().all(|s| plain(s)) {
        return false;
    }
    match segments.as_slice() {
        ["plugins", _, "active"] => true,
        ["plugins", _, file] => file.strip_suffix(".json").is_some_and(is_sha256),
        ["api_keys", file] => file.ends_with(".json"),
        ["imports", file] => file.ends_with(".toml"),
        ["deployments" | "stages", _, file] => file.ends_with(".json"),
        _ => false,
    }
}

/// The plugin and sha256 of a version metadata record
/// (`plugins/NAME/SHA256.json`): its component is a blob.
pub fn version_of(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("plugins/")?;
    let (plugin, file) = rest.split_once('/')?;
    let sha256 = file.strip_suffix(".json").filter(|s| is_sha256(s))?;
    Some((plugin, sha256))
}

/// The node's view of its `data_dir`: where records are and how their
/// text is made node-neutral and back.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    root_text: String,
}

impl DataDir {
    /// `data_dir`, made absolute (the form deployments name it in).
    pub fn new(data_dir: &Path) -> DataDir {
        let root = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        DataDir {
            root_text: root.display().to_string(),
            root,
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where record `path` is kept.
    pub fn file(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    /// Where plugin `name`'s component `sha256` is kept.
    pub fn component(&self, plugin: &str, sha256: &str) -> PathBuf {
        self.root
            .join("plugins")
            .join(plugin)
            .join(format!("{sha256}.wasm"))
    }

    /// The shared records among `written`, in order, the last write of a
    /// path winning; writes that are not records (components, compiled
    /// artifacts) are left out. A record that is not UTF-8 is an error.
    pub fn records(&self, written: &[Written]) -> Result<Vec<Record>, String> {
        let mut last: BTreeMap<String, (usize, Option<String>)> = BTreeMap::new();
        for (index, w) in written.iter().enumerate() {
            let Some(path) = self.relative(&w.path) else {
                continue;
            };
            if !is_shared_path(&path) {
                continue;
            }
            let content = match &w.after {
                None => None,
                Some(bytes) => Some(
                    self.neutral(bytes)
                        .ok_or_else(|| format!("{path}: a shared record must be UTF-8 text"))?,
                ),
            };
            last.insert(path, (index, content));
        }
        let mut records: Vec<(usize, Record)> = last
            .into_iter()
            .map(|(path, (index, content))| (index, Record { path, content }))
            .collect();
        records.sort_by_key(|(index, _)| *index);
        Ok(records.into_iter().map(|(_, r)| r).collect())
    }

    /// `path` relative to the data directory, `/`-separated, if it is
    /// inside it.
    fn relative(&self, path: &Path) -> Option<String> {
        let path = std::path::absolute(path).ok()?;
        let rest = path.strip_prefix(&self.root).ok()?;
        let mut out = Vec::new();
        for component in rest.components() {
            match component {
                Component::Normal(s) => out.push(s.to_str()?),
                _ => return None,
            }
        }
        Some(out.join("/"))
    }

    /// A record's bytes as shared: UTF-8, this node's folder replaced by
    /// the token.
    pub fn neutral(&self, bytes: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(bytes).ok()?;
        Some(text.replace(&self.root_text, DATA_DIR_TOKEN))
    }

    /// A shared record's text as this node keeps it.
    pub fn local(&self, text: &str) -> Vec<u8> {
        text.replace(DATA_DIR_TOKEN, &self.root_text).into_bytes()
    }

    /// Every shared record in the folder, by path, as shared (neutral)
    /// text. Unreadable or non-UTF-8 files are errors.
    pub fn scan(&self) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for folder in SHARED_FOLDERS {
            self.scan_into(&self.root.join(folder), folder, 0, &mut out)?;
        }
        Ok(out)
    }

    fn scan_into(
        &self,
        dir: &Path,
        prefix: &str,
        depth: usize,
        out: &mut BTreeMap<String, String>,
    ) -> Result<(), String> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
        };
        for entry in entries.filter_map(Result::ok) {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let path = format!("{prefix}/{name}");
            let file = entry.path();
            if file.is_dir() {
                if depth == 0 {
                    self.scan_into(&file, &path, 1, out)?;
                }
            } else if is_shared_path(&path) {
                let bytes = std::fs::read(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                let text = self
                    .neutral(&bytes)
                    .ok_or_else(|| format!("{}: not UTF-8", file.display()))?;
                out.insert(path, text);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn only_the_stores_layouts_are_shared_paths() {
        for good in [
            format!("plugins/auth/{SHA}.json"),
            "plugins/auth/active".into(),
            "api_keys/partner-1.json".into(),
            "deployments/shop/abc123.json".into(),
            "stages/shop/$default.json".into(),
            "imports/petstore.toml".into(),
        ] {
            assert!(is_shared_path(&good), "{good}");
        }
        for bad in [
            format!("plugins/auth/{SHA}.wasm"),
            "plugins/auth/zz.json".into(),
            "../etc/passwd".into(),
            "api_keys/../../x.json".into(),
            "stages/shop/.hidden.json".into(),
            "stages//prod.json".into(),
            "cluster/applied".into(),
            "api_keys/a/b.json".into(),
            "/api_keys/a.json".into(),
        ] {
            assert!(!is_shared_path(&bad), "{bad}");
        }
        assert_eq!(
            version_of(&format!("plugins/auth/{SHA}.json")),
            Some(("auth", SHA))
        );
        assert_eq!(version_of("plugins/auth/active"), None);
    }

    #[test]
    fn records_are_node_neutral_and_last_write_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        let root = data.root().display().to_string();
        let written = vec![
            Written {
                path: data.file("stages/shop/prod.json"),
                before: None,
                after: Some(b"{}".to_vec()),
            },
            Written {
                path: data.component("auth", SHA),
                before: None,
                after: Some(vec![0, 1, 2]),
            },
            Written {
                path: data.file("deployments/shop/d1.json"),
                before: None,
                after: Some(format!("component = \"{root}/plugins/auth/{SHA}.wasm\"").into()),
            },
            Written {
                path: data.file("stages/shop/prod.json"),
                before: None,
                after: None,
            },
        ];
        let records = data.records(&written).expect("records");
        assert_eq!(
            records,
            vec![
                Record {
                    path: "deployments/shop/d1.json".into(),
                    content: Some(format!(
                        "component = \"{DATA_DIR_TOKEN}/plugins/auth/{SHA}.wasm\""
                    )),
                },
                Record {
                    path: "stages/shop/prod.json".into(),
                    content: None,
                },
            ]
        );
        // Another node reads it with its own folder.
        let other = DataDir::new(Path::new("/srv/node-b"));
        let text = String::from_utf8(other.local(records[0].content.as_deref().expect("text")))
            .expect("utf-8");
        assert!(text.contains("/srv/node-b/plugins/auth/"), "{text}");
    }

    #[test]
    fn a_scan_finds_the_records_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        for (path, text) in [
            ("api_keys/k.json", "{}"),
            ("plugins/auth/active", SHA),
            ("cluster/applied", "7"),
            ("api_keys/.k.json.tmp-1-2", "{"),
        ] {
            crate::util::fs::write_durably(&data.file(path), text.as_bytes()).expect("write");
        }
        crate::util::fs::write_durably(&data.component("auth", SHA), b"\0asm").expect("write");
        let scanned = data.scan().expect("scan");
        assert_eq!(
            scanned.keys().cloned().collect::<Vec<_>>(),
            vec!["api_keys/k.json".to_owned(), "plugins/auth/active".into()]
        );
    }
}
