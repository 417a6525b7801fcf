//! The `turnpike` command: its arguments (clap), and what each subcommand
//! does. `serve` runs the gateway ([`crate::server`]); `validate` checks a
//! file without side effects; `plugin new|wit` write files ([`scaffold`]);
//! the rest talk to a running gateway's admin API ([`manage`], [`admin`]).

pub mod admin;
mod cache;
mod cluster;
mod manage;
mod openapi;
mod portal;
pub mod scaffold;
mod ws;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use manage::{AdminArgs, ApiKeyCommand, CanaryCommand};
use scaffold::{Language, Project, Role};

/// Turnpike, an API gateway with Amazon API Gateway's model and WebAssembly plugins.
#[derive(Parser)]
#[command(name = "turnpike", version, about, propagate_version = true)]
pub struct Cli {
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
    /// Send to, describe and close a WebSocket API's connections
    /// (`@connections`) on a running gateway.
    Ws {
        #[command(subcommand)]
        command: ws::WsCommand,
    },
    /// The developer portal on a running gateway: consumers, keys,
    /// catalogue, plans, invitations.
    Portal {
        #[command(subcommand)]
        command: portal::PortalCommand,
    },
    /// The fleet a cluster-mode gateway belongs to.
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Show or flush a stage's response cache on a running gateway.
    Cache {
        #[command(subcommand)]
        command: cache::CacheCommand,
    },
    /// Import an API definition written for Amazon API Gateway.
    Import {
        #[command(subcommand)]
        command: openapi::ImportCommand,
    },
    /// Export an API as an OpenAPI document.
    Export {
        #[command(subcommand)]
        command: openapi::ExportCommand,
    },
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
        /// A Lambda-style handler (Python or JavaScript): your Lambda code,
        /// unchanged, behind Turnpike's shim (`function` or `authorizer`).
        #[arg(long)]
        lambda: bool,
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
    /// Serve a version `list` shows again: a stored one, or the
    /// configuration file's (the plugin then follows the file again).
    Activate {
        /// The plugin's name.
        name: String,
        /// The version's sha256.
        sha256: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List the configured plugins with their active, file and stored versions.
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

/// Runs the command line; returns the process's exit code.
pub fn run(cli: Cli) -> ExitCode {
    // `validate` and the admin commands report through their output and
    // exit code; their log stays quiet unless asked for.
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    init_tracing(cli.log_level.as_deref(), default_level, cli.log_format);
    let outcome = match cli.command {
        Command::Serve { config } => serve(&config),
        Command::Validate { config } => validate(&config),
        Command::Plugin { command } => match command {
            PluginCommand::New {
                role,
                lang,
                name,
                dir,
                lambda,
            } => new_plugin(role, lang, name, dir, lambda),
            PluginCommand::Wit { out } => scaffold::write_wit(&out)
                .map(|path| format!("wrote {}", path.display()))
                .map_err(|e| e.to_string()),
            PluginCommand::Push { name, file, admin } => manage::push(&admin, &name, &file),
            PluginCommand::Activate {
                name,
                sha256,
                admin,
            } => manage::activate(&admin, &name, &sha256),
            PluginCommand::List { admin } => manage::list_plugins(&admin),
            PluginCommand::Rm {
                name,
                sha256,
                admin,
            } => manage::remove_version(&admin, &name, &sha256),
        },
        Command::Deploy {
            api,
            stage,
            description,
            deployment,
            admin,
        } => manage::deploy(&admin, &api, stage, description, deployment),
        Command::Rollback {
            api,
            stage,
            to,
            admin,
        } => manage::rollback(&admin, &api, &stage, to),
        Command::Canary { command } => manage::canary(command),
        Command::Deployments { api, admin } => manage::deployments(&admin, &api),
        Command::Stages { admin } => manage::stages(&admin),
        Command::ApiKey { command } => manage::api_key(command),
        Command::Ws { command } => ws::run(command),
        Command::Cache { command } => cache::run(command),
        Command::Cluster { command } => cluster::run(command),
        Command::Portal { command } => portal::run(command),
        Command::Import { command } => openapi::import(command),
        Command::Export { command } => openapi::export(command),
    };
    match outcome {
        Ok(message) => {
            if !message.is_empty() {
                println!("{message}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn validate(path: &Path) -> Result<String, String> {
    let config = Config::from_file(path).map_err(|e| e.to_string())?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    crate::control::check(&config).map_err(|e| e.to_string())?;
    Ok(format!("{}: configuration is valid", path.display()))
}

fn serve(path: &Path) -> Result<String, String> {
    let mut config = crate::control::state::load(path)?;
    let cluster = match (&config.cluster, &config.server.data_dir) {
        (Some(settings), Some(data_dir)) => {
            let cluster = crate::control::cluster::Cluster::new(settings, data_dir)?;
            // The fleet's state first: the configuration is then loaded
            // from the copy in data_dir as it stands after joining.
            cluster.join()?;
            config = crate::control::state::load(path)?;
            Some(cluster)
        }
        _ => None,
    };
    crate::server::run(
        config,
        Some(path.to_path_buf()),
        cluster,
        report_listening,
        shutdown_signal(),
    )
    .map_err(|e| e.to_string())?;
    Ok(String::new())
}

fn new_plugin(
    role: Role,
    lang: Language,
    name: Option<String>,
    dir: Option<PathBuf>,
    lambda: bool,
) -> Result<String, String> {
    let name = name.unwrap_or_else(|| format!("my-{}", role.name()));
    let project = Project::new(role, lang, &name, lambda).map_err(|e| e.to_string())?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
    let files = project.write(&dir).map_err(|e| e.to_string())?;
    let mut out = String::new();
    for file in files {
        out.push_str(&format!("created {}\n", dir.join(file).display()));
    }
    out.push_str(&format!("\nnext:\n  cd {}\n", dir.display()));
    out.push_str(&format!("  {}\n", project.build_command()));
    if let Some(test) = project.test_command() {
        out.push_str(&format!("  {test}\n"));
    }
    out.push_str("  turnpike serve --config gateway.toml");
    Ok(out)
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
