//! Plugin versions through the admin API:
//!
//! - `PUT /plugins/NAME`: uploads a new version of a configured plugin (the
//!   body is the component), compiles and checks it, records it durably in
//!   `server.data_dir` and activates it atomically.
//! - `GET /plugins`: every configured plugin with the version serving, the
//!   configuration file's version and the stored ones.
//! - `PUT /plugins/NAME/active` `{"sha256"}`: serves a stored version again,
//!   or the file's version (the plugin then follows the file again).
//! - `DELETE /plugins/NAME/versions/SHA256`: removes an inactive version.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use super::api::{
    ActivateRequest, InstancePool, PluginActivated, PluginList, PluginVersion, PluginView, Removed,
    VersionSource,
};
use super::{
    Admin, Answer, blocking, internal_error, method_not_allowed, read_json_body, refuse, respond,
};
use crate::config::PluginConfig;
use crate::control::gateway::ReloadError;
use crate::control::state::Desired;
use crate::store::{PluginStore, StoredVersion, is_sha256};
use crate::util::drain::drain_in_background;
use crate::util::time::rfc3339_now;

/// Why a plugin call was refused.
enum Refusal {
    /// The component does not compile, link or implement the world: 400.
    Rejected(String),
    /// No such plugin or version: 404.
    NotFound(String),
    /// The call makes no sense in the current state: 409.
    Conflict(String),
    /// Writing the data directory failed: 500.
    Storage(String),
    /// Cluster mode, Redis away: 503.
    Unavailable(String),
}

impl From<ReloadError> for Refusal {
    fn from(error: ReloadError) -> Refusal {
        match error {
            ReloadError::Unavailable(_) => Refusal::Unavailable(error.to_string()),
            ReloadError::Conflict(why) => Refusal::Conflict(why),
            _ => Refusal::Rejected(error.to_string()),
        }
    }
}

impl Refusal {
    fn answer(self, name: &str) -> Answer {
        match self {
            Refusal::Rejected(reason) => {
                tracing::warn!(plugin = %name, %reason, "plugin change refused; the running version keeps serving");
                respond(
                    StatusCode::BAD_REQUEST,
                    &super::api::ErrorBody {
                        message: "component rejected; the running version keeps serving".into(),
                        reason: Some(reason),
                        ..Default::default()
                    },
                )
            }
            Refusal::NotFound(message) => refuse(StatusCode::NOT_FOUND, message),
            Refusal::Conflict(message) => refuse(StatusCode::CONFLICT, message),
            Refusal::Unavailable(message) => refuse(StatusCode::SERVICE_UNAVAILABLE, message),
            Refusal::Storage(message) => {
                tracing::error!(plugin = %name, %message, "plugin change failed");
                refuse(StatusCode::INTERNAL_SERVER_ERROR, message)
            }
        }
    }
}

/// `GET /plugins`.
pub(super) fn handle_list(admin: &Admin, method: &Method) -> Answer {
    if method != Method::GET {
        return method_not_allowed("GET");
    }
    let (plugins, data_dir) = admin
        .control
        .read(|d| (d.config.plugins.clone(), d.config.server.data_dir.clone()));
    let store = data_dir.as_deref().map(PluginStore::new);
    let plugins = plugins
        .iter()
        // Pinned versions (`NAME@SHA256`) are listed under their plugin.
        .filter(|p| !p.name.contains('@'))
        .map(|plugin| PluginView {
            name: plugin.name.clone(),
            world: plugin.world.as_str().to_owned(),
            component: plugin.component.display().to_string(),
            active: store
                .as_ref()
                .and_then(|s| s.active(&plugin.name).ok().flatten())
                .or_else(|| file_version(plugin).map(|v| v.sha256)),
            file: file_version(plugin),
            versions: store
                .as_ref()
                .map(|s| s.versions(&plugin.name))
                .unwrap_or_default()
                .into_iter()
                .map(PluginVersion::uploaded)
                .collect(),
        })
        .collect();
    let instances = admin.control.gateway().plugin_engine().map(|engine| {
        let (live, capacity) = engine.pooled_instances();
        InstancePool { live, capacity }
    });
    respond(StatusCode::OK, &PluginList { plugins, instances })
}

/// The version the configuration file names, if its component can be read.
fn file_version(plugin: &PluginConfig) -> Option<PluginVersion> {
    let bytes = std::fs::read(&plugin.declared).ok()?;
    Some(PluginVersion {
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        world: plugin.world.as_str().to_owned(),
        uploaded_at: None,
        source: VersionSource::File,
    })
}

