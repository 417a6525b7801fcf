//! The layout `docs/architecture.md` describes, checked on the source: each
//! top-level module uses only the modules below it in [`LAYERS`] (so there
//! is no import cycle between them), `main.rs` stays a thin entry point,
//! and no file grows past the size at which it holds two concerns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top-level modules, leaves first: a module may use only the ones
/// listed before it.
const LAYERS: &[&str] = &[
    "util",
    "vtl",
    "router",
    "store",
    "tls",
    "config",
    "openapi",
    "observe",
    "upstream",
    "plugin",
    "body",
    "error",
    "auth",
    "lambda",
    "usage",
    "cache",
    "integrations",
    "control",
    "portal",
    "proxy",
    "server",
    "cli",
];

/// Longest source file, in lines.
const MAX_FILE_LINES: usize = 900;
/// Longest `main.rs`, in lines.
const MAX_MAIN_LINES: usize = 150;

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("list src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(source_dir()).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// Every `crate::NAME` a file names.
fn uses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
            .collect();
        if !name.is_empty() {
            found.push(name);
        }
    }
    found
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let mut files = Vec::new();
    rust_files(&source_dir(), &mut files);
    let mut edges: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        if matches!(module.as_str(), "lib" | "main" | "layout") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        for used in uses(&text) {
            if used != module {
                edges.entry((module.clone(), used)).or_insert(file.clone());
            }
        }
    }
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for ((from, to), file) in &edges {
        match (rank(from), rank(to)) {
            (Some(a), Some(b)) if b < a => {}
            (None, _) => wrong.push(format!("{from} is not in LAYERS ({})", file.display())),
            (_, None) => wrong.push(format!("{to} is not in LAYERS ({})", file.display())),
            _ => wrong.push(format!(
                "{from} uses {to}, which is not below it ({})",
                file.display()
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every top-level module is placed, and every layer exists.
    let mut modules: Vec<String> = files.iter().map(|f| module_of(f)).collect();
    modules.sort();
    modules.dedup();
    for module in &modules {
        if !matches!(module.as_str(), "lib" | "main" | "layout") {
            assert!(rank(module).is_some(), "{module} is not in LAYERS");
        }
    }
    for layer in LAYERS {
        assert!(modules.iter().any(|m| m == layer), "no module {layer}");
    }
}

#[test]
fn files_stay_small_and_main_thin() {
    let mut files = Vec::new();
    rust_files(&source_dir(), &mut files);
    let mut long = Vec::new();
    for file in &files {
        let lines = std::fs::read_to_string(file).expect("read").lines().count();
        let limit = if file.ends_with("main.rs") {
            MAX_MAIN_LINES
        } else {
            MAX_FILE_LINES
        };
        if lines > limit {
            long.push(format!(
                "{}: {lines} lines (at most {limit})",
                file.display()
            ));
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}
