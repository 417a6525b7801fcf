//! `turnpike import openapi` and `turnpike export openapi`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use crate::config::Config;
use crate::openapi::Source;
use crate::openapi::export::Extensions;
use crate::openapi::import::{self, BasePath, Options};

/// `turnpike import ...`.
#[derive(Subcommand)]
pub enum ImportCommand {
    /// Turn an Amazon API Gateway OpenAPI / Swagger definition (JSON or
    /// YAML, with x-amazon-apigateway-* extensions; also SAM and
    /// CloudFormation output embedding one) into Turnpike configuration.
    /// Prints what was mapped, approximated or left out; writes nothing
    /// when anything has an error, unless --partial.
    Openapi(ImportArgs),
}

/// Arguments of `turnpike import openapi`.
#[derive(Args)]
pub struct ImportArgs {
    /// The definition file.
    file: PathBuf,
    /// The API's name [default: the definition's title].
    #[arg(long)]
    api: Option<String>,
    /// Write a standalone configuration (with a listener) to this file
    /// [default: standard output].
    #[arg(long, conflicts_with = "into")]
    out: Option<PathBuf>,
    /// Add the API to this existing configuration file instead (it must
    /// still validate afterwards).
    #[arg(long)]
    into: Option<PathBuf>,
    /// NAME=VALUE: a Lambda function to a plugin (`Fn=plugin` or
    /// `Fn=fn.wasm`), a CloudFormation name (`AWS::Region=eu-west-1`,
    /// `MyApi=...`), a stage variable (`stageVariables.host=...`), an
    /// authorizer setting (`NAME.audiences=...`, `NAME.jwks_uri=...`,
    /// `sigv4.credentials=AKID:ENV_VAR`). Repeatable.
    #[arg(long = "map", value_name = "NAME=VALUE")]
    maps: Vec<String>,
    /// Leave out the parts with errors instead of writing nothing.
    #[arg(long)]
    partial: bool,
    /// What the base path (`basePath`, the server URL's path) becomes.
    #[arg(long, value_enum, default_value_t = BasePathArg::Stage)]
    base_path: BasePathArg,
    /// Address of the listener of a standalone configuration.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum BasePathArg {
    /// The first segment names the stage, the rest prefixes the routes.
    Stage,
    /// The whole base path prefixes the routes ($default stage).
    Prepend,
    /// Dropped.
    Ignore,
}

/// Runs `turnpike import openapi`; the report goes to standard error.
pub fn import(command: ImportCommand) -> Result<String, String> {
    let ImportCommand::Openapi(args) = command;
    let mut maps = BTreeMap::new();
    for entry in &args.maps {
        let Some((name, value)) = entry.split_once('=') else {
            return Err(format!("--map `{entry}`: expected NAME=VALUE"));
        };
        maps.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("{}: cannot read: {e}", args.file.display()))?;
    let file = args.file.display().to_string();
    let source = Source::parse(&text, &file).map_err(|e| e.to_string())?;
    let options = Options {
        api_name: args.api.clone(),
        maps,
        partial: args.partial,
        base_path: match args.base_path {
            BasePathArg::Stage => BasePath::Stage,
            BasePathArg::Prepend => BasePath::Prepend,
            BasePathArg::Ignore => BasePath::Ignore,
        },
        listen: args.into.is_none().then(|| args.listen.clone()),
    };
    let imported = match import::import(&source, &options) {
        Ok(imported) => imported,
        Err(report) => {
            return Err(format!(
                "{report}\nnothing written: fix the errors, give the --map values named, or use --partial"
            ));
        }
    };
    eprintln!("{}", imported.report);
    // The result must be a configuration Turnpike accepts, checked the way
    // `turnpike validate` checks it, before anything is written.
    let (target, text) = match &args.into {
        Some(config) => {
            let existing = std::fs::read_to_string(config)
                .map_err(|e| format!("{}: cannot read: {e}", config.display()))?;
            let separator = if existing.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            (
                Some(config.clone()),
                format!("{existing}{separator}{}", imported.toml),
            )
        }
        None => (args.out.clone(), imported.toml),
    };
    let origin = target
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "imported.toml".to_owned());
    let config = Config::parse(&text, &origin).map_err(|e| {
        format!("the imported configuration does not validate:\n{e}\nnothing written")
    })?;
    crate::control::check(&config).map_err(|e| {
        format!("the imported configuration does not validate:\n{e}\nnothing written")
    })?;
    match target {
        Some(path) => {
            write(&path, &text)?;
            Ok(format!("wrote {}", path.display()))
        }
        None => Ok(text),
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    crate::util::fs::write_durably(path, text.as_bytes())
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// `turnpike export ...`.
#[derive(Subcommand)]
pub enum ExportCommand {
    /// Write an API of a configuration file as an OpenAPI 3.0 document:
    /// routes, parameters, models and security schemes, and (with
    /// --extensions aws) the x-amazon-apigateway-* extensions that let
    /// `turnpike import openapi` (or API Gateway) rebuild it.
    Openapi(ExportArgs),
}

/// Arguments of `turnpike export openapi`.
#[derive(Args)]
pub struct ExportArgs {
    /// The API's name.
    api: String,
    /// The TOML configuration file.
    #[arg(long, short)]
    config: PathBuf,
    /// The stage whose base path and variables the document carries
    /// [default: the API's first stage].
    #[arg(long)]
    stage: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Which extensions to include.
    #[arg(long, value_enum, default_value_t = ExtensionsArg::Aws)]
    extensions: ExtensionsArg,
    /// Write to this file [default: standard output].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Yaml,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExtensionsArg {
    /// x-amazon-apigateway-* (and x-turnpike-*) extensions.
    Aws,
    /// Plain OpenAPI.
    None,
}

/// Runs `turnpike export openapi`.
pub fn export(command: ExportCommand) -> Result<String, String> {
    let ExportCommand::Openapi(args) = command;
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| format!("{}: cannot read: {e}", args.config.display()))?;
    // Only a configuration Turnpike accepts is exported.
    Config::parse(&text, &args.config.display().to_string()).map_err(|e| e.to_string())?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", args.config.display()))?;
    let extensions = match args.extensions {
        ExtensionsArg::Aws => Extensions::Aws,
        ExtensionsArg::None => Extensions::None,
    };
    let document = crate::openapi::export::export(
        &table,
        &args.config,
        &args.api,
        args.stage.as_deref(),
        extensions,
    )
    .map_err(|e| e.to_string())?;
    let rendered = match args.format {
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
            json.push('\n');
            json
        }
        Format::Yaml => crate::openapi::export::to_yaml(&document),
    };
    match args.out {
        Some(path) => {
            write(&path, &rendered)?;
            Ok(format!("wrote {}", path.display()))
        }
        None => Ok(rendered.trim_end().to_owned()),
    }
}
