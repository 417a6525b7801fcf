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

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Serialize;

use super::api::{
    ApiList, ApiView, CanaryRequest, DeployRequest, DeploymentCreated, DeploymentList,
    DeploymentSummary, PointRequest, RollbackRequest, StageSummary, StageView,
};
use super::{Admin, Answer, blocking, internal_error, refuse, respond};
use crate::config::Config;
use crate::control::gateway::ReloadError;
use crate::control::releases::{Deployment, ReleaseError, Releases};
use crate::control::state::{self, Desired};
use crate::store::{CanaryState, StageState};

impl From<ReloadError> for ReleaseError {
    fn from(error: ReloadError) -> ReleaseError {
        match error {
            ReloadError::Unavailable(_) => ReleaseError::Unavailable(error.to_string()),
            ReloadError::Conflict(why) => ReleaseError::Conflict(why),
            _ => ReleaseError::Invalid(format!("the stage would not compile: {error}")),
        }
    }
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
pub(super) async fn handle(admin: Arc<Admin>, method: &Method, path: &str, body: Bytes) -> Answer {
    let call = match parse(method, path) {
        Ok(call) => call,
        Err(NoCall::NotFound) => return refuse(StatusCode::NOT_FOUND, "Not Found"),
        Err(NoCall::MethodNotAllowed(allow)) => return super::method_not_allowed(allow),
    };
    let outcome = blocking(move || run(&admin, call, &body)).await;
    match outcome {
        Some(Ok(answer)) => answer,
        Some(Err(error)) => {
            let status = match &error {
                ReleaseError::NotFound(_) => StatusCode::NOT_FOUND,
                ReleaseError::Conflict(_) => StatusCode::CONFLICT,
                ReleaseError::Invalid(_) => StatusCode::BAD_REQUEST,
                ReleaseError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
                ReleaseError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            if status.is_server_error() {
                tracing::error!(%error, "release call failed");
            } else {
                tracing::warn!(%error, "release call refused; nothing changed");
            }
            refuse(status, error.to_string())
        }
        None => internal_error(),
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

fn ok(value: &impl Serialize) -> Result<Answer, ReleaseError> {
    Ok(respond(StatusCode::OK, value))
}

fn run(admin: &Admin, call: Call, body: &[u8]) -> Result<Answer, ReleaseError> {
    let control = &admin.control;
    match call {
        Call::ListApis => ok(&control.read(|d| ApiList {
            apis: api_views(&d.config, &d.releases),
        })),
        Call::ListDeployments(api) => {
            let records = control.read(|d| {
                known_api(&d.config, &api)?;
                Ok::<_, ReleaseError>(d.releases.list(&api))
            })?;
            ok(&DeploymentList {
                deployments: records
                    .into_iter()
                    .map(|r| DeploymentSummary {
                        id: r.id,
                        created_at: r.created_at,
                        description: r.description,
                        plugins: r.plugins,
                    })
                    .collect(),
            })
        }
        Call::GetDeployment(api, id) => {
            let deployment = control.read(|d| {
                known_api(&d.config, &api)?;
                d.releases.deployment(&api, &id)
            })?;
            ok(&deployment.record)
        }
        Call::GetStage(api, stage) => {
            let state = control.read(|d| {
                known_stage(&d.config, &api, &stage)?;
                Ok::<_, ReleaseError>(d.releases.stage(&api, &stage).cloned().unwrap_or_default())
            })?;
            ok(&stage_view(&api, &stage, state))
        }
        Call::Deploy(api) => {
            let request: DeployRequest = body_of(body)?;
            let deployment = create_deployment(admin, &api, &request.description)?;
            let mut answer = DeploymentCreated {
                id: deployment.record.id.clone(),
                api: api.clone(),
                created_at: deployment.record.created_at.clone(),
                description: deployment.record.description.clone(),
                plugins: deployment.record.plugins.clone(),
                stage: None,
            };
            if let Some(stage) = request.stage {
                let id = answer.id.clone();
                let state = change_stage(admin, &api, &stage, Some(deployment), |state| {
                    let variables = state.variables.clone();
                    state.deploy(id, variables);
                    Ok(())
                })?;
                answer.stage = Some(stage_view(&api, &stage, state));
            }
            tracing::info!(api = %api, deployment = %answer.id, "deployment created (admin API)");
            Ok(respond(StatusCode::CREATED, &answer))
        }
        Call::PointStage(api, stage) => {
            let request: PointRequest = required_body(body)?;
            let state = change_stage(admin, &api, &stage, None, |state| {
                let variables = state.variables.clone();
                state.deploy(request.deployment, variables);
                Ok(())
            })?;
            ok(&stage_view(&api, &stage, state))
        }
        Call::Rollback(api, stage) => {
            let request: RollbackRequest = body_of(body)?;
            let state = change_stage(admin, &api, &stage, None, |state| {
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
            ok(&stage_view(&api, &stage, state))
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
            control.read(|d| known_stage(&d.config, &api, &stage))?;
            let (deployment, added) = match request.deployment {
                Some(id) => (id, None),
                None => {
                    let created = create_deployment(admin, &api, &request.description)?;
                    (created.record.id.clone(), Some(created))
                }
            };
            let state = change_stage(admin, &api, &stage, added, |state| {
                state.canary = Some(CanaryState {
                    deployment,
                    percent: request.percent,
                    variables: request.variables,
                });
                Ok(())
            })?;
            tracing::info!(api = %api, stage = %stage, canary = ?state.canary, "canary set (admin API)");
            ok(&stage_view(&api, &stage, state))
        }
        Call::RemoveCanary(api, stage) => {
            let state = change_stage(admin, &api, &stage, None, |state| {
                state
                    .canary
                    .take()
                    .map(|_| ())
                    .ok_or_else(|| no_canary(&api, &stage))
            })?;
            ok(&stage_view(&api, &stage, state))
        }
        Call::Promote(api, stage) => {
            let state = change_stage(admin, &api, &stage, None, |state| {
                let canary = state.canary.take().ok_or_else(|| no_canary(&api, &stage))?;
                let mut variables = state.variables.clone();
                variables.extend(canary.variables);
                state.deploy(canary.deployment, variables);
                Ok(())
            })?;
            tracing::info!(api = %api, stage = %stage, deployment = ?state.deployment, "canary promoted (admin API)");
            ok(&stage_view(&api, &stage, state))
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

/// Snapshots `api` from the configuration file, as it reads now with the
/// active plugin versions, into a new deployment.
fn create_deployment(
    admin: &Admin,
    api: &str,
    description: &str,
) -> Result<Arc<Deployment>, ReleaseError> {
    let Some(path) = admin
        .control
        .config_path()
        .map(std::path::Path::to_path_buf)
    else {
        return Err(ReleaseError::Conflict(
            "the gateway was not started from a file; there is nothing to deploy".into(),
        ));
    };
    let releases = admin.control.read(|d| {
        known_api(&d.config, api)?;
        Ok::<_, ReleaseError>(d.releases.clone())
    })?;
    let config = state::load(&path).map_err(|e| {
        ReleaseError::Invalid(format!("the configuration file does not validate:\n{e}"))
    })?;
    // Through a change, though nothing served changes: in cluster mode the
    // deployment's records then reach the fleet like any other.
    let (deployment, _) = admin.control.change(
        |current| {
            let deployment = releases.create(&config, &path, api, description)?;
            Ok((current.clone(), deployment))
        },
        |_, _| Ok::<(), ReleaseError>(()),
    )?;
    Ok(deployment)
}

/// Changes one stage's pointer: compiles the result, records it durably,
/// then serves it. Returns the stage's new state.
fn change_stage(
    admin: &Admin,
    api: &str,
    stage: &str,
    added: Option<Arc<Deployment>>,
    change: impl FnOnce(&mut StageState) -> Result<(), ReleaseError>,
) -> Result<StageState, ReleaseError> {
    let (state, _) = admin.control.change(
        |current| {
            known_stage(&current.config, api, stage)?;
            let releases = current.releases.with_stage(api, stage, added, change)?;
            let state = releases.stage(api, stage).cloned().unwrap_or_default();
            Ok((
                Desired {
                    config: current.config.clone(),
                    releases,
                },
                state,
            ))
        },
        |next, _| next.releases.persist(api, stage),
    )?;
    Ok(state)
}

fn stage_view(api: &str, stage: &str, state: StageState) -> StageView {
    StageView {
        api: api.to_owned(),
        stage: stage.to_owned(),
        deployment: state.deployment,
        variables: state.variables,
        canary: state.canary,
        history: state.history,
    }
}

fn api_views(config: &Config, releases: &Releases) -> Vec<ApiView> {
    config
        .apis
        .iter()
        .map(|api| ApiView {
            name: api.name.clone(),
            stages: api
                .stages
                .iter()
                .map(|s| {
                    let name = s.name.as_str();
                    let state = releases.stage(&api.name, name).cloned().unwrap_or_default();
                    StageSummary {
                        name: name.to_owned(),
                        deployment: state.deployment,
                        variables: state.variables,
                        canary: state.canary,
                    }
                })
                .collect(),
        })
        .collect()
}
