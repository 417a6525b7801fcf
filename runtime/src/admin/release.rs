//! Deployments, stage pointers, canaries and rollbacks through the admin API:
//!
//! - `GET /apis`: every API with its stages and what each serves.
//! - `GET /apis/API/deployments`, `GET /apis/API/deployments/ID`.
//! - `POST /apis/API/deployments` `{"stage"?, "description"?}`: snapshots the
//!   API as the configuration file defines it now, with the active plugin
//!   versions; with `stage`, the stage serves it at once.
//! - `GET /apis/API/stages/STAGE`; `PUT` `{"deployment"}` points the stage at
//!   a stored deployment.
//! - `POST /apis/API/stages/STAGE/rollback` `{"deployment"?}`.
//! - `PUT /apis/API/stages/STAGE/canary` `{"percent", "deployment"?,
//!   "variables"?, "description"?}`, `DELETE` it, `POST .../canary/promote`.
//!
//! Every change compiles the new snapshot first, then writes the stage's
//! pointer file, then serves it: a refused change leaves everything as it
//! was, and a crash after the write comes back serving the change.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, respond};
use crate::config::Config;
use crate::release::{CanaryState, Deployment, ReleaseError, Releases, StageState};

/// Largest JSON body a release call accepts.
pub const MAX_RELEASE_BODY: usize = 64 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    stage: Option<String>,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PointRequest {
    deployment: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    deployment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryRequest {
    percent: f64,
    deployment: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    description: String,
}

/// A release call, parsed from method and path.
enum Call {
    ListApis,
    ListDeployments(String),
    GetDeployment(String, String),
    Deploy(String),
    GetStage(String, String),
    PointStage(String, String),
    Rollback(String, String),
    SetCanary(String, String),
    RemoveCanary(String, String),
    Promote(String, String),
}

/// Why a path is not a release call.
enum NoCall {
    NotFound,
    MethodNotAllowed(&'static str),
}

/// Routes `method` and `path` (starting `/apis`) to a call.
fn parse(method: &Method, path: &str) -> Result<Call, NoCall> {
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let allow = |allowed: &'static str, call: Call, ok: bool| {
        if ok {
            Ok(call)
        } else {
            Err(NoCall::MethodNotAllowed(allowed))
        }
    };
    let get = method == Method::GET;
    match s.as_slice() {
        ["apis"] => allow("GET", Call::ListApis, get),
        ["apis", api, "deployments"] => match *method {
            Method::GET => Ok(Call::ListDeployments(api.to_string())),
            Method::POST => Ok(Call::Deploy(api.to_string())),
            _ => Err(NoCall::MethodNotAllowed("GET, POST")),
        },
        ["apis", api, "deployments", id] => allow(
            "GET",
            Call::GetDeployment(api.to_string(), id.to_string()),
            get,
        ),
        ["apis", api, "stages", stage] => match *method {
            Method::GET => Ok(Call::GetStage(api.to_string(), stage.to_string())),
            Method::PUT => Ok(Call::PointStage(api.to_string(), stage.to_string())),
            _ => Err(NoCall::MethodNotAllowed("GET, PUT")),
        },
        ["apis", api, "stages", stage, "rollback"] => allow(
            "POST",
            Call::Rollback(api.to_string(), stage.to_string()),
            method == Method::POST,
        ),
        ["apis", api, "stages", stage, "canary"] => match *method {
            Method::PUT => Ok(Call::SetCanary(api.to_string(), stage.to_string())),
            Method::DELETE => Ok(Call::RemoveCanary(api.to_string(), stage.to_string())),
            _ => Err(NoCall::MethodNotAllowed("PUT, DELETE")),
        },
        ["apis", api, "stages", stage, "canary", "promote"] => allow(
            "POST",
            Call::Promote(api.to_string(), stage.to_string()),
            method == Method::POST,
        ),
        _ => Err(NoCall::NotFound),
    }
}

/// Answers a release call; `body` is the request body, already read.
pub async fn handle(
    admin: Arc<Admin>,
    method: &Method,
    path: &str,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let call = match parse(method, path) {
        Ok(call) => call,
        Err(NoCall::NotFound) => {
            return respond(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
        }
        Err(NoCall::MethodNotAllowed(allow)) => return super::method_not_allowed(allow),
    };
    // Compiling plugins and writing files: off the admin thread's I/O loop.
    let outcome = tokio::task::spawn_blocking(move || run(&admin, call, &body)).await;
    match outcome {
        Ok(Ok((status, value))) => respond(status, value),
        Ok(Err(error)) => {
            let status = match &error {
                ReleaseError::NotFound(_) => StatusCode::NOT_FOUND,
                ReleaseError::Conflict(_) => StatusCode::CONFLICT,
                ReleaseError::Invalid(_) => StatusCode::BAD_REQUEST,
                ReleaseError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if status.is_server_error() {
                tracing::error!(%error, "release call failed");
            } else {
                tracing::warn!(%error, "release call refused; nothing changed");
            }
            respond(status, json!({"message": error.to_string()}))
        }
        Err(_) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"message": "Internal server error"}),
        ),
    }
}

