//! The `turnpike` command.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: fewer instructions per allocation than glibc's on the request
/// path, and no lock contention between worker threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;
use turnpike::Config;
use turnpike::admin_client::{AdminTarget, call};
use turnpike::scaffold::{Language, Project, Role};

/// Turnpike, an API gateway with Amazon API Gateway's model and WebAssembly plugins.
#[derive(Parser)]
#[command(name = "turnpike", version, about, propagate_version = true)]
struct Cli {
    /// Log filter, e.g. `info` or `turnpike=debug`; overrides RUST_LOG.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the APIs of a configuration file.
    Serve {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file and list every problem found.
    Validate {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Work with plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Snapshot an API as the gateway's configuration file defines it now
    /// (with the active plugin versions) into a deployment; with --stage,
    /// the stage serves it at once.
    Deploy {
        /// The API's name.
        api: String,
        /// Stage to serve the deployment on.
        #[arg(long)]
        stage: Option<String>,
        /// A note kept with the deployment.
        #[arg(long, default_value = "")]
        description: String,
        /// Serve this stored deployment on --stage instead of creating one.
        #[arg(long, requires = "stage")]
        deployment: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Put a stage back on what it served before the last change (or on
    /// --to, a deployment it served earlier); drops its canary.
    Rollback {
        /// The API's name.
        api: String,
        /// The stage.
        #[arg(long)]
        stage: String,
        /// A deployment the stage served earlier.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Send a share of a stage's requests to a second deployment.
    Canary {
        #[command(subcommand)]
        command: CanaryCommand,
    },
    /// List an API's deployments.
    Deployments {
        /// The API's name.
        api: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List every API's stages and what each serves.
    Stages {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Create, list, disable and remove API keys on a running gateway.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
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
enum CanaryCommand {
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

/// Quotes a name for a URL path segment.
fn segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// One line about a stage after a change.
fn stage_summary(body: &serde_json::Value) -> String {
    let stage = if body["stage"].is_object() {
        &body["stage"]
    } else {
        body
    };
    let serving = stage["deployment"]
        .as_str()
        .unwrap_or("the configuration file");
    let mut line = format!(
        "stage {} of {} serves {serving}",
        stage["stage"].as_str().unwrap_or_default(),
        stage["api"].as_str().unwrap_or_default()
    );
    if let Some(canary) = stage["canary"].as_object() {
        line.push_str(&format!(
            "; canary {} takes {}% of requests",
            canary["deployment"].as_str().unwrap_or_default(),
            canary["percent"].as_f64().unwrap_or_default()
        ));
    }
    line
}

fn pretty(body: &serde_json::Value) -> String {
    serde_json::to_string_pretty(body).unwrap_or_default()
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Write a ready-to-build plugin project: source, unit test, WIT
    /// contract, README and a gateway.toml that runs it.
    New {
        /// What the plugin does.
        #[arg(value_enum)]
        role: Role,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: Language,
        /// Package and plugin name [default: my-<role>].
        #[arg(long)]
        name: Option<String>,
        /// Folder to create (must not exist or be empty) [default: ./<name>].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write the WIT contract plugins are built against (`gateway.wit`, the
    /// `turnpike:gateway` package this binary implements) into a folder.
    Wit {
        /// The folder to write `gateway.wit` into (created if missing).
        #[arg(long, default_value = "wit")]
        out: PathBuf,
    },
    /// Upload a component as the new active version of a configured plugin.
    Push {
        /// The plugin's name in the configuration.
        name: String,
        /// The component (.wasm) file.
        file: PathBuf,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List the configured plugins with their active and stored versions.
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Remove an inactive stored version of a plugin.
    Rm {
        /// The plugin's name.
        name: String,
        /// The version's sha256.
        sha256: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// Where the admin API is.
#[derive(clap::Args)]
struct AdminArgs {
    /// Base URL of the admin API.
    #[arg(long, env = "TURNPIKE_ADMIN", default_value = "http://127.0.0.1:9901")]
    admin: String,
    /// Bearer token of the admin API.
    #[arg(long, env = "TURNPIKE_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token (instead of --token).
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `validate` reports through its output and exit code; its log stays quiet
    // unless asked for.
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    init_tracing(cli.log_level.as_deref(), default_level, cli.log_format);
    match cli.command {
        Command::Validate { config } => match Config::from_file(&config)
            .map_err(|e| e.to_string())
            .and_then(|c| turnpike::check(&c).map_err(|e| e.to_string()))
        {
            Ok(()) => {
                println!("{}: configuration is valid", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => serve(&config),
        Command::Plugin {
            command:
                PluginCommand::New {
                    role,
                    lang,
                    name,
                    dir,
                },
        } => new_plugin(role, lang, name, dir),
        Command::Plugin {
            command: PluginCommand::Wit { out },
        } => match turnpike::scaffold::write_wit(&out) {
            Ok(path) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Plugin {
            command: PluginCommand::Push { name, file, admin },
        } => admin_command(&admin, |target| {
            let bytes =
                std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let answer = call(
                target,
                http::Method::PUT,
                &format!("/plugins/{name}"),
                bytes,
            )?;
            Ok((answer, |body: &serde_json::Value| {
                format!(
                    "activated {} version {} ({} bytes, world {})",
                    body["name"].as_str().unwrap_or_default(),
                    body["version"]["sha256"].as_str().unwrap_or_default(),
                    body["version"]["size"],
                    body["version"]["world"].as_str().unwrap_or_default()
                )
            }))
        }),
        Command::Plugin {
            command: PluginCommand::List { admin },
        } => admin_command(&admin, |target| {
            let answer = call(target, http::Method::GET, "/plugins", Vec::new())?;
            Ok((answer, |body: &serde_json::Value| {
                serde_json::to_string_pretty(body).unwrap_or_default()
            }))
        }),
        Command::Plugin {
            command:
                PluginCommand::Rm {
                    name,
                    sha256,
                    admin,
                },
        } => admin_command(&admin, |target| {
            let path = format!("/plugins/{name}/versions/{sha256}");
            let answer = call(target, http::Method::DELETE, &path, Vec::new())?;
            Ok((answer, |body: &serde_json::Value| {
                format!("removed {}", body["removed"].as_str().unwrap_or_default())
            }))
        }),
        Command::Deploy {
            api,
            stage,
            description,
            deployment,
            admin,
        } => admin_command(&admin, |target| match (deployment, stage) {
            (Some(id), Some(stage)) => {
                let path = format!("/apis/{}/stages/{}", segment(&api), segment(&stage));
                let body = serde_json::json!({ "deployment": id }).to_string();
                Ok((
                    call(target, http::Method::PUT, &path, body.into_bytes())?,
                    stage_summary,
                ))
            }
            (_, stage) => {
                let path = format!("/apis/{}/deployments", segment(&api));
                let body = serde_json::json!({ "stage": stage, "description": description });
                let answer = call(
                    target,
                    http::Method::POST,
                    &path,
                    body.to_string().into_bytes(),
                )?;
                Ok((answer, |body: &serde_json::Value| {
                    let mut line = format!(
                        "created deployment {} of {}",
                        body["id"].as_str().unwrap_or_default(),
                        body["api"].as_str().unwrap_or_default()
                    );
                    if body["stage"].is_object() {
                        line.push_str(&format!("\n{}", stage_summary(body)));
                    }
                    line
                }))
            }
        }),
        Command::Rollback {
            api,
            stage,
            to,
            admin,
        } => admin_command(&admin, |target| {
            let path = format!(
                "/apis/{}/stages/{}/rollback",
                segment(&api),
                segment(&stage)
            );
            let body = serde_json::json!({ "deployment": to }).to_string();
            Ok((
                call(target, http::Method::POST, &path, body.into_bytes())?,
                stage_summary,
            ))
        }),
        Command::Canary { command } => match command {
            CanaryCommand::Set {
                api,
                stage,
                percent,
                deployment,
                variables,
                description,
                admin,
            } => admin_command(&admin, |target| {
                let path = format!("/apis/{}/stages/{}/canary", segment(&api), segment(&stage));
                let variables: serde_json::Map<String, serde_json::Value> = variables
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                let body = serde_json::json!({
                    "percent": percent,
                    "deployment": deployment,
                    "variables": variables,
                    "description": description,
                });
                let answer = call(
                    target,
                    http::Method::PUT,
                    &path,
                    body.to_string().into_bytes(),
                )?;
                Ok((answer, stage_summary))
            }),
            CanaryCommand::Promote { api, stage, admin } => admin_command(&admin, |target| {
                let path = format!(
                    "/apis/{}/stages/{}/canary/promote",
                    segment(&api),
                    segment(&stage)
                );
                Ok((
                    call(target, http::Method::POST, &path, Vec::new())?,
                    stage_summary,
                ))
            }),
            CanaryCommand::Rm { api, stage, admin } => admin_command(&admin, |target| {
                let path = format!("/apis/{}/stages/{}/canary", segment(&api), segment(&stage));
                Ok((
                    call(target, http::Method::DELETE, &path, Vec::new())?,
                    stage_summary,
                ))
            }),
        },
        Command::Deployments { api, admin } => admin_command(&admin, |target| {
            let path = format!("/apis/{}/deployments", segment(&api));
            Ok((call(target, http::Method::GET, &path, Vec::new())?, pretty))
        }),
        Command::Stages { admin } => admin_command(&admin, |target| {
            Ok((
                call(target, http::Method::GET, "/apis", Vec::new())?,
                pretty,
            ))
        }),
        Command::ApiKey { command } => match command {
            ApiKeyCommand::Create {
                name,
                plans,
                value,
                disabled,
                admin,
            } => admin_command(&admin, |target| {
                let body = serde_json::json!({
                    "name": name, "value": value, "enabled": !disabled, "usagePlans": plans,
                });
                let answer = call(
                    target,
                    http::Method::POST,
                    "/api-keys",
                    body.to_string().into_bytes(),
                )?;
                Ok((answer, |body: &serde_json::Value| {
                    format!(
                        "created API key {} (shown only now): {}",
                        body["name"].as_str().unwrap_or_default(),
                        body["value"].as_str().unwrap_or_default()
                    )
                }))
            }),
            ApiKeyCommand::List { admin } => admin_command(&admin, |target| {
                Ok((
                    call(target, http::Method::GET, "/api-keys", Vec::new())?,
                    pretty,
                ))
            }),
            ApiKeyCommand::Enable { name, admin } => set_key_enabled(&admin, &name, true),
            ApiKeyCommand::Disable { name, admin } => set_key_enabled(&admin, &name, false),
            ApiKeyCommand::Rm { name, admin } => admin_command(&admin, |target| {
                let path = format!("/api-keys/{}", segment(&name));
                Ok((
                    call(target, http::Method::DELETE, &path, Vec::new())?,
                    |body: &serde_json::Value| {
                        format!(
                            "removed API key {}",
                            body["removed"].as_str().unwrap_or_default()
                        )
                    },
                ))
            }),
        },
    }
}

fn set_key_enabled(admin: &AdminArgs, name: &str, enabled: bool) -> ExitCode {
    admin_command(admin, |target| {
        let path = format!("/api-keys/{}", segment(name));
        let body = serde_json::json!({ "enabled": enabled }).to_string();
        Ok((
            call(target, http::Method::PATCH, &path, body.into_bytes())?,
            |body: &serde_json::Value| {
                format!(
                    "API key {} is {}",
                    body["name"].as_str().unwrap_or_default(),
                    if body["enabled"] == true {
                        "enabled"
                    } else {
                        "disabled"
                    }
                )
            },
        ))
    })
}

/// A summary of a successful admin answer.
type Summary = fn(&serde_json::Value) -> String;

/// Runs one admin call: prints the summary on success, the API's message
/// (and its reasons) on failure.
fn admin_command(
    admin: &AdminArgs,
    run: impl FnOnce(&AdminTarget) -> Result<((u16, serde_json::Value), Summary), String>,
) -> ExitCode {
    match admin.target().and_then(|target| run(&target)) {
        Ok(((status, body), summary)) if (200..300).contains(&status) => {
            println!("{}", summary(&body));
            ExitCode::SUCCESS
        }
        Ok(((status, body), _)) => {
            eprintln!(
                "admin API answered {status}: {}",
                body["message"].as_str().unwrap_or_default()
            );
            for detail in [&body["reason"], &body["problems"]] {
                match detail {
                    serde_json::Value::String(s) => eprintln!("  {s}"),
                    serde_json::Value::Array(items) => {
                        for item in items {
                            eprintln!("  {}", item.as_str().unwrap_or_default());
                        }
                    }
                    _ => {}
                }
            }
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn new_plugin(role: Role, lang: Language, name: Option<String>, dir: Option<PathBuf>) -> ExitCode {
    let name = name.unwrap_or_else(|| format!("my-{}", role.world()));
    let written = Project::new(role, lang, &name).and_then(|project| {
        let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
        project.write(&dir).map(|files| (project, dir, files))
    });
    match written {
        Ok((project, dir, files)) => {
            for file in files {
                println!("created {}", dir.join(file).display());
            }
            println!("\nnext:\n  cd {}", dir.display());
            println!("  {}", project.build_command());
            if let Some(test) = project.test_command() {
                println!("  {test}");
            }
            println!("  turnpike serve --config gateway.toml");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: &std::path::Path) -> ExitCode {
    let config = match turnpike::load_config(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = turnpike::run(
        config,
        Some(path.to_path_buf()),
        report_listening,
        shutdown_signal(),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// One JSON line per listener on standard output, then a `ready` line, so
/// that scripts and tests learn the ports really bound (listeners may ask for
/// port 0) and when every one of them accepts.
fn report_listening(listeners: &[(String, std::net::SocketAddr)]) {
    let mut out = std::io::stdout().lock();
    for (name, address) in listeners {
        tracing::info!(listener = %name, %address, "listening");
        let line = serde_json::json!({"event": "listening", "listener": name, "address": address.to_string()});
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{}", serde_json::json!({"event": "ready"}));
    let _ = out.flush();
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

fn init_tracing(level: Option<&str>, default_level: &str, format: LogFormat) {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(default_level)),
    }
    .unwrap_or_else(|e| {
        eprintln!("invalid log filter ({e}); using `info`");
        EnvFilter::new("info")
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
