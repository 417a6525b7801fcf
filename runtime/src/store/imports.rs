//! APIs imported at run time (`POST /apis/NAME/import`): each as the TOML
//! its import produced, in `DATA_DIR/imports/NAME.toml`, added to the
//! configuration file's text whenever the configuration is read.

use std::path::{Path, PathBuf};

/// The imported APIs of one `data_dir`.
pub struct ImportStore {
    dir: PathBuf,
}

impl ImportStore {
    /// The store under `data_dir`.
    pub fn new(data_dir: &Path) -> ImportStore {
        ImportStore {
            dir: data_dir.join("imports"),
        }
    }

    fn path(&self, api: &str) -> PathBuf {
        self.dir.join(format!("{api}.toml"))
    }

    /// Every imported API, by name, with its TOML.
    pub fn list(&self) -> Result<Vec<(String, String)>, String> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", self.dir.display())),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| format!("{}: {e}", self.dir.display()))?
                .path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".toml"))
                .filter(|n| !n.starts_with('.'))
            else {
                continue;
            };
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            out.push((name.to_owned(), text));
        }
        out.sort();
        Ok(out)
    }

    /// Records (or replaces) API `api`'s TOML.
    pub fn put(&self, api: &str, toml: &str) -> Result<(), String> {
        let path = self.path(api);
        crate::util::fs::write_durably(&path, toml.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Forgets API `api`; `false` if it was not imported.
    pub fn remove(&self, api: &str) -> Result<bool, String> {
        crate::util::fs::remove_durably(&self.path(api))
            .map_err(|e| format!("{}: {e}", self.path(api).display()))
    }
}

/// The configuration text with the imported APIs after the file's own,
/// each announced by a comment naming its file.
pub fn with_imports(file_text: &str, imports: &[(String, String)], store: &ImportStore) -> String {
    let mut text = file_text.to_owned();
    for (name, toml) in imports {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "\n# API `{name}`, imported at run time: {}\n",
            store.path(name).display()
        ));
        text.push_str(toml);
    }
    text
}
