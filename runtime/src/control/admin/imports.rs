//! APIs imported at run time from API Gateway definitions:
//!
//! - `POST /apis/NAME/import?map=FN%3Dplugin&partial=true&basePath=stage`
//!   with the definition (JSON or YAML) as the body: imports it as API
//!   `NAME` (or replaces the API an earlier import made), validated and
//!   compiled with the rest of the configuration before anything changes;
//!   200 with the report, 400 with the report and problems, nothing
//!   changed.
//! - `DELETE /apis/NAME/import`: removes an API imported so.
//!
//! The imported TOML is kept in `DATA_DIR/imports/NAME.toml` and read with
//! the configuration file at every start and reload. An API the file
//! defines itself cannot be replaced this way (409).

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};

use super::api::{ApiImported, ErrorBody};
use super::{Admin, Answer, blocking, internal_error, refuse, respond};
use crate::config::Config;
use crate::control::gateway::ReloadError;
use crate::control::state::{self, Desired};
use crate::openapi::Source;
use crate::openapi::import::{self, BasePath, Options};
use crate::store::ImportStore;
use crate::store::imports::with_imports;

/// Why an import was refused.
enum Refusal {
    /// 400, with the report or the configuration's problems.
    Invalid(String, Vec<String>),
    /// 404.
    NotFound(String),
    /// 409.
    Conflict(String),
    /// 500.
    Storage(String),
    /// Cluster mode, Redis away: 503.
    Unavailable(String),
}

impl From<ReloadError> for Refusal {
    fn from(error: ReloadError) -> Refusal {
        match error {
            ReloadError::Unavailable(_) => return Refusal::Unavailable(error.to_string()),
            ReloadError::Conflict(why) => return Refusal::Conflict(why),
            _ => {}
        }
        Refusal::Invalid(
            "the imported API does not compile; nothing changed".into(),
            error.to_string().lines().map(str::to_owned).collect(),
        )
    }
}

/// What one call asks.
struct Call {
    api: String,
    remove: bool,
    options: Options,
    body: Bytes,
}

/// Answers `POST` / `DELETE /apis/NAME/import`.
pub(super) async fn handle(
    admin: Arc<Admin>,
    method: &Method,
    api: &str,
    query: Option<&str>,
    body: Bytes,
) -> Answer {
    let remove = match *method {
        Method::POST => false,
        Method::DELETE => true,
        _ => return super::method_not_allowed("POST, DELETE"),
    };
    let mut options = Options {
        api_name: Some(api.to_owned()),
        ..Options::default()
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "map" => match value.split_once('=') {
                Some((name, value)) if !value.ends_with(".wasm") => {
                    options
                        .maps
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
                Some(_) => {
                    return refuse(
                        StatusCode::BAD_REQUEST,
                        "a run-time import maps functions to configured plugins, not to .wasm files (upload them with `turnpike plugin push`)",
                    );
                }
                None => {
                    return refuse(
                        StatusCode::BAD_REQUEST,
                        format!("map `{value}`: expected NAME=VALUE"),
                    );
                }
            },
            "partial" => options.partial = value == "true",
            "basePath" => {
                options.base_path = match value.as_ref() {
                    "stage" => BasePath::Stage,
                    "prepend" => BasePath::Prepend,
                    "ignore" => BasePath::Ignore,
                    other => {
                        return refuse(
                            StatusCode::BAD_REQUEST,
                            format!("basePath `{other}`: expected stage, prepend or ignore"),
                        );
                    }
                }
            }
            other => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter `{other}` (map, partial, basePath)"),
                );
            }
        }
    }
    let call = Call {
        api: api.to_owned(),
        remove,
        options,
        body,
    };
    match blocking(move || run(&admin, call)).await {
        Some(Ok(answer)) => answer,
        Some(Err(refusal)) => {
            let (status, body) = match refusal {
                Refusal::Invalid(message, problems) => (
                    StatusCode::BAD_REQUEST,
                    ErrorBody {
                        message,
                        problems,
                        ..ErrorBody::default()
                    },
                ),
                Refusal::NotFound(m) => (StatusCode::NOT_FOUND, ErrorBody::message(m)),
                Refusal::Conflict(m) => (StatusCode::CONFLICT, ErrorBody::message(m)),
                Refusal::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, ErrorBody::message(m)),
                Refusal::Storage(m) => {
                    tracing::error!(error = %m, "import failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, ErrorBody::message(m))
                }
            };
            if status.is_client_error() {
                tracing::warn!(message = %body.message, "import refused; nothing changed");
            }
            respond(status, &body)
        }
        None => internal_error(),
    }
}

