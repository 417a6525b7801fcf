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
        Command::Validate { .. } | Command::Plugin { .. } => "warn",
        Command::Serve { .. } => "info",
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
    }
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