fn body_of<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ReleaseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    required_body(body)
}

fn required_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ReleaseError> {
    serde_json::from_slice(body)
        .map_err(|e| ReleaseError::Invalid(format!("the request body is not valid: {e}")))
}

fn run(admin: &Admin, call: Call, body: &[u8]) -> Result<(StatusCode, Value), ReleaseError> {
    let ok = |value| Ok((StatusCode::OK, value));
    match call {
        Call::ListApis => {
            let current = admin.current();
            let releases = admin.gateway.releases();
            ok(json!({ "apis": apis_json(&current, &releases) }))
        }
        Call::ListDeployments(api) => {
            let current = admin.current();
            known_api(&current, &api)?;
            let records: Vec<Value> = admin
                .gateway
                .releases()
                .list(&api)
                .into_iter()
                .map(|r| {
                    json!({"id": r.id, "createdAt": r.created_at, "description": r.description, "plugins": r.plugins})
                })
                .collect();
            ok(json!({ "deployments": records }))
        }
        Call::GetDeployment(api, id) => {
            let current = admin.current();
            known_api(&current, &api)?;
            let deployment = admin.gateway.releases().deployment(&api, &id)?;
            ok(serde_json::to_value(&deployment.record)
                .map_err(|e| ReleaseError::Storage(e.to_string()))?)
        }
        Call::GetStage(api, stage) => {
            let current = admin.current();
            known_stage(&current, &api, &stage)?;
            let state = admin
                .gateway
                .releases()
                .stage(&api, &stage)
                .cloned()
                .unwrap_or_default();
            ok(stage_json(&api, &stage, &state))
        }
        Call::Deploy(api) => {
            let request: DeployRequest = body_of(body)?;
            let deployment = admin.create_deployment(&api, &request.description)?;
            let id = deployment.record.id.clone();
            let mut answer = json!({
                "id": id,
                "api": api,
                "createdAt": deployment.record.created_at,
                "description": deployment.record.description,
                "plugins": deployment.record.plugins,
            });
            if let Some(stage) = request.stage {
                let state = admin.change_stage(&api, &stage, Some(deployment), |state| {
                    let variables = state.variables.clone();
                    state.deploy(id, variables);
                    Ok(())
                })?;
                answer["stage"] = stage_json(&api, &stage, &state);
            }
            tracing::info!(api = %api, deployment = %answer["id"], "deployment created (admin API)");
            Ok((StatusCode::CREATED, answer))
        }
        Call::PointStage(api, stage) => {
            let request: PointRequest = required_body(body)?;
            let state = admin.change_stage(&api, &stage, None, |state| {
                let variables = state.variables.clone();
                state.deploy(request.deployment, variables);
                Ok(())
            })?;
            ok(stage_json(&api, &stage, &state))
        }
        Call::Rollback(api, stage) => {
            let request: RollbackRequest = body_of(body)?;
            let state = admin.change_stage(&api, &stage, None, |state| {
                let at = match &request.deployment {
                    None => state.history.len().checked_sub(1).ok_or_else(|| {
                        ReleaseError::Conflict(format!(
                            "stage `{stage}` of API `{api}` has served nothing else; there is nothing to roll back to"
                        ))
                    })?,
                    Some(id) => state
                        .history
                        .iter()
                        .rposition(|h| h.deployment.as_deref() == Some(id.as_str()))
                        .ok_or_else(|| {
                            ReleaseError::NotFound(format!(
                                "stage `{stage}` of API `{api}` never served deployment `{id}`"
                            ))
                        })?,
                };
                let restored = state.history[at].clone();
                state.history.truncate(at);
                state.deployment = restored.deployment;
                state.variables = restored.variables;
                state.canary = None;
                Ok(())
            })?;
            tracing::info!(api = %api, stage = %stage, deployment = ?state.deployment, "stage rolled back (admin API)");
            ok(stage_json(&api, &stage, &state))
        }
        Call::SetCanary(api, stage) => {
            let request: CanaryRequest = required_body(body)?;
            if !(request.percent.is_finite() && (0.0..=100.0).contains(&request.percent)) {
                return Err(ReleaseError::Invalid(format!(
                    "percent must be between 0 and 100, not {}",
                    request.percent
                )));
            }
            if let Some(bad) = request.variables.keys().find(|k| {
                k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }) {
                return Err(ReleaseError::Invalid(format!(
                    "`{bad}` is not a stage variable name (letters, digits and `_`)"
                )));
            }
            {
                let current = admin.current();
                known_stage(&current, &api, &stage)?;
            }
            let (deployment, added) = match request.deployment {
                Some(id) => (id, None),
                None => {
                    let created = admin.create_deployment(&api, &request.description)?;
                    (created.record.id.clone(), Some(created))
                }
            };
            let state = admin.change_stage(&api, &stage, added, |state| {
                state.canary = Some(CanaryState {
                    deployment,
                    percent: request.percent,
                    variables: request.variables,
                });
                Ok(())
            })?;
            tracing::info!(api = %api, stage = %stage, canary = ?state.canary, "canary set (admin API)");
            ok(stage_json(&api, &stage, &state))
        }
        Call::RemoveCanary(api, stage) => {
            let state = admin.change_stage(&api, &stage, None, |state| {
                state
                    .canary
                    .take()
                    .map(|_| ())
                    .ok_or_else(|| no_canary(&api, &stage))
            })?;
            ok(stage_json(&api, &stage, &state))
        }
        Call::Promote(api, stage) => {
            let state = admin.change_stage(&api, &stage, None, |state| {
                let canary = state.canary.take().ok_or_else(|| no_canary(&api, &stage))?;
                let mut variables = state.variables.clone();
                variables.extend(canary.variables);
                state.deploy(canary.deployment, variables);
                Ok(())
            })?;
            tracing::info!(api = %api, stage = %stage, deployment = ?state.deployment, "canary promoted (admin API)");
            ok(stage_json(&api, &stage, &state))
        }
    }
}

