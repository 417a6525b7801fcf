//! Durable file writes: a crash at any moment leaves the old file or the
//! complete new one, never a torn one.
//!
//! A thread may open a [`journaled`] scope: every durable write and removal
//! made on it is then recorded with the file's contents before and after,
//! so that the caller can send the change elsewhere (cluster mode sends the
//! control plane's records to Redis) or undo it. The stores write through
//! these two functions only, so no write escapes the journal.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// One file written or removed inside a [`journaled`] scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Its contents before (`None`: it did not exist).
    pub before: Option<Vec<u8>>,
    /// Its contents after (`None`: it was removed).
    pub after: Option<Vec<u8>>,
}

thread_local! {
    static JOURNAL: RefCell<Option<Vec<Written>>> = const { RefCell::new(None) };
}

/// Runs `work`, returning what it returned and every file it wrote or
/// removed through this module, in order. Scopes do not nest: an inner
/// scope takes the writes made inside it.
pub fn journaled<T>(work: impl FnOnce() -> T) -> (T, Vec<Written>) {
    let outer = JOURNAL.with(|j| j.borrow_mut().replace(Vec::new()));
    let value = work();
    let written = JOURNAL.with(|j| std::mem::replace(&mut *j.borrow_mut(), outer));
    (value, written.unwrap_or_default())
}

fn note(path: &Path, after: Option<&[u8]>) {
    JOURNAL.with(|j| {
        if let Some(journal) = j.borrow_mut().as_mut() {
            journal.push(Written {
                path: path.to_path_buf(),
                before: std::fs::read(path).ok(),
                after: after.map(<[u8]>::to_vec),
            });
        }
    });
}

/// Puts back what `written` changed, newest first (best effort: a file
/// that cannot be restored is logged).
pub fn undo(written: &[Written]) {
    for w in written.iter().rev() {
        let restored = match &w.before {
            Some(bytes) => write_durably(&w.path, bytes),
            None => remove_durably(&w.path).map(|_| ()),
        };
        if let Err(error) = restored {
            tracing::error!(path = %w.path.display(), %error, "cannot undo a write");
        }
    }
}

/// Removes `path`; `Ok(false)` if it did not exist.
pub fn remove_durably(path: &Path) -> std::io::Result<bool> {
    if path.exists() {
        note(path, None);
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or
/// the complete new one: a unique temporary file in the same folder, flushed
/// to disk, renamed over `path`, then the folder flushed so the rename is too.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    note(path, Some(bytes));
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // A bare file name's parent is "", which cannot be opened to flush.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(
        ".{}.tmp-{}-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_the_new_file_and_no_temporary_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/file.json");
        write_durably(&path, b"one").expect("write");
        write_durably(&path, b"two").expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let names: Vec<String> = std::fs::read_dir(dir.path().join("sub"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["file.json"]);
    }

    #[test]
    fn a_journal_records_writes_and_undoes_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = dir.path().join("kept");
        let added = dir.path().join("added");
        write_durably(&kept, b"old").expect("write");
        let ((), written) = journaled(|| {
            write_durably(&kept, b"new").expect("overwrite");
            write_durably(&added, b"x").expect("add");
            remove_durably(&added).expect("remove");
        });
        assert_eq!(written.len(), 3);
        assert_eq!(written[0].before.as_deref(), Some(&b"old"[..]));
        assert_eq!(written[0].after.as_deref(), Some(&b"new"[..]));
        assert_eq!(written[2].after, None);
        undo(&written);
        assert_eq!(std::fs::read(&kept).expect("read"), b"old");
        assert!(!added.exists());
        // Outside a scope nothing is recorded.
        let ((), none) = journaled(|| ());
        assert!(none.is_empty());
    }
}