/// `/plugins/NAME`, `/plugins/NAME/active`, `/plugins/NAME/versions/SHA256`.
pub(super) async fn handle(
    admin: Arc<Admin>,
    method: &Method,
    path: &str,
    body: Incoming,
) -> Answer {
    let parts: Vec<&str> = path
        .strip_prefix("/plugins/")
        .unwrap_or_default()
        .split('/')
        .collect();
    match parts.as_slice() {
        [name] if !name.is_empty() => {
            if method != Method::PUT {
                drain_in_background(body);
                return method_not_allowed("PUT");
            }
            upload(admin, (*name).to_owned(), body).await
        }
        [name, "active"] => {
            if method != Method::PUT {
                return method_not_allowed("PUT");
            }
            let body = match read_json_body(body).await {
                Ok(body) => body,
                Err(refusal) => return refusal,
            };
            let request: ActivateRequest = match serde_json::from_slice(&body) {
                Ok(request) => request,
                Err(e) => {
                    return refuse(
                        StatusCode::BAD_REQUEST,
                        format!("the request body is not valid: {e}"),
                    );
                }
            };
            let name = (*name).to_owned();
            let control = admin.control.clone();
            let task_name = name.clone();
            let outcome = blocking(move || {
                control
                    .change(
                        |current| activate(current, &task_name, &request.sha256),
                        |next, version| record_active(next, &task_name, version),
                    )
                    .map(|(version, _)| version)
            })
            .await;
            activated(name, outcome)
        }
        [name, "versions", sha256] => {
            if method != Method::DELETE {
                return method_not_allowed("DELETE");
            }
            match remove_version(&admin, name, sha256) {
                Ok(removed) => respond(StatusCode::OK, &removed),
                Err(refusal) => refusal.answer(name),
            }
        }
        _ => refuse(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `PUT /plugins/NAME`.
async fn upload(admin: Arc<Admin>, name: String, body: Incoming) -> Answer {
    let early = admin.control.read(|d| {
        if let Some((base, _)) = name.split_once('@') {
            return Some(Refusal::Rejected(format!(
                "`{name}` is a pinned version and never changes; upload to `{base}`"
            )));
        }
        if !d.config.plugins.iter().any(|p| p.name == name) {
            return Some(Refusal::NotFound(format!(
                "no plugin `{name}` is configured; declare it in [plugins.{name}] (world, budgets, grants) first"
            )));
        }
        if d.config.server.data_dir.is_none() {
            return Some(Refusal::Conflict(
                "uploads need server.data_dir, where versions are kept".into(),
            ));
        }
        None
    });
    if let Some(refusal) = early {
        // The component is still arriving: read and drop it, so that the
        // uploader hears the refusal instead of a reset connection.
        drain_in_background(body);
        return refusal.answer(&name);
    }
    let limit = usize::try_from(admin.max_upload_bytes).unwrap_or(usize::MAX);
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the component is larger than admin.max_upload_size ({} bytes)",
                    admin.max_upload_bytes
                ),
            );
        }
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("cannot read the upload: {error}"),
            );
        }
    };
    if bytes.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the request body must be the component's bytes",
        );
    }
    let control = admin.control.clone();
    let task_name = name.clone();
    let outcome = blocking(move || store_and_activate(&control, &task_name, &bytes)).await;
    activated(name, outcome)
}

/// The answer to an upload or activation: the version now serving, or why
/// not (`None`: the work panicked).
fn activated(name: String, outcome: Option<Result<PluginVersion, Refusal>>) -> Answer {
    match outcome {
        Some(Ok(version)) => {
            tracing::info!(plugin = %name, sha256 = %version.sha256, "plugin version activated (admin API)");
            respond(
                StatusCode::OK,
                &PluginActivated {
                    name,
                    active: true,
                    version,
                },
            )
        }
        Some(Err(refusal)) => refusal.answer(&name),
        None => internal_error(),
    }
}

/// Stores the component, then activates it like a stored version; a
/// component that does not compile is removed again.
fn store_and_activate(
    control: &crate::control::state::Control,
    name: &str,
    bytes: &Bytes,
) -> Result<PluginVersion, Refusal> {
    let data_dir = control
        .read(|d| d.config.server.data_dir.clone())
        .ok_or_else(|| Refusal::Conflict("no server.data_dir is configured".into()))?;
    let store = PluginStore::new(&data_dir);
    let sha256 = hex::encode(Sha256::digest(bytes));
    let stored_now = store
        .put_component(name, &sha256, bytes)
        .map_err(|e| Refusal::Storage(format!("cannot store the component: {e}")))?;
    let outcome = control.change(
        |current| {
            let mut next = current.clone();
            let plugin = plugin_mut(&mut next, name)?;
            plugin.component = store.component_path(name, &sha256);
            let version = PluginVersion::uploaded(StoredVersion {
                sha256: sha256.clone(),
                size: bytes.len() as u64,
                world: plugin.world.as_str().to_owned(),
                uploaded_at: rfc3339_now(),
            });
            Ok((next, version))
        },
        |next, version| record_active(next, name, version),
    );
    match outcome {
        Ok((version, _)) => Ok(version),
        Err(refusal) => {
            if stored_now && matches!(refusal, Refusal::Rejected(_)) {
                store.remove_component(name, &sha256);
            }
            Err(refusal)
        }
    }
}

