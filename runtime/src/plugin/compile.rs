//! Compiling components once: the precompiled artifact is cached on disk,
//! named by the component's content hash and the engine's fingerprint, so a
//! restart (or a second snapshot with the same plugin) loads it in
//! milliseconds instead of compiling again.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::PluginLoadError;
use super::engine::{Linked, PluginEngine};

/// Compiles `bytes`, or loads the artifact cached in `cache_dir` for them,
/// into the engine for their size ([`PluginEngine::engine_for`]), which is
/// returned with the component. An engine that only checks reads the cache
/// but does not add to it.
pub fn load_component<'e>(
    plugins: &'e PluginEngine,
    plugin: &str,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> Result<(Component, String, &'e Linked), PluginLoadError> {
    let error = |message: String| PluginLoadError {
        plugin: plugin.to_owned(),
        message,
    };
    let linked = plugins.engine_for(bytes.len()).map_err(error)?;
    let engine = &linked.engine;
    let digest = hex::encode(Sha256::digest(bytes));
    let cached: Option<PathBuf> = cache_dir.map(|dir| {
        dir.join(format!(
            "{digest}-{}.cwasm",
            hex::encode(&Sha256::digest(plugins.fingerprint().as_bytes())[..8])
        ))
    });
    if let Some(path) = &cached
        && path.exists()
    {
        match deserialize(engine, path) {
            Ok(component) => return Ok((component, digest, linked)),
            Err(e) => {
                tracing::warn!(plugin, path = %path.display(), error = %e, "ignoring an unusable cached artifact")
            }
        }
    }
    let artifact = engine
        .precompile_component(bytes)
        .map_err(|e| error(format!("not a valid WebAssembly component: {e:#}")))?;
    if let Some(path) = &cached
        && !plugins.check_only()
        && let Err(e) = crate::util::fs::write_durably(path, &artifact)
    {
        tracing::warn!(plugin, path = %path.display(), error = %e, "cannot cache the compiled plugin");
    }
    let component = deserialize_fresh(engine, &artifact)
        .map_err(|e| error(format!("cannot load the compiled component: {e:#}")))?;
    Ok((component, digest, linked))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file is an artifact this gateway wrote itself into its own
    // cache directory, named by the source's hash and the engine's settings;
    // wasmtime also checks its header against the engine's version and config.
    unsafe { Component::deserialize_file(engine, path) }
}

#[allow(unsafe_code)]
fn deserialize_fresh(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` was produced by `precompile_component` on this very
    // engine a moment ago.
    unsafe { Component::deserialize(engine, artifact) }
}
