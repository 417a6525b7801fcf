//! `turnpike import openapi`: an Amazon API Gateway definition (Swagger 2.0
//! or OpenAPI 3.0/3.1 with `x-amazon-apigateway-*` extensions, JSON or
//! YAML, REST or HTTP API, or SAM / CloudFormation output embedding one)
//! turned into a Turnpike configuration, with a report of what was mapped,
//! approximated, left out and why.
//!
//! The walk is one pass over the document: API-wide settings first
//! (stage, CORS, policy, validators, gateway responses), then each path and
//! method. Each part either becomes configuration or a [`Finding`]; a
//! part with an error is left out, and the whole import fails unless
//! `partial` is set.

mod cfn;
pub mod emit;
mod integration;
mod models;
pub mod report;
mod security;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::source::{Source, escape};
use cfn::Intrinsics;
use emit::{OutApi, OutConfig, OutListener, OutRoute, OutStage};
pub use report::{Finding, Report, Severity};

/// What the user told the importer.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The API's name; default: the definition's title.
    pub api_name: Option<String>,
    /// `--map NAME=VALUE`: Lambda functions to plugins, CloudFormation
    /// names to values, stage variables, authorizer settings.
    pub maps: BTreeMap<String, String>,
    /// Leave out what has errors instead of failing.
    pub partial: bool,
    /// What to do with `basePath` / the `servers` URL's path.
    pub base_path: BasePath,
    /// A listener to write (`[[listeners]]`), for a standalone file.
    pub listen: Option<String>,
}

/// Where the definition's base path goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BasePath {
    /// Its first segment names the stage (as API Gateway's exports put the
    /// stage there), the rest prefixes every route.
    #[default]
    Stage,
    /// The whole base path prefixes every route, on the `$default` stage.
    Prepend,
    /// Dropped.
    Ignore,
}

/// A finished import.
#[derive(Debug)]
pub struct Imported {
    /// The configuration, as TOML.
    pub toml: String,
    /// What happened to each part.
    pub report: Report,
}

/// Which of API Gateway's two HTTP API types the definition describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Rest,
    Http,
}

/// Swagger 2.0 or OpenAPI 3.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    Swagger2,
    OpenApi3,
}

const METHODS: &[(&str, &str)] = &[
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

/// Imports the definition in `source`.
pub fn import(source: &Source, options: &Options) -> Result<Imported, Report> {
    let mut importer = Importer::new(source, options);
    let result = importer.run();
    let mut report = std::mem::take(&mut importer.report);
    report.findings.sort_by_key(|f| f.pointer.clone());
    match result {
        Some(config) if options.partial || !report.has_errors() => {
            match render(&config, source, &report) {
                Ok(toml) => Ok(Imported { toml, report }),
                Err(message) => {
                    report.findings.push(Finding {
                        severity: Severity::Error,
                        at: source.file.clone(),
                        pointer: String::new(),
                        message,
                    });
                    Err(report)
                }
            }
        }
        _ => Err(report),
    }
}

fn render(config: &OutConfig, source: &Source, report: &Report) -> Result<String, String> {
    let body = toml::to_string(config).map_err(|e| format!("cannot write TOML: {e}"))?;
    let mut out = format!(
        "# Imported from {} by `turnpike import openapi`.\n# {}\n",
        source.file,
        report.summary()
    );
    for finding in report
        .findings
        .iter()
        .filter(|f| f.severity <= Severity::Unsupported)
    {
        out.push_str(&format!("# {finding}\n"));
    }
    out.push('\n');
    out.push_str(&body);
    Ok(out)
}

/// The walk's state.
struct Importer<'a> {
    source: &'a Source,
    options: &'a Options,
    /// Pointer of the OpenAPI document inside the file (non-empty for
    /// CloudFormation templates).
    root: String,
    doc: &'a Value,
    spec: Spec,
    flavor: Flavor,
    region: String,
    account_id: String,
    report: Report,
    api: OutApi,
    plugins: BTreeMap<String, emit::OutPlugin>,
    /// Route path prefix from the base path.
    prefix: String,
    /// The stage the routes are served on.
    stage: String,
    /// `x-amazon-apigateway-request-validators`, and the API's default.
    validators: BTreeMap<String, (bool, bool)>,
    default_validator: Option<String>,
    /// Models written so far, by name; referenced schema pointers.
    model_names: BTreeMap<String, String>,
    /// `--map` entries used, to report the rest.
    used_maps: BTreeSet<String>,
    /// Authorizers already built, by security scheme name.
    authorizers: BTreeMap<String, Option<String>>,
}

