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

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, respond};
use crate::keys::{ApiKeyStore, StoredKey, add_key};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateRequest {
    name: String,
    value: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    usage_plans: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    enabled: bool,
}

/// Answers `/api-keys` and `/api-keys/NAME`.
pub fn handle(admin: &Admin, method: &Method, path: &str, body: &[u8]) -> Response<Full<Bytes>> {
    let name = path.strip_prefix("/api-keys").unwrap_or_default();
    let outcome = match (method, name.strip_prefix('/')) {
        (&Method::GET, None) => Ok((StatusCode::OK, admin.list_keys())),
        (&Method::POST, None) => serde_json::from_slice::<CreateRequest>(body)
            .map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the request body is not valid: {e}"),
                )
            })
            .and_then(|request| admin.create_key(request)),
        (_, None) => return super::method_not_allowed("GET, POST"),
        (&Method::PATCH, Some(name)) => serde_json::from_slice::<UpdateRequest>(body)
            .map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the request body is not valid: {e}"),
                )
            })
            .and_then(|request| admin.change_key(name, Some(request.enabled))),
        (&Method::DELETE, Some(name)) => admin.change_key(name, None),
        (_, Some(_)) => return super::method_not_allowed("PATCH, DELETE"),
    };
    match outcome {
        Ok((status, value)) => respond(status, value),
        Err((status, message)) => respond(status, json!({ "message": message })),
    }
}

type Outcome = Result<(StatusCode, Value), (StatusCode, String)>;

impl Admin {
    fn key_store(&self) -> Result<ApiKeyStore, (StatusCode, String)> {
        let current = self.current();
        current
            .server
            .data_dir
            .as_deref()
            .map(ApiKeyStore::new)
            .ok_or_else(|| {
                (
                    StatusCode::CONFLICT,
                    "API keys created through the admin API need server.data_dir".to_owned(),
                )
            })
    }

    fn list_keys(&self) -> Value {
        // Before taking the configuration's lock, which `key_store` takes too.
        let created: Vec<String> = self
            .key_store()
            .ok()
            .and_then(|s| s.list().ok())
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.name)
            .collect();
        let current = self.current();
        let keys: Vec<Value> = current
            .api_keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let plans: Vec<&str> = current
                    .usage_plans
                    .iter()
                    .filter(|p| p.api_keys.contains(&i))
                    .map(|p| p.name.as_str())
                    .collect();
                json!({
                    "name": key.name,
                    "enabled": key.enabled,
                    "usagePlans": plans,
                    "source": if created.contains(&key.name) { "admin" } else { "config" },
                })
            })
            .collect();
        json!({ "apiKeys": keys })
    }

    fn create_key(&self, request: CreateRequest) -> Outcome {
        let store = self.key_store()?;
        let value = match request.value {
            Some(value) => value,
            None => crate::keys::new_value().map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?,
        };
        let key = StoredKey {
            name: request.name,
            value,
            enabled: request.enabled,
            usage_plans: request.usage_plans,
            created_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        };
        let mut current = self.current();
        let mut next = current.clone();
        add_key(&mut next, &key).map_err(|e| {
            let status = if e.contains("exists already") || e.contains("same value") {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, e)
        })?;
        self.gateway
            .reload(&next)
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
        store.put(&key).map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the key is in force but cannot be recorded: {e}; a restart would lose it"),
            )
        })?;
        *current = next;
        tracing::info!(key = %key.name, plans = ?key.usage_plans, "API key created (admin API)");
        Ok((
            StatusCode::CREATED,
            json!({
                "name": key.name,
                "value": key.value,
                "enabled": key.enabled,
                "usagePlans": key.usage_plans,
                "createdAt": key.created_at,
            }),
        ))
    }

    /// Enables or disables (`Some`) or removes (`None`) a created key.
    fn change_key(&self, name: &str, enabled: Option<bool>) -> Outcome {
        let store = self.key_store()?;
        let stored = store
            .list()
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
        let mut current = self.current();
        let Some(mut key) = stored.iter().find(|k| k.name == name).cloned() else {
            return Err(if current.api_keys.iter().any(|k| k.name == name) {
                (
                    StatusCode::CONFLICT,
                    format!(
                        "API key `{name}` is defined in the configuration file; change it there"
                    ),
                )
            } else {
                (StatusCode::NOT_FOUND, format!("no API key `{name}`"))
            });
        };
        let mut next = current.clone();
        let Some(index) = next.api_keys.iter().position(|k| k.name == name) else {
            return Err((StatusCode::NOT_FOUND, format!("no API key `{name}`")));
        };
        match enabled {
            Some(enabled) => {
                key.enabled = enabled;
                next.api_keys[index].enabled = enabled;
            }
            None => {
                // Later keys move down one place; the plans' indexes follow.
                next.api_keys.remove(index);
                for plan in &mut next.usage_plans {
                    plan.api_keys.retain(|&k| k != index);
                    for k in &mut plan.api_keys {
                        if *k > index {
                            *k -= 1;
                        }
                    }
                }
            }
        }
        self.gateway
            .reload(&next)
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
        let written = match enabled {
            Some(_) => store.put(&key),
            None => store.remove(name),
        };
        written.map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the change is in force but cannot be recorded: {e}; a restart would undo it"
                ),
            )
        })?;
        *current = next;
        Ok(match enabled {
            Some(enabled) => (
                StatusCode::OK,
                json!({"name": name, "enabled": enabled, "usagePlans": key.usage_plans}),
            ),
            None => (StatusCode::OK, json!({"removed": name})),
        })
    }
}