fn plugin_mut<'d>(desired: &'d mut Desired, name: &str) -> Result<&'d mut PluginConfig, Refusal> {
    desired
        .config
        .plugins
        .iter_mut()
        .find(|p| p.name == name && !name.contains('@'))
        .ok_or_else(|| Refusal::NotFound(format!("no plugin `{name}` is configured")))
}

/// The desired state with `sha256` of plugin `name` serving: a stored
/// version, or the configuration file's.
fn activate(
    current: &Desired,
    name: &str,
    sha256: &str,
) -> Result<(Desired, PluginVersion), Refusal> {
    let mut next = current.clone();
    let data_dir = next.config.server.data_dir.clone();
    let plugin = plugin_mut(&mut next, name)?;
    let sha256 = sha256.to_ascii_lowercase();
    if let Some(file) = file_version(plugin).filter(|v| v.sha256 == sha256) {
        plugin.component = plugin.declared.clone();
        return Ok((next, file));
    }
    let stored = data_dir
        .as_deref()
        .map(PluginStore::new)
        .filter(|_| is_sha256(&sha256))
        .and_then(|store| {
            let version = store
                .versions(name)
                .into_iter()
                .find(|v| v.sha256 == sha256)?;
            Some((store.component_path(name, &sha256), version))
        });
    let Some((path, version)) = stored else {
        return Err(Refusal::NotFound(format!(
            "plugin `{name}` has no version {sha256}: `turnpike plugin list` shows its versions"
        )));
    };
    plugin.component = path;
    Ok((next, PluginVersion::uploaded(version)))
}

/// Records which version of `name` serves: the `active` pointer, or none
/// when the file's version serves.
fn record_active(next: &Desired, name: &str, version: &PluginVersion) -> Result<(), Refusal> {
    let Some(data_dir) = next.config.server.data_dir.as_deref() else {
        return Ok(());
    };
    let store = PluginStore::new(data_dir);
    let written = match version.source {
        VersionSource::File => store.deactivate(name),
        VersionSource::Upload => store.activate(
            name,
            &StoredVersion {
                sha256: version.sha256.clone(),
                size: version.size,
                world: version.world.clone(),
                uploaded_at: version.uploaded_at.clone().unwrap_or_else(rfc3339_now),
            },
        ),
    };
    written.map_err(|e| {
        Refusal::Storage(format!(
            "cannot record the active version in {}: {e}; nothing changed",
            data_dir.display()
        ))
    })
}

/// `DELETE /plugins/NAME/versions/SHA256`.
fn remove_version(admin: &Admin, name: &str, sha256: &str) -> Result<Removed, Refusal> {
    let not_found = || Refusal::NotFound("Not Found".into());
    let (known, data_dir, pinned_by_file) = admin.control.read(|d| {
        (
            d.config.plugins.iter().any(|p| p.name == name),
            d.config.server.data_dir.clone(),
            d.config
                .plugins
                .iter()
                .any(|p| p.name == format!("{name}@{sha256}")),
        )
    });
    // Both end up in file names: only a configured plugin and a hex digest.
    let (Some(data_dir), true, true) = (data_dir, known, is_sha256(sha256)) else {
        return Err(not_found());
    };
    let store = PluginStore::new(&data_dir);
    if store.active(name).ok().flatten().as_deref() == Some(sha256) {
        return Err(Refusal::Conflict(format!(
            "version {sha256} of `{name}` is active; activate another one first"
        )));
    }
    if pinned_by_file {
        return Err(Refusal::Conflict(format!(
            "version {sha256} of `{name}` is pinned by the configuration (`{name}@{sha256}`)"
        )));
    }
    let deployed = admin.control.read(|d| d.releases.pinned_digests(name));
    if deployed.iter().any(|d| d == sha256) {
        return Err(Refusal::Conflict(format!(
            "version {sha256} of `{name}` is part of a deployment"
        )));
    }
    if !store.versions(name).iter().any(|v| v.sha256 == sha256) {
        return Err(not_found());
    }
    // Through a change, so that in cluster mode every node forgets it.
    admin.control.change(
        |current| Ok((current.clone(), ())),
        |_, _| {
            store.forget(name, sha256);
            Ok::<(), Refusal>(())
        },
    )?;
    Ok(Removed {
        removed: sha256.to_owned(),
    })
}