impl<'a> Importer<'a> {
    fn new(source: &'a Source, options: &'a Options) -> Importer<'a> {
        Importer {
            source,
            options,
            root: String::new(),
            doc: &source.value,
            spec: Spec::OpenApi3,
            flavor: Flavor::Rest,
            region: options
                .maps
                .get("AWS::Region")
                .cloned()
                .unwrap_or_else(|| "us-east-1".to_owned()),
            account_id: options
                .maps
                .get("AWS::AccountId")
                .cloned()
                .unwrap_or_else(|| "123456789012".to_owned()),
            report: Report::default(),
            api: OutApi::default(),
            plugins: BTreeMap::new(),
            prefix: String::new(),
            stage: "$default".to_owned(),
            validators: BTreeMap::new(),
            default_validator: None,
            model_names: BTreeMap::new(),
            used_maps: BTreeSet::new(),
            authorizers: BTreeMap::new(),
        }
    }

    /// Records a finding about the part at `pointer` (relative to the
    /// OpenAPI document).
    fn find(&mut self, severity: Severity, pointer: &str, message: impl Into<String>) {
        let pointer = format!("{}{pointer}", self.root);
        self.report.findings.push(Finding {
            severity,
            at: self.source.locate(&pointer),
            pointer,
            message: message.into(),
        });
    }

    fn intrinsics(&self) -> Intrinsics<'_> {
        Intrinsics {
            maps: &self.options.maps,
            region: &self.region,
            account_id: &self.account_id,
        }
    }

    /// A string field that may be a CloudFormation intrinsic; reports what
    /// could not be resolved.
    fn string(&mut self, value: &Value, pointer: &str) -> Option<String> {
        match self.intrinsics().string(value) {
            Ok(Some(s)) => Some(s),
            Ok(None) => {
                self.find(Severity::Error, pointer, "expected a string");
                None
            }
            Err(cfn::Unresolved(names)) => {
                let flags: Vec<String> =
                    names.iter().map(|n| format!("--map '{n}=VALUE'")).collect();
                self.find(
                    Severity::Error,
                    pointer,
                    format!(
                        "CloudFormation reference{} {} left in the definition: give {}",
                        if names.len() > 1 { "s" } else { "" },
                        names
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        flags.join(" ")
                    ),
                );
                None
            }
        }
    }

    /// The `statusCode` of `response` (an integration or gateway
    /// response), if it has a valid one; an invalid one is reported.
    fn status_of(&mut self, response: &Value, pointer: &str) -> Option<u16> {
        let code = response.get("statusCode")?;
        let status = status_code(code);
        if status.is_none() {
            self.find(
                Severity::Error,
                &format!("{pointer}/statusCode"),
                format!("invalid status {code}"),
            );
        }
        status
    }

    /// A Turnpike configuration table carried by an `x-turnpike-*`
    /// extension (Turnpike's own exports), as TOML.
    fn turnpike_table(&mut self, value: Option<&Value>, pointer: &str) -> Option<toml::Value> {
        let value = value?;
        match toml::Value::try_from(value) {
            Ok(table @ toml::Value::Table(_)) => Some(table),
            _ => {
                self.find(
                    Severity::Error,
                    pointer,
                    "expected a table of Turnpike configuration",
                );
                None
            }
        }
    }

    /// A `--map` value, remembered as used.
    fn mapped(&mut self, name: &str) -> Option<String> {
        let value = self.options.maps.get(name).cloned();
        if value.is_some() {
            self.used_maps.insert(name.to_owned());
        }
        value
    }

    fn run(&mut self) -> Option<OutConfig> {
        if !self.locate_document() {
            return None;
        }
        let doc = self.doc;
        self.flavor = detect_flavor(doc);
        self.api.name = self.api_name();
        self.base_path();
        self.top_level_extensions();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                self.path_item(path, item);
            }
        } else {
            self.find(Severity::Error, "/paths", "the definition has no `paths`");
        }
        // The file's text, written once, for the names used inside
        // CloudFormation substitutions.
        let mut text: Option<String> = None;
        for name in self.options.maps.keys() {
            let logical = name.split('.').next().unwrap_or(name);
            let used = self.used_maps.contains(name)
                || name.starts_with("AWS::")
                || text
                    .get_or_insert_with(|| self.source.value.to_string())
                    .contains(logical);
            if !used {
                let message = format!("--map `{name}` matches nothing in the definition");
                self.find(Severity::Warning, "", message);
            }
        }
        let mut stage = OutStage::default();
        for (name, value) in self
            .doc
            .get("x-turnpike-stage-variables")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(value) = value.as_str() {
                stage.variables.insert(name.clone(), value.to_owned());
            }
        }
        self.api.aws = self.turnpike_table(self.doc.get("x-turnpike-aws"), "/x-turnpike-aws");
        for (name, value) in &self.options.maps {
            if let Some(variable) = name.strip_prefix("stageVariables.") {
                stage.variables.insert(variable.to_owned(), value.clone());
            }
        }
        self.api.stages.insert(self.stage.clone(), stage);
        let mut config = OutConfig {
            apis: vec![std::mem::take(&mut self.api)],
            plugins: std::mem::take(&mut self.plugins),
            ..OutConfig::default()
        };
        if let Some(address) = &self.options.listen {
            config.listeners.push(OutListener {
                name: "main".to_owned(),
                address: address.clone(),
            });
        }
        Some(config)
    }

    /// Finds the OpenAPI document: the file itself, or the `Body` /
    /// `DefinitionBody` of an API resource in a CloudFormation template.
    fn locate_document(&mut self) -> bool {
        let value = &self.source.value;
        if let Some(v) = value.get("swagger") {
            if v.as_str() != Some("2.0") {
                self.find(
                    Severity::Error,
                    "/swagger",
                    format!("Swagger version {v} is not supported; only 2.0"),
                );
                return false;
            }
            self.spec = Spec::Swagger2;
            return true;
        }
        if let Some(v) = value.get("openapi") {
            if !v
                .as_str()
                .is_some_and(|s| s.starts_with("3.0") || s.starts_with("3.1"))
            {
                self.find(
                    Severity::Error,
                    "/openapi",
                    format!("OpenAPI version {v} is not supported; only 3.0 and 3.1"),
                );
                return false;
            }
            self.spec = Spec::OpenApi3;
            return true;
        }
        let Some(resources) = value.get("Resources").and_then(Value::as_object) else {
            self.find(
                Severity::Error,
                "",
                "not an OpenAPI definition: no `openapi` (3.x) or `swagger` (2.0) field, and no CloudFormation `Resources`",
            );
            return false;
        };
        let mut apis = Vec::new();
        for (name, resource) in resources {
            let kind = resource.get("Type").and_then(Value::as_str).unwrap_or("");
            let body_key = match kind {
                "AWS::Serverless::Api" | "AWS::Serverless::HttpApi" => "DefinitionBody",
                "AWS::ApiGateway::RestApi" | "AWS::ApiGatewayV2::Api" => "Body",
                _ => continue,
            };
            let body = resource.get("Properties").and_then(|p| p.get(body_key));
            match body {
                Some(body) if body.get("swagger").is_some() || body.get("openapi").is_some() => {
                    self.root = format!("/Resources/{}/Properties/{body_key}", escape(name));
                    self.doc = body;
                    self.spec = if body.get("swagger").is_some() {
                        Spec::Swagger2
                    } else {
                        Spec::OpenApi3
                    };
                    return true;
                }
                _ => apis.push(format!("{name} ({kind})")),
            }
        }
        let message = if apis.is_empty() {
            "a CloudFormation template without an API resource (AWS::Serverless::Api, AWS::Serverless::HttpApi, AWS::ApiGateway::RestApi, AWS::ApiGatewayV2::Api)".to_owned()
        } else {
            format!(
                "a CloudFormation template whose APIs ({}) are built from resources, not from an embedded OpenAPI `Body`/`DefinitionBody`; export the deployed API (`aws apigateway get-export` or `aws apigatewayv2 export-api`) and import that",
                apis.join(", ")
            )
        };
        self.find(Severity::Error, "/Resources", message);
        false
    }

    fn api_name(&mut self) -> String {
        if let Some(name) = &self.options.api_name {
            return name.clone();
        }
        let title = self.doc.get("info").and_then(|i| i.get("title"));
        let title = match title.map(|t| self.intrinsics().string(t)) {
            Some(Ok(Some(title))) => title,
            _ => {
                let stem = std::path::Path::new(&self.source.file)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("imported")
                    .to_owned();
                self.find(
                    Severity::Warning,
                    "/info/title",
                    format!(
                        "no usable title; the API is named `{}` (--api NAME to choose)",
                        sanitize(&stem)
                    ),
                );
                stem
            }
        };
        sanitize(&title)
    }

    /// `basePath` (Swagger) or the first server URL's path (OpenAPI 3).
    fn base_path(&mut self) {
        let (path, pointer) = match self.spec {
            Spec::Swagger2 => (
                self.doc
                    .get("basePath")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                "/basePath",
            ),
            Spec::OpenApi3 => {
                let Some(server) = self.doc.get("servers").and_then(|s| s.get(0)) else {
                    return;
                };
                let mut url = server
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if let Some(variables) = server.get("variables").and_then(Value::as_object) {
                    for (name, variable) in variables {
                        let default = variable
                            .get("default")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        url = url.replace(&format!("{{{name}}}"), default);
                    }
                }
                let path = match url.find("://") {
                    Some(i) => url[i + 3..]
                        .find('/')
                        .map(|j| url[i + 3 + j..].to_owned())
                        .unwrap_or_default(),
                    None => url,
                };
                (path, "/servers/0/url")
            }
        };
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if segments.is_empty() {
            return;
        }
        match self.options.base_path {
            BasePath::Ignore => {}
            BasePath::Prepend => self.prefix = format!("/{}", segments.join("/")),
            BasePath::Stage => {
                let stage = segments[0];
                let valid = stage.len() <= 128
                    && stage
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if valid {
                    self.stage = stage.to_owned();
                    self.prefix = segments[1..].iter().map(|s| format!("/{s}")).collect();
                } else {
                    self.find(
                        Severity::Warning,
                        pointer,
                        format!("base path segment `{stage}` cannot name a stage; it prefixes the routes instead"),
                    );
                    self.prefix = format!("/{}", segments.join("/"));
                }
            }
        }
    }

    fn top_level_extensions(&mut self) {
        let Some(object) = self.doc.as_object() else {
            return;
        };
        for (key, value) in object {
            let pointer = format!("/{}", escape(key));
            match key.as_str() {
                "swagger" | "openapi" | "info" | "paths" | "basePath" | "servers" | "host"
                | "schemes" | "consumes" | "produces" | "definitions" | "components"
                | "securityDefinitions" | "security" | "tags" | "externalDocs" | "parameters"
                | "responses" => {}
                "x-amazon-apigateway-cors" => self.cors(value, &pointer),
                "x-amazon-apigateway-policy" => self.policy(value, &pointer),
                "x-amazon-apigateway-binary-media-types" => {
                    for (i, t) in value.as_array().into_iter().flatten().enumerate() {
                        match t.as_str() {
                            Some(t) => self.api.binary_media_types.push(t.replace("~1", "/")),
                            None => self.find(Severity::Error, &format!("{pointer}/{i}"), "expected a media type string"),
                        }
                    }
                }
                "x-amazon-apigateway-api-key-source" => match value.as_str() {
                    Some("HEADER") => self.api.api_key_source = Some("header".to_owned()),
                    Some("AUTHORIZER") => self.api.api_key_source = Some("authorizer".to_owned()),
                    _ => self.find(Severity::Error, &pointer, format!("expected HEADER or AUTHORIZER, found {value}")),
                },
                "x-amazon-apigateway-request-validators" => self.validators(value, &pointer),
                "x-amazon-apigateway-request-validator" => match value.as_str() {
                    Some(name) => self.default_validator = Some(name.to_owned()),
                    None => self.find(Severity::Error, &pointer, "expected a validator name"),
                },
                "x-amazon-apigateway-gateway-responses" => self.gateway_responses(value, &pointer),
                "x-amazon-apigateway-importexport-version" => {}
                // Turnpike's own exports: what API Gateway cannot express.
                "x-turnpike-stage-variables" | "x-turnpike-aws" => {}
                "x-amazon-apigateway-endpoint-configuration" => self.find(
                    Severity::Ignored,
                    &pointer,
                    "the endpoint type and VPC endpoints are AWS's; Turnpike serves on its [[listeners]]",
                ),
                "x-amazon-apigateway-minimum-compression-size" => self.find(
                    Severity::Ignored,
                    &pointer,
                    "response compression is not done by Turnpike",
                ),
                "x-amazon-apigateway-documentation" => self.find(
                    Severity::Ignored,
                    &pointer,
                    "documentation parts are not imported (the OpenAPI export describes the API)",
                ),
                "x-amazon-apigateway-tag-value" => {
                    self.find(Severity::Ignored, &pointer, "tags have no effect on Turnpike")
                }
                "x-amazon-apigateway-disable-execute-api-endpoint" => self.find(
                    Severity::Ignored,
                    &pointer,
                    "there is no execute-api endpoint; listeners and [[domains]] decide where the API is served",
                ),
                other if other.starts_with("x-amazon-apigateway-") => self.find(
                    Severity::Unsupported,
                    &pointer,
                    format!("extension `{other}` is not supported"),
                ),
                other if other.starts_with("x-") => self.find(
                    Severity::Ignored,
                    &pointer,
                    format!("vendor extension `{other}` has no meaning to Turnpike"),
                ),
                other => self.find(Severity::Warning, &pointer, format!("unknown top-level field `{other}`")),
            }
        }
        // Security schemes are built when a route first uses them; the
        // unused ones are still checked, so their problems are reported.
        let schemes: Vec<String> = self.security_schemes().map(|(n, _)| n.clone()).collect();
        for name in schemes {
            self.authorizer_for(&name);
        }
    }

    fn path_item(&mut self, path: &str, item: &Value) {
        let pointer = format!("/paths/{}", escape(path));
        let Some(item) = item.as_object() else {
            self.find(Severity::Error, &pointer, "a path item must be an object");
            return;
        };
        let shared_params = parameters_of(item.get("parameters"), &pointer);
        for (key, operation) in item {
            let op_pointer = format!("{pointer}/{}", escape(key));
            let method = METHODS.iter().find(|(k, _)| k == key).map(|(_, m)| *m);
            match (key.as_str(), method) {
                (_, Some(method)) => {
                    let left_out =
                        self.operation(path, method, operation, &op_pointer, &shared_params);
                    if left_out {
                        self.report.routes_left_out += 1;
                    } else {
                        self.report.routes_imported += 1;
                    }
                }
                ("parameters" | "summary" | "description", _) => {}
                ("$ref", _) => {
                    self.find(
                        Severity::Unsupported,
                        &op_pointer,
                        "path items by `$ref` are not supported",
                    );
                    self.report.routes_left_out += 1;
                }
                ("trace", _) => {
                    self.find(
                        Severity::Unsupported,
                        &op_pointer,
                        "TRACE is not a method API Gateway routes",
                    );
                    self.report.routes_left_out += 1;
                }
                (other, _) if other.starts_with("x-") => self.find(
                    Severity::Ignored,
                    &op_pointer,
                    format!("extension `{other}` on a path item has no effect"),
                ),
                (other, _) => self.find(
                    Severity::Warning,
                    &op_pointer,
                    format!("unknown field `{other}` in a path item"),
                ),
            }
        }
    }

    /// One method of one path: a route, or findings that say why not.
    /// Returns whether the route was left out.
    fn operation(
        &mut self,
        path: &str,
        method: &str,
        operation: &Value,
        pointer: &str,
        shared_params: &[(String, &Value)],
    ) -> bool {
        let findings_before = self.report.findings.len();
        let key = if path == "/$default" {
            "$default".to_owned()
        } else {
            let full = format!("{}{}", self.prefix, path);
            let full = if full.len() > 1 {
                full.trim_end_matches('/').to_owned()
            } else {
                full
            };
            format!("{method} {full}")
        };
        if let Err(e) = crate::router::RouteKey::parse(&key) {
            self.find(Severity::Error, pointer, format!("route key `{key}`: {e}"));
            return true;
        }
        let params: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|s| s.trim_end_matches('+'))
            .collect();
        let mut route = OutRoute {
            key,
            authorizer: None,
            authorization_scopes: Vec::new(),
            api_key_required: false,
            request_models: BTreeMap::new(),
            required_query: Vec::new(),
            required_headers: Vec::new(),
            passthrough_behavior: None,
            policy: None,
            throttle: None,
            cache: None,
            request_templates: BTreeMap::new(),
            response_templates: BTreeMap::new(),
            integration: Default::default(),
        };
        if let Some(object) = operation.as_object() {
            for key in object.keys().filter(|k| k.starts_with("x-")) {
                match key.as_str() {
                    "x-amazon-apigateway-integration"
                    | "x-amazon-apigateway-request-validator"
                    | "x-amazon-apigateway-auth" => {}
                    "x-amazon-apigateway-api-key-source" => {}
                    "x-turnpike-integration" | "x-turnpike-policy" | "x-turnpike-throttle" => {}
                    other if other.starts_with("x-amazon-apigateway-") => self.find(
                        Severity::Unsupported,
                        &format!("{pointer}/{}", escape(other)),
                        format!("extension `{other}` is not supported on an operation"),
                    ),
                    other => self.find(
                        Severity::Ignored,
                        &format!("{pointer}/{}", escape(other)),
                        format!("vendor extension `{other}` has no meaning to Turnpike"),
                    ),
                }
            }
        } else {
            self.find(Severity::Error, pointer, "an operation must be an object");
            return true;
        }
        let integration_pointer = format!("{pointer}/x-amazon-apigateway-integration");
        let integration = match operation.get("x-amazon-apigateway-integration") {
            None if operation.get("x-turnpike-integration").is_some() => self
                .turnpike_table(
                    operation.get("x-turnpike-integration"),
                    &format!("{pointer}/x-turnpike-integration"),
                )
                .map(|table| emit::OutIntegration {
                    verbatim: Some(table),
                    ..Default::default()
                }),
            Some(integration) => self.integration(
                integration,
                &integration_pointer,
                method,
                &params,
                &mut route,
            ),
            None => {
                self.find(
                    Severity::Error,
                    pointer,
                    "no `x-amazon-apigateway-integration`: nothing says where requests go",
                );
                None
            }
        };
        self.security(operation, pointer, &mut route);
        route.policy = self.turnpike_table(
            operation.get("x-turnpike-policy"),
            &format!("{pointer}/x-turnpike-policy"),
        );
        route.throttle = self.turnpike_table(
            operation.get("x-turnpike-throttle"),
            &format!("{pointer}/x-turnpike-throttle"),
        );
        self.validation(operation, pointer, shared_params, &mut route);
        // An error or unsupported part found for this route leaves it out.
        let blocked = self.report.findings[findings_before..]
            .iter()
            .any(|f| f.severity <= Severity::Unsupported);
        match integration {
            Some(integration) if !blocked => {
                route.integration = integration;
                self.api.routes.push(route);
                false
            }
            _ => true,
        }
    }
}

