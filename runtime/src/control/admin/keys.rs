//! API keys through the admin API:
//!
//! - `POST /api-keys` `{"name", "value"?, "enabled"?, "usagePlans"?}`:
//!   creates a key (a random value unless one is given); `201` with the
//!   value — the only answer that shows it.
//! - `GET /api-keys`: every key, from the file and created here, without
//!   values.
//! - `PATCH /api-keys/NAME` `{"enabled"}`: enables or disables a created key.
//! - `DELETE /api-keys/NAME`: removes a created key.
//!
//! A change is compiled into the running configuration first, then written
//! to `server.data_dir`; it is in force when the answer arrives.

use std::sync::Arc;

use http::{Method, StatusCode};
use hyper::body::Incoming;

use super::api::{
    CreateKeyRequest, KeyChanged, KeyCreated, KeyList, KeyView, Removed, UpdateKeyRequest,
};
use super::{Admin, Answer, blocking, internal_error, read_json_body, refuse, respond};
use crate::control::gateway::ReloadError;
use crate::control::state::{Desired, add_key, remove_key};
use crate::store::{ApiKeyStore, StoredKey};
use crate::util::time::rfc3339_now;

/// A refused key call: its status and message.
struct Refusal(StatusCode, String);

impl From<ReloadError> for Refusal {
    fn from(error: ReloadError) -> Refusal {
        let status = match error {
            ReloadError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ReloadError::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        Refusal(status, error.to_string())
    }
}

/// Answers `/api-keys` and `/api-keys/NAME`.
pub(super) async fn handle(
    admin: Arc<Admin>,
    method: Method,
    path: String,
    body: Incoming,
) -> Answer {
    let body = match read_json_body(body).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let name = path
        .strip_prefix("/api-keys")
        .unwrap_or_default()
        .strip_prefix('/')
        .map(str::to_owned);
    let invalid = |e: serde_json::Error| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid: {e}"),
        )
    };
    let outcome = blocking(move || match (&method, name) {
        (&Method::GET, None) => Ok(respond(StatusCode::OK, &list_keys(&admin))),
        (&Method::POST, None) => serde_json::from_slice::<CreateKeyRequest>(&body)
            .map_err(invalid)
            .and_then(|request| create_key(&admin, request))
            .map(|created| respond(StatusCode::CREATED, &created)),
        (_, None) => Ok(super::method_not_allowed("GET, POST")),
        (&Method::PATCH, Some(name)) => serde_json::from_slice::<UpdateKeyRequest>(&body)
            .map_err(invalid)
            .and_then(|request| change_key(&admin, &name, Some(request.enabled)))
            .map(|changed| respond(StatusCode::OK, &changed)),
        (&Method::DELETE, Some(name)) => change_key(&admin, &name, None).map(|_| {
            respond(
                StatusCode::OK,
                &Removed {
                    removed: name.clone(),
                },
            )
        }),
        (_, Some(_)) => Ok(super::method_not_allowed("PATCH, DELETE")),
    })
    .await;
    match outcome {
        Some(Ok(answer)) => answer,
        Some(Err(Refusal(status, message))) => refuse(status, message),
        None => internal_error(),
    }
}

fn key_store(admin: &Admin) -> Result<ApiKeyStore, Refusal> {
    admin
        .control
        .read(|d| d.config.server.data_dir.as_deref().map(ApiKeyStore::new))
        .ok_or_else(|| {
            Refusal(
                StatusCode::CONFLICT,
                "API keys created through the admin API need server.data_dir".to_owned(),
            )
        })
}

fn list_keys(admin: &Admin) -> KeyList {
    let created: Vec<String> = key_store(admin)
        .ok()
        .and_then(|s| s.list().ok())
        .unwrap_or_default()
        .into_iter()
        .map(|k| k.name)
        .collect();
    admin.control.read(|d| KeyList {
        api_keys: d
            .config
            .api_keys
            .iter()
            .enumerate()
            .map(|(i, key)| KeyView {
                name: key.name.clone(),
                enabled: key.enabled,
                usage_plans: d
                    .config
                    .usage_plans
                    .iter()
                    .filter(|p| p.api_keys.contains(&i))
                    .map(|p| p.name.clone())
                    .collect(),
                source: if created.contains(&key.name) {
                    "admin"
                } else {
                    "config"
                }
                .to_owned(),
            })
            .collect(),
    })
}

fn create_key(admin: &Admin, request: CreateKeyRequest) -> Result<KeyCreated, Refusal> {
    let store = key_store(admin)?;
    let value = match request.value {
        Some(value) => value,
        None => crate::store::keys::new_value()
            .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, e))?,
    };
    let key = StoredKey {
        name: request.name,
        value,
        enabled: request.enabled,
        usage_plans: request.usage_plans,
        created_at: rfc3339_now(),
        owner: None,
    };
    admin.control.change(
        |current| {
            let mut next = current.clone();
            add_key(&mut next.config, &key).map_err(|e| {
                let status = if e.contains("exists already") || e.contains("same value") {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::BAD_REQUEST
                };
                Refusal(status, e)
            })?;
            Ok((next, ()))
        },
        |_, _| {
            store.put(&key).map_err(|e| {
                Refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot record the key: {e}; nothing changed"),
                )
            })
        },
    )?;
    tracing::info!(key = %key.name, plans = ?key.usage_plans, "API key created (admin API)");
    Ok(KeyCreated {
        name: key.name,
        value: key.value,
        enabled: key.enabled,
        usage_plans: key.usage_plans,
        created_at: key.created_at,
    })
}

/// Enables or disables (`Some`) or removes (`None`) a created key.
fn change_key(admin: &Admin, name: &str, enabled: Option<bool>) -> Result<KeyChanged, Refusal> {
    let store = key_store(admin)?;
    let stored = store
        .list()
        .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let Some(mut key) = stored.iter().find(|k| k.name == name).cloned() else {
        let in_file = admin
            .control
            .read(|d| d.config.api_keys.iter().any(|k| k.name == name));
        return Err(if in_file {
            Refusal(
                StatusCode::CONFLICT,
                format!("API key `{name}` is defined in the configuration file; change it there"),
            )
        } else {
            Refusal(StatusCode::NOT_FOUND, format!("no API key `{name}`"))
        });
    };
    if let Some(enabled) = enabled {
        key.enabled = enabled;
    }
    admin.control.change(
        |current| {
            let mut next: Desired = current.clone();
            let not_found = || Refusal(StatusCode::NOT_FOUND, format!("no API key `{name}`"));
            match enabled {
                Some(enabled) => {
                    let key = next
                        .config
                        .api_keys
                        .iter_mut()
                        .find(|k| k.name == name)
                        .ok_or_else(not_found)?;
                    key.enabled = enabled;
                }
                None if remove_key(&mut next.config, name) => {}
                None => return Err(not_found()),
            }
            Ok((next, ()))
        },
        |_, _| {
            match enabled {
                Some(_) => store.put(&key),
                None => store.remove(name),
            }
            .map_err(|e| {
                Refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot record the change: {e}; nothing changed"),
                )
            })
        },
    )?;
    Ok(KeyChanged {
        name: name.to_owned(),
        enabled: key.enabled,
        usage_plans: key.usage_plans,
    })
}