fn no_canary(api: &str, stage: &str) -> ReleaseError {
    ReleaseError::Conflict(format!("stage `{stage}` of API `{api}` has no canary"))
}

fn known_api(config: &Config, api: &str) -> Result<(), ReleaseError> {
    if config.apis.iter().any(|a| a.name == api) {
        Ok(())
    } else {
        Err(ReleaseError::NotFound(format!(
            "the running configuration has no API `{api}`"
        )))
    }
}

fn known_stage(config: &Config, api: &str, stage: &str) -> Result<(), ReleaseError> {
    known_api(config, api)?;
    if Releases::stage_exists(config, api, stage) {
        Ok(())
    } else {
        Err(ReleaseError::NotFound(format!(
            "API `{api}` has no stage `{stage}` in the running configuration"
        )))
    }
}

impl Admin {
    /// Snapshots `api` from the configuration file into a new deployment.
    fn create_deployment(
        &self,
        api: &str,
        description: &str,
    ) -> Result<Arc<Deployment>, ReleaseError> {
        let Some(path) = self.config_path.clone() else {
            return Err(ReleaseError::Conflict(
                "the gateway was not started from a file; there is nothing to deploy".into(),
            ));
        };
        let current = self.current();
        known_api(&current, api)?;
        self.gateway.releases().create(&path, api, description)
    }

    /// Changes one stage's pointer: compiles the result, records it
    /// durably, then serves it. Returns the stage's new state.
    fn change_stage(
        &self,
        api: &str,
        stage: &str,
        added: Option<Arc<Deployment>>,
        change: impl FnOnce(&mut StageState) -> Result<(), ReleaseError>,
    ) -> Result<StageState, ReleaseError> {
        let current = self.current();
        known_stage(&current, api, stage)?;
        let next = self
            .gateway
            .releases()
            .with_stage(api, stage, added, change)?;
        let snapshot = self
            .gateway
            .compile(&current, &next)
            .map_err(|e| ReleaseError::Invalid(format!("the stage would not compile: {e}")))?;
        next.persist(api, stage)?;
        let state = next.stage(api, stage).cloned().unwrap_or_default();
        self.gateway.install(snapshot, next);
        Ok(state)
    }
}

fn stage_json(api: &str, stage: &str, state: &StageState) -> Value {
    json!({
        "api": api,
        "stage": stage,
        "deployment": state.deployment,
        "variables": state.variables,
        "canary": state.canary,
        "history": state.history,
    })
}

fn apis_json(config: &Config, releases: &Releases) -> Vec<Value> {
    config
        .apis
        .iter()
        .map(|api| {
            let stages: Vec<Value> = api
                .stages
                .iter()
                .map(|s| {
                    let name = s.name.as_str();
                    let state = releases.stage(&api.name, name).cloned().unwrap_or_default();
                    json!({
                        "name": name,
                        "deployment": state.deployment,
                        "variables": state.variables,
                        "canary": state.canary,
                    })
                })
                .collect();
            json!({"name": api.name, "stages": stages})
        })
        .collect()
}