fn run(admin: &Admin, call: Call) -> Result<Answer, Refusal> {
    let control = &admin.control;
    let Some(path) = control.config_path().map(|p| p.to_path_buf()) else {
        return Err(Refusal::Conflict(
            "the gateway was not started from a configuration file".into(),
        ));
    };
    let data_dir = control
        .read(|d| d.config.server.data_dir.clone())
        .ok_or_else(|| Refusal::Conflict("run-time imports need `server.data_dir`".into()))?;
    let store = ImportStore::new(&data_dir);
    let file_text = std::fs::read_to_string(&path)
        .map_err(|e| Refusal::Storage(format!("{}: {e}", path.display())))?;
    // Which APIs the file defines; the merged text is validated in full
    // below.
    let file_table: toml::Table = file_text.parse().map_err(|e| {
        Refusal::Conflict(format!(
            "{} is not valid TOML now; fix it first: {e}",
            path.display()
        ))
    })?;
    let file_defines = file_table
        .get("apis")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .any(|a| a.get("name").and_then(|n| n.as_str()) == Some(call.api.as_str()));
    if file_defines {
        return Err(Refusal::Conflict(format!(
            "API `{}` is defined by {}; edit the file instead",
            call.api,
            path.display()
        )));
    }
    let mut imports = store.list().map_err(Refusal::Storage)?;
    let existed = imports.iter().any(|(name, _)| *name == call.api);
    imports.retain(|(name, _)| *name != call.api);
    let (fragment, report) = if call.remove {
        if !existed {
            return Err(Refusal::NotFound(format!(
                "no API `{}` was imported at run time",
                call.api
            )));
        }
        (None, import::Report::default())
    } else {
        let text = String::from_utf8_lossy(&call.body);
        let source = Source::parse(&text, "body")
            .map_err(|e| Refusal::Invalid(e.to_string(), Vec::new()))?;
        let imported = import::import(&source, &call.options).map_err(|report| {
            Refusal::Invalid(
                "the definition cannot be imported; nothing changed".into(),
                report.to_string().lines().map(str::to_owned).collect(),
            )
        })?;
        (Some(imported.toml), imported.report)
    };
    if let Some(fragment) = &fragment {
        imports.push((call.api.clone(), fragment.clone()));
    }
    let merged = with_imports(&file_text, &imports, &store);
    let (((), generation), lines) = {
        let outcome = control.change(
            |current| {
                let config = Config::parse(&merged, &path.display().to_string()).map_err(|e| {
                    Refusal::Invalid(
                        "the imported API does not validate with the configuration; nothing changed".into(),
                        e.to_string().lines().map(str::to_owned).collect(),
                    )
                })?;
                let config = state::apply_stores(config, &data_dir).map_err(|e| Refusal::Invalid(e, Vec::new()))?;
                Ok((
                    Desired {
                        config,
                        releases: current.releases.clone(),
                    },
                    (),
                ))
            },
            |_, _| match &fragment {
                Some(fragment) => store.put(&call.api, fragment).map_err(Refusal::Storage),
                None => store.remove(&call.api).map(|_| ()).map_err(Refusal::Storage),
            },
        )?;
        (
            outcome,
            report
                .findings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )
    };
    if call.remove {
        tracing::info!(api = %call.api, generation, "imported API removed (admin API)");
        return Ok(respond(
            StatusCode::OK,
            &serde_json::json!({"api": call.api, "removed": true, "generation": generation}),
        ));
    }
    tracing::info!(api = %call.api, routes = report.routes_imported, generation, "API imported (admin API)");
    Ok(respond(
        StatusCode::OK,
        &ApiImported {
            api: call.api,
            routes_imported: report.routes_imported,
            routes_left_out: report.routes_left_out,
            report: lines,
            generation,
        },
    ))
}
