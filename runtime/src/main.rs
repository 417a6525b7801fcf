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
    let config = match Config::from_file(path) {
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
