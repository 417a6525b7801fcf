//! The commands that manage a running gateway through its admin API:
//! plugin versions, deployments, stages, canaries, API keys. Each is one
//! call and one line of output (or the JSON, for lists).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use http::Method;

use super::admin::{AdminTarget, Body, call, pretty, segment, stage_summary};
use crate::control::admin::api::{
    ActivateRequest, ApiList, CanaryRequest, CreateKeyRequest, DeployRequest, DeploymentCreated,
    DeploymentList, KeyChanged, KeyCreated, KeyList, PluginActivated, PluginList, PointRequest,
    Removed, RollbackRequest, StageView, UpdateKeyRequest,
};

/// Where the admin API is.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// Base URL of the admin API.
    #[arg(long, env = "TURNPIKE_ADMIN", default_value = "http://127.0.0.1:9901")]
    admin: String,
    /// Bearer token of the admin API.
    #[arg(long, env = "TURNPIKE_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token (instead of --token); a relative path
    /// is read from the current directory.
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
}

impl AdminArgs {
    fn target(&self) -> Result<AdminTarget, String> {
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        Ok(AdminTarget {
            url: self.admin.clone(),
            token,
        })
    }
}

#[derive(Subcommand)]
pub(super) enum ApiKeyCommand {
    /// Create a key (printed once) and put it in usage plans.
    Create {
        /// The key's name.
        name: String,
        /// A usage plan to put it in (repeatable).
        #[arg(long = "plan")]
        plans: Vec<String>,
        /// The value clients will send [default: 40 random letters and digits].
        #[arg(long)]
        value: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List every key (names, plans; never values).
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Enable a created key.
    Enable {
        /// The key's name.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Disable a created key: it is refused like an unknown one.
    Disable {
        /// The key's name.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Remove a created key.
    Rm {
        /// The key's name.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Subcommand)]
pub(super) enum CanaryCommand {
    /// Set (or change) the canary of a stage.
    Set {
        /// The API's name.
        api: String,
        /// The stage.
        #[arg(long)]
        stage: String,
        /// Share of the stage's requests the canary serves, 0 to 100.
        #[arg(long)]
        percent: f64,
        /// A stored deployment [default: a new one, snapshotting the configuration file now].
        #[arg(long)]
        deployment: Option<String>,
        /// Stage variable the canary overrides, NAME=VALUE (repeatable).
        #[arg(long = "var", value_parser = parse_variable)]
        variables: Vec<(String, String)>,
        /// A note kept with a new deployment.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Make the canary's deployment (and variable overrides) the stage's own.
    Promote {
        /// The API's name.
        api: String,
        /// The stage.
        #[arg(long)]
        stage: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Remove the canary; the stage's deployment serves every request.
    Rm {
        /// The API's name.
        api: String,
        /// The stage.
        #[arg(long)]
        stage: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

fn parse_variable(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

/// One admin call with `admin`'s target; its error as the line to print.
pub(super) fn with<T: serde::de::DeserializeOwned>(
    admin: &AdminArgs,
    method: Method,
    path: &str,
    body: Body,
) -> Result<T, String> {
    let target = admin.target()?;
    call(&target, method, path, body).map_err(|e| e.to_string())
}

fn stage_path(api: &str, stage: &str) -> String {
    format!("/apis/{}/stages/{}", segment(api), segment(stage))
}

pub(super) fn push(admin: &AdminArgs, name: &str, file: &Path) -> Result<String, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let answer: PluginActivated = with(
        admin,
        Method::PUT,
        &format!("/plugins/{}", segment(name)),
        Body::Raw(bytes),
    )?;
    Ok(format!(
        "activated {} version {} ({} bytes, world {})",
        answer.name, answer.version.sha256, answer.version.size, answer.version.world
    ))
}

pub(super) fn activate(admin: &AdminArgs, name: &str, sha256: &str) -> Result<String, String> {
    let answer: PluginActivated = with(
        admin,
        Method::PUT,
        &format!("/plugins/{}/active", segment(name)),
        Body::json(&ActivateRequest {
            sha256: sha256.to_owned(),
        }),
    )?;
    Ok(format!(
        "activated {} version {} ({:?} version, world {})",
        answer.name, answer.version.sha256, answer.version.source, answer.version.world
    )
    .replace("File version", "the configuration file's version")
    .replace("Upload version", "an uploaded version"))
}

pub(super) fn list_plugins(admin: &AdminArgs) -> Result<String, String> {
    let list: PluginList = with(admin, Method::GET, "/plugins", Body::None)?;
    Ok(pretty(&list))
}

pub(super) fn remove_version(
    admin: &AdminArgs,
    name: &str,
    sha256: &str,
) -> Result<String, String> {
    let path = format!("/plugins/{}/versions/{}", segment(name), segment(sha256));
    let answer: Removed = with(admin, Method::DELETE, &path, Body::None)?;
    Ok(format!("removed {}", answer.removed))
}

pub(super) fn deploy(
    admin: &AdminArgs,
    api: &str,
    stage: Option<String>,
    description: String,
    deployment: Option<String>,
) -> Result<String, String> {
    if let (Some(id), Some(stage)) = (deployment, &stage) {
        let answer: StageView = with(
            admin,
            Method::PUT,
            &stage_path(api, stage),
            Body::json(&PointRequest { deployment: id }),
        )?;
        return Ok(stage_summary(&answer));
    }
    let path = format!("/apis/{}/deployments", segment(api));
    let answer: DeploymentCreated = with(
        admin,
        Method::POST,
        &path,
        Body::json(&DeployRequest { stage, description }),
    )?;
    let mut line = format!("created deployment {} of {}", answer.id, answer.api);
    if let Some(stage) = &answer.stage {
        line.push_str(&format!("\n{}", stage_summary(stage)));
    }
    Ok(line)
}

pub(super) fn rollback(
    admin: &AdminArgs,
    api: &str,
    stage: &str,
    to: Option<String>,
) -> Result<String, String> {
    let answer: StageView = with(
        admin,
        Method::POST,
        &format!("{}/rollback", stage_path(api, stage)),
        Body::json(&RollbackRequest { deployment: to }),
    )?;
    Ok(stage_summary(&answer))
}

pub(super) fn canary(command: CanaryCommand) -> Result<String, String> {
    let answer: StageView = match command {
        CanaryCommand::Set {
            api,
            stage,
            percent,
            deployment,
            variables,
            description,
            admin,
        } => with(
            &admin,
            Method::PUT,
            &format!("{}/canary", stage_path(&api, &stage)),
            Body::json(&CanaryRequest {
                percent,
                deployment,
                variables: variables.into_iter().collect(),
                description,
            }),
        )?,
        CanaryCommand::Promote { api, stage, admin } => with(
            &admin,
            Method::POST,
            &format!("{}/canary/promote", stage_path(&api, &stage)),
            Body::None,
        )?,
        CanaryCommand::Rm { api, stage, admin } => with(
            &admin,
            Method::DELETE,
            &format!("{}/canary", stage_path(&api, &stage)),
            Body::None,
        )?,
    };
    Ok(stage_summary(&answer))
}

pub(super) fn deployments(admin: &AdminArgs, api: &str) -> Result<String, String> {
    let path = format!("/apis/{}/deployments", segment(api));
    let list: DeploymentList = with(admin, Method::GET, &path, Body::None)?;
    Ok(pretty(&list))
}

pub(super) fn stages(admin: &AdminArgs) -> Result<String, String> {
    let list: ApiList = with(admin, Method::GET, "/apis", Body::None)?;
    Ok(pretty(&list))
}

pub(super) fn api_key(command: ApiKeyCommand) -> Result<String, String> {
    match command {
        ApiKeyCommand::Create {
            name,
            plans,
            value,
            disabled,
            admin,
        } => {
            let created: KeyCreated = with(
                &admin,
                Method::POST,
                "/api-keys",
                Body::json(&CreateKeyRequest {
                    name,
                    value,
                    enabled: !disabled,
                    usage_plans: plans,
                }),
            )?;
            Ok(format!(
                "created API key {} (shown only now): {}",
                created.name, created.value
            ))
        }
        ApiKeyCommand::List { admin } => {
            let list: KeyList = with(&admin, Method::GET, "/api-keys", Body::None)?;
            Ok(pretty(&list))
        }
        ApiKeyCommand::Enable { name, admin } => set_key_enabled(&admin, &name, true),
        ApiKeyCommand::Disable { name, admin } => set_key_enabled(&admin, &name, false),
        ApiKeyCommand::Rm { name, admin } => {
            let path = format!("/api-keys/{}", segment(&name));
            let removed: Removed = with(&admin, Method::DELETE, &path, Body::None)?;
            Ok(format!("removed API key {}", removed.removed))
        }
    }
}

fn set_key_enabled(admin: &AdminArgs, name: &str, enabled: bool) -> Result<String, String> {
    let path = format!("/api-keys/{}", segment(name));
    let changed: KeyChanged = with(
        admin,
        Method::PATCH,
        &path,
        Body::json(&UpdateKeyRequest { enabled }),
    )?;
    Ok(format!(
        "API key {} is {}",
        changed.name,
        if changed.enabled {
            "enabled"
        } else {
            "disabled"
        }
    ))
}