/// The parameters listed at `pointer` (a path item's or an operation's),
/// each with its own pointer.
fn parameters_of<'v>(parameters: Option<&'v Value>, pointer: &str) -> Vec<(String, &'v Value)> {
    parameters
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| (format!("{pointer}/parameters/{i}"), p))
        .collect()
}

/// A `statusCode` written as a string (`"200"`) or a number.
fn status_code(value: &Value) -> Option<u16> {
    let code = match value {
        Value::String(s) => s.parse::<u16>().ok()?,
        other => u16::try_from(other.as_u64()?).ok()?,
    };
    (100..600).contains(&code).then_some(code)
}

/// The template for `application/json` if there is one, else the first:
/// what API Gateway applies to a request without a matching type.
fn preferred_template(templates: Option<&Value>) -> Option<(&String, &Value)> {
    let templates = templates?.as_object()?;
    templates
        .get_key_value("application/json")
        .or_else(|| templates.iter().next())
}

/// HTTP APIs are told apart by what only they have.
fn detect_flavor(doc: &Value) -> Flavor {
    let jwt = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .any(|(_, scheme)| {
            scheme
                .pointer("/x-amazon-apigateway-authorizer/jwtConfiguration")
                .is_some()
        });
    if doc
        .get("x-amazon-apigateway-importexport-version")
        .is_some()
        || doc.get("x-amazon-apigateway-cors").is_some()
        || jwt
    {
        Flavor::Http
    } else {
        Flavor::Rest
    }
}

/// A name Turnpike accepts (letters, digits, `_`, `-`) from free text.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        "imported".to_owned()
    } else {
        out
    }
}
