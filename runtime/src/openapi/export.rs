//! `turnpike export openapi`: one API of a configuration file as an
//! OpenAPI 3.0 document, with (`Extensions::Aws`) the
//! `x-amazon-apigateway-*` extensions for what API Gateway can express,
//! and `x-turnpike-*` extensions carrying what it cannot (Turnpike-only
//! authorizers and integrations, JWKS locations, SigV4 keys, stage
//! variables), so that importing the export gives the same API back.
//!
//! The export reads the configuration's TOML (after it validated), not the
//! compiled model, so templates and schemas come out as written.

use std::path::Path;

use serde_json::{Map, Value, json};

/// Which extensions the export carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extensions {
    /// `x-amazon-apigateway-*` and `x-turnpike-*`.
    Aws,
    /// Plain OpenAPI, for documentation and client generators.
    None,
}

/// What could not be exported.
#[derive(Debug)]
pub struct ExportError(pub String);

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExportError {}

/// Exports API `api` of the configuration `config` (TOML text, already
/// validated, read from `path`) as served on `stage`.
pub fn export(
    config: &toml::Table,
    path: &Path,
    api: &str,
    stage: Option<&str>,
    extensions: Extensions,
) -> Result<Value, ExportError> {
    let apis = config
        .get("apis")
        .and_then(|a| a.as_array())
        .cloned()
        .unwrap_or_default();
    let Some(table) = apis
        .iter()
        .filter_map(|a| a.as_table())
        .find(|a| a.get("name").and_then(|n| n.as_str()) == Some(api))
    else {
        let names: Vec<&str> = apis
            .iter()
            .filter_map(|a| a.get("name").and_then(|n| n.as_str()))
            .collect();
        return Err(ExportError(format!(
            "no API named `{api}` in {} (its APIs: {})",
            path.display(),
            names.join(", ")
        )));
    };
    if table
        .get("protocol")
        .and_then(|p| p.as_str())
        .is_some_and(|p| p.eq_ignore_ascii_case("websocket"))
    {
        // API Gateway exports WebSocket APIs as its own JSON, not OpenAPI,
        // which describes HTTP requests and responses.
        return Err(ExportError(format!(
            "API `{api}` is a WebSocket API; OpenAPI describes HTTP APIs, and WebSocket APIs have no OpenAPI export (as in API Gateway)"
        )));
    }
    let stages = table
        .get("stages")
        .and_then(|s| s.as_table())
        .cloned()
        .unwrap_or_default();
    let stage = match stage {
        Some(s) if stages.contains_key(s) || (s == "$default" && stages.is_empty()) => s.to_owned(),
        Some(s) => {
            return Err(ExportError(format!(
                "API `{api}` has no stage `{s}` (its stages: {})",
                stages.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        None => stages
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| "$default".to_owned()),
    };
    let aws = extensions == Extensions::Aws;
    let mut ex = Exporter {
        base_dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        api: table,
        aws,
        schemes: Map::new(),
        schemas: Map::new(),
        validated: false,
    };
    let mut paths = Map::new();
    for route in table
        .get("routes")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
    {
        let Some(route) = route.as_table() else {
            continue;
        };
        ex.route(route, &mut paths)?;
    }
    let mut doc = Map::new();
    doc.insert("openapi".into(), json!("3.0.1"));
    doc.insert("info".into(), json!({"title": api, "version": "1.0"}));
    let base = if stage == "$default" {
        "/".to_owned()
    } else {
        format!("/{stage}")
    };
    doc.insert("servers".into(), json!([{"url": base}]));
    doc.insert("paths".into(), Value::Object(paths));
    let mut components = Map::new();
    if !ex.schemas.is_empty() {
        components.insert(
            "schemas".into(),
            Value::Object(std::mem::take(&mut ex.schemas)),
        );
    }
    if !ex.schemes.is_empty() {
        components.insert(
            "securitySchemes".into(),
            Value::Object(std::mem::take(&mut ex.schemes)),
        );
    }
    if !components.is_empty() {
        doc.insert("components".into(), Value::Object(components));
    }
    if aws {
        ex.api_extensions(&mut doc, stages.get(&stage));
    }
    Ok(Value::Object(doc))
}

struct Exporter<'c> {
    base_dir: std::path::PathBuf,
    api: &'c toml::Table,
    aws: bool,
    schemes: Map<String, Value>,
    schemas: Map<String, Value>,
    /// Whether a route validates, so the API declares its validator.
    validated: bool,
}

fn to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn str_of<'v>(table: &'v toml::Table, key: &str) -> Option<&'v str> {
    table.get(key).and_then(|v| v.as_str())
}

fn strings(table: &toml::Table, key: &str) -> Vec<String> {
    table
        .get(key)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A duration as written in the configuration (`"0s"` included: a zero
/// `cache_ttl` disables the cache).
fn duration(text: &str) -> Option<std::time::Duration> {
    humantime::parse_duration(text).ok()
}

impl Exporter<'_> {
    fn route(
        &mut self,
        route: &toml::Table,
        paths: &mut Map<String, Value>,
    ) -> Result<(), ExportError> {
        let key = str_of(route, "key").unwrap_or("");
        let (method, path) = if key == "$default" {
            ("ANY", "/$default")
        } else {
            key.split_once(' ').unwrap_or(("ANY", key))
        };
        if key == "$default" && !self.aws {
            // Plain OpenAPI has no catch-all route.
            return Ok(());
        }
        let mut operation = Map::new();
        let mut parameters = Vec::new();
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                parameters.push(json!({"name": name.trim_end_matches('+'), "in": "path", "required": true, "schema": {"type": "string"}}));
            }
        }
        for name in strings(route, "required_query") {
            parameters.push(json!({"name": name, "in": "query", "required": true, "schema": {"type": "string"}}));
        }
        for name in strings(route, "required_headers") {
            parameters.push(json!({"name": name, "in": "header", "required": true, "schema": {"type": "string"}}));
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(models) = route.get("request_models").and_then(|m| m.as_table()) {
            let mut content = Map::new();
            for (media, model) in models {
                let Some(model) = model.as_str() else {
                    continue;
                };
                self.schema(model)?;
                let media = if media == "$default" {
                    "*/*"
                } else {
                    media.as_str()
                };
                content.insert(
                    media.to_owned(),
                    json!({"schema": {"$ref": format!("#/components/schemas/{model}")}}),
                );
            }
            operation.insert(
                "requestBody".into(),
                json!({"required": true, "content": content}),
            );
        }
        let validates = route.contains_key("request_models")
            || route.contains_key("required_query")
            || route.contains_key("required_headers");
        let mut requirement = Map::new();
        if let Some(name) = str_of(route, "authorizer") {
            self.scheme(name)?;
            requirement.insert(
                name.to_owned(),
                json!(strings(route, "authorization_scopes")),
            );
        }
        if route.get("api_key_required").and_then(|v| v.as_bool()) == Some(true) {
            self.schemes.insert(
                "api_key".into(),
                json!({"type": "apiKey", "name": "x-api-key", "in": "header"}),
            );
            requirement.insert("api_key".into(), json!([]));
        }
        if !requirement.is_empty() {
            operation.insert("security".into(), json!([requirement]));
        }
        let integration = route.get("integration").and_then(|i| i.as_table());
        let status = integration
            .filter(|i| str_of(i, "type") == Some("mock"))
            .and_then(|i| i.get("status"))
            .and_then(|s| s.as_integer())
            .unwrap_or(200);
        operation.insert(
            "responses".into(),
            json!({ status.to_string(): {"description": "The integration's answer"} }),
        );
        if self.aws {
            if validates {
                self.validated = true;
                operation.insert(
                    "x-amazon-apigateway-request-validator".into(),
                    json!("turnpike"),
                );
            }
            if let Some(integration) = integration {
                self.integration(route, integration, &mut operation);
            }
            for (key, extension) in [
                ("policy", "x-turnpike-policy"),
                ("throttle", "x-turnpike-throttle"),
            ] {
                if let Some(value) = route.get(key) {
                    operation.insert(extension.into(), to_json(value));
                }
            }
        }
        let item = paths
            .entry(path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(item) = item else {
            return Ok(());
        };
        if method == "ANY" {
            if self.aws {
                item.insert(
                    "x-amazon-apigateway-any-method".into(),
                    Value::Object(operation),
                );
            } else {
                for m in ["get", "put", "post", "delete", "options", "head", "patch"] {
                    item.entry(m)
                        .or_insert_with(|| Value::Object(operation.clone()));
                }
            }
        } else {
            item.insert(method.to_ascii_lowercase(), Value::Object(operation));
        }
        Ok(())
    }

    fn integration(
        &mut self,
        route: &toml::Table,
        integration: &toml::Table,
        operation: &mut Map<String, Value>,
    ) {
        let kind = str_of(integration, "type").unwrap_or("");
        let request_templates = route.get("request_templates").map(to_json);
        let response_templates = route.get("response_templates").map(to_json);
        let passthrough = str_of(route, "passthrough_behavior").map(str::to_ascii_uppercase);
        let out = match kind {
            "http_proxy" => {
                let mut out = Map::new();
                let templated = request_templates.is_some() || response_templates.is_some();
                out.insert(
                    "type".into(),
                    json!(if templated { "http" } else { "http_proxy" }),
                );
                out.insert("httpMethod".into(), json!("ANY"));
                out.insert(
                    "uri".into(),
                    json!(str_of(integration, "url").unwrap_or("")),
                );
                if let Some(timeout) = str_of(integration, "timeout").and_then(duration) {
                    out.insert("timeoutInMillis".into(), json!(timeout.as_millis() as u64));
                }
                let mut parameters = Map::new();
                for (name, value) in integration
                    .get("request_headers")
                    .and_then(|h| h.as_table())
                    .into_iter()
                    .flatten()
                {
                    if let Some(source) = value.as_str().and_then(parameter_source) {
                        parameters
                            .insert(format!("integration.request.header.{name}"), json!(source));
                    }
                }
                if !parameters.is_empty() {
                    out.insert("requestParameters".into(), Value::Object(parameters));
                }
                if let Some(t) = request_templates {
                    out.insert("requestTemplates".into(), t);
                }
                let mut default = json!({"statusCode": "200"});
                if let Some(t) = response_templates {
                    default["responseTemplates"] = t;
                }
                out.insert("responses".into(), json!({"default": default}));
                out.insert(
                    "passthroughBehavior".into(),
                    json!(passthrough.unwrap_or_else(|| "WHEN_NO_MATCH".to_owned())),
                );
                out
            }
            "mock" => {
                let status = integration
                    .get("status")
                    .and_then(|s| s.as_integer())
                    .unwrap_or(200);
                let mut response = json!({"statusCode": status.to_string()});
                let mut parameters = Map::new();
                let mut content_type = "application/json".to_owned();
                for (name, value) in integration
                    .get("headers")
                    .and_then(|h| h.as_table())
                    .into_iter()
                    .flatten()
                {
                    let Some(value) = value.as_str() else {
                        continue;
                    };
                    if name.eq_ignore_ascii_case("content-type") {
                        content_type = value.to_owned();
                    } else if let Some(source) = parameter_source(value) {
                        parameters.insert(format!("method.response.header.{name}"), json!(source));
                    }
                }
                if !parameters.is_empty() {
                    response["responseParameters"] = Value::Object(parameters);
                }
                match (response_templates, str_of(integration, "body")) {
                    (Some(t), _) => response["responseTemplates"] = t,
                    (None, Some(body)) => {
                        response["responseTemplates"] = json!({ content_type: body })
                    }
                    (None, None) => {}
                }
                let mut out = Map::new();
                out.insert("type".into(), json!("mock"));
                out.insert(
                    "requestTemplates".into(),
                    json!({"application/json": format!("{{\"statusCode\": {status}}}")}),
                );
                out.insert("responses".into(), json!({"default": response}));
                out.insert("passthroughBehavior".into(), json!("WHEN_NO_MATCH"));
                out
            }
            "function" if integration.contains_key("payload_format") => {
                let plugin = str_of(integration, "plugin").unwrap_or("");
                let mut out = Map::new();
                out.insert("type".into(), json!("aws_proxy"));
                out.insert("httpMethod".into(), json!("POST"));
                out.insert("uri".into(), json!(self.lambda_uri(plugin)));
                out.insert(
                    "payloadFormatVersion".into(),
                    json!(str_of(integration, "payload_format").unwrap_or("1.0")),
                );
                out
            }
            _ => {
                // A wasi:http function: nothing in API Gateway serves it.
                operation.insert(
                    "x-turnpike-integration".into(),
                    to_json(&toml::Value::Table(integration.clone())),
                );
                return;
            }
        };
        let mut out = out;
        if let Some(parameters) = route
            .get("cache")
            .and_then(|c| c.get("key_parameters"))
            .and_then(|k| k.as_array())
        {
            // API Gateway's names, whichever form the configuration used.
            let names: Vec<Value> = parameters
                .iter()
                .filter_map(|p| p.as_str())
                .filter_map(|p| match crate::config::CacheKeyParameter::parse(p).ok()? {
                    crate::config::CacheKeyParameter::Query(n) => {
                        Some(format!("method.request.querystring.{n}"))
                    }
                    crate::config::CacheKeyParameter::Header(n) => {
                        Some(format!("method.request.header.{n}"))
                    }
                    crate::config::CacheKeyParameter::Path(n) => {
                        Some(format!("method.request.path.{n}"))
                    }
                })
                .map(Value::from)
                .collect();
            if !names.is_empty() {
                out.insert("cacheKeyParameters".into(), Value::Array(names));
            }
        }
        operation.insert("x-amazon-apigateway-integration".into(), Value::Object(out));
    }

    fn aws_names(&self) -> (String, String) {
        let aws = self.api.get("aws").and_then(|a| a.as_table());
        let region = aws
            .and_then(|a| str_of(a, "region"))
            .unwrap_or("us-east-1")
            .to_owned();
        let account = aws
            .and_then(|a| str_of(a, "account_id"))
            .unwrap_or("123456789012")
            .to_owned();
        (region, account)
    }

    /// API Gateway's invocation URI for a Lambda function named after the plugin.
    fn lambda_uri(&self, plugin: &str) -> String {
        let (region, account) = self.aws_names();
        format!(
            "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/arn:aws:lambda:{region}:{account}:function:{plugin}/invocations"
        )
    }

    fn schema(&mut self, name: &str) -> Result<(), ExportError> {
        if self.schemas.contains_key(name) {
            return Ok(());
        }
        let model = self
            .api
            .get("models")
            .and_then(|m| m.get(name))
            .and_then(|m| m.as_table())
            .ok_or_else(|| ExportError(format!("model `{name}` is not defined")))?;
        let mut schema = match (model.get("schema"), str_of(model, "schema_file")) {
            (Some(schema), _) => to_json(schema),
            (None, Some(file)) => {
                let path = self.base_dir.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ExportError(format!("{}: {e}", path.display())))?;
                serde_json::from_str(&text)
                    .map_err(|e| ExportError(format!("{}: {e}", path.display())))?
            }
            (None, None) => Value::Object(Map::new()),
        };
        // OpenAPI 3.0's schema objects are draft 4 without `$schema`.
        if let Value::Object(o) = &mut schema {
            o.remove("$schema");
        }
        self.schemas.insert(name.to_owned(), schema);
        Ok(())
    }

    fn scheme(&mut self, name: &str) -> Result<(), ExportError> {
        if self.schemes.contains_key(name) {
            return Ok(());
        }
        let authorizer = self
            .api
            .get("authorizers")
            .and_then(|a| a.get(name))
            .and_then(|a| a.as_table())
            .ok_or_else(|| ExportError(format!("authorizer `{name}` is not defined")))?;
        let sources = strings(authorizer, "identity_sources");
        let sources = if sources.is_empty() {
            vec!["$request.header.Authorization".to_owned()]
        } else {
            sources
        };
        let header = sources
            .iter()
            .find_map(|s| s.strip_prefix("$request.header."))
            .unwrap_or("Authorization")
            .to_owned();
        let mut scheme = match str_of(authorizer, "type").unwrap_or("") {
            "jwt" => json!({"type": "oauth2", "flows": {}}),
            _ => json!({"type": "apiKey", "name": header, "in": "header"}),
        };
        if self.aws {
            let kind = str_of(authorizer, "type").unwrap_or("");
            let lambda = kind == "wasm" && str_of(authorizer, "format") == Some("lambda");
            if lambda {
                let payload = str_of(authorizer, "payload").unwrap_or("token");
                let mut aws = json!({
                    "type": payload,
                    "authorizerUri": self.lambda_uri(str_of(authorizer, "plugin").unwrap_or("")),
                    "identitySource": sources.iter().map(|s| rest_source(s)).collect::<Vec<_>>().join(", "),
                });
                if let Some(ttl) = str_of(authorizer, "cache_ttl").and_then(duration) {
                    aws["authorizerResultTtlInSeconds"] = json!(ttl.as_secs());
                }
                if let Some(expression) = str_of(authorizer, "identity_validation_expression") {
                    aws["identityValidationExpression"] = json!(expression);
                }
                if let Some(format) = str_of(authorizer, "payload_format") {
                    aws["authorizerPayloadFormatVersion"] = json!(format);
                }
                scheme["x-amazon-apigateway-authtype"] = json!("custom");
                scheme["x-amazon-apigateway-authorizer"] = aws;
            } else if kind == "jwt" {
                scheme["x-amazon-apigateway-authorizer"] = json!({
                    "type": "jwt",
                    "identitySource": sources.join(", "),
                    "jwtConfiguration": {"issuer": str_of(authorizer, "issuer").unwrap_or(""), "audience": strings(authorizer, "audiences")},
                });
            } else if kind == "sigv4" {
                scheme["x-amazon-apigateway-authtype"] = json!("awsSigv4");
            }
            // Everything Turnpike needs to rebuild it exactly.
            scheme["x-turnpike-authorizer"] = to_json(&toml::Value::Table(authorizer.clone()));
        }
        self.schemes.insert(name.to_owned(), scheme);
        Ok(())
    }

    fn api_extensions(&mut self, doc: &mut Map<String, Value>, stage: Option<&toml::Value>) {
        if self.validated {
            doc.insert(
                "x-amazon-apigateway-request-validators".into(),
                json!({"turnpike": {"validateRequestBody": true, "validateRequestParameters": true}}),
            );
        }
        if let Some(cors) = self.api.get("cors").and_then(|c| c.as_table()) {
            let mut out = json!({
                "allowOrigins": strings(cors, "allow_origins"),
            });
            for (key, field) in [
                ("allow_methods", "allowMethods"),
                ("allow_headers", "allowHeaders"),
                ("expose_headers", "exposeHeaders"),
            ] {
                let values = strings(cors, key);
                if !values.is_empty() {
                    out[field] = json!(values);
                }
            }
            if let Some(credentials) = cors.get("allow_credentials").and_then(|v| v.as_bool()) {
                out["allowCredentials"] = json!(credentials);
            }
            if let Some(age) = str_of(cors, "max_age").and_then(duration) {
                out["maxAge"] = json!(age.as_secs());
            }
            doc.insert("x-amazon-apigateway-cors".into(), out);
        }
        if let Some(policy) = self.api.get("policy").and_then(|p| p.as_table()) {
            let mut statements = vec![
                json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}),
            ];
            let allow = strings(policy, "allow_source");
            if !allow.is_empty() {
                statements.push(json!({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*", "Condition": {"NotIpAddress": {"aws:SourceIp": allow}}}));
            }
            let deny = strings(policy, "deny_source");
            if !deny.is_empty() {
                statements.push(json!({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*", "Condition": {"IpAddress": {"aws:SourceIp": deny}}}));
            }
            doc.insert(
                "x-amazon-apigateway-policy".into(),
                json!({"Version": "2012-10-17", "Statement": statements}),
            );
        }
        let binary = strings(self.api, "binary_media_types");
        if !binary.is_empty() {
            doc.insert(
                "x-amazon-apigateway-binary-media-types".into(),
                json!(binary),
            );
        }
        if let Some(source) = str_of(self.api, "api_key_source") {
            doc.insert(
                "x-amazon-apigateway-api-key-source".into(),
                json!(source.to_ascii_uppercase()),
            );
        }
        if let Some(responses) = self.api.get("gateway_responses").and_then(|r| r.as_table()) {
            let mut out = Map::new();
            for (kind, response) in responses {
                let Some(response) = response.as_table() else {
                    continue;
                };
                let mut entry = Map::new();
                if let Some(status) = response.get("status").and_then(|s| s.as_integer()) {
                    entry.insert("statusCode".into(), json!(status.to_string()));
                }
                let mut parameters = Map::new();
                for (name, value) in response
                    .get("headers")
                    .and_then(|h| h.as_table())
                    .into_iter()
                    .flatten()
                {
                    if let Some(source) = value.as_str().and_then(parameter_source) {
                        parameters.insert(format!("gatewayresponse.header.{name}"), json!(source));
                    }
                }
                if !parameters.is_empty() {
                    entry.insert("responseParameters".into(), Value::Object(parameters));
                }
                if let Some(body) = str_of(response, "body") {
                    // `${context.X}` is Velocity's braced reference as well.
                    entry.insert(
                        "responseTemplates".into(),
                        json!({"application/json": body}),
                    );
                }
                out.insert(kind.clone(), Value::Object(entry));
            }
            doc.insert(
                "x-amazon-apigateway-gateway-responses".into(),
                Value::Object(out),
            );
        }
        if let Some(variables) = stage.and_then(|s| s.get("variables")) {
            doc.insert("x-turnpike-stage-variables".into(), to_json(variables));
        }
        if let Some(aws) = self.api.get("aws") {
            doc.insert("x-turnpike-aws".into(), to_json(aws));
        }
    }
}

/// A Turnpike header template as API Gateway's parameter source: `'text'`,
/// `method.request.header.X`, `method.request.path.X`, `context.authorizer.K`,
/// `stageVariables.X`. `None` when it mixes text and variables.
fn parameter_source(template: &str) -> Option<String> {
    let Some(inner) = template
        .strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
    else {
        return (!template.contains("${")).then(|| format!("'{template}'"));
    };
    if inner.contains("${") || inner.contains('}') {
        return None;
    }
    if let Some(h) = inner.strip_prefix("request.header.") {
        return Some(format!("method.request.header.{h}"));
    }
    if let Some(q) = inner.strip_prefix("request.querystring.") {
        return Some(format!("method.request.querystring.{q}"));
    }
    if let Some(p) = inner.strip_prefix("request.path.") {
        return Some(format!("method.request.path.{p}"));
    }
    if inner.starts_with("context.") || inner.starts_with("stageVariables.") {
        return Some(inner.to_owned());
    }
    None
}

/// `$request.header.X` → REST APIs' `method.request.header.X`.
fn rest_source(source: &str) -> String {
    if let Some(h) = source.strip_prefix("$request.header.") {
        format!("method.request.header.{h}")
    } else if let Some(q) = source.strip_prefix("$request.querystring.") {
        format!("method.request.querystring.{q}")
    } else if let Some(v) = source.strip_prefix("$stageVariables.") {
        format!("stageVariables.{v}")
    } else if let Some(c) = source.strip_prefix("$context.") {
        format!("context.{c}")
    } else {
        source.to_owned()
    }
}

/// The document as YAML.
pub fn to_yaml(document: &Value) -> String {
    use saphyr::{Scalar, Yaml, YamlEmitter};
    fn convert(value: &Value) -> Yaml<'static> {
        match value {
            Value::Null => Yaml::Value(Scalar::Null),
            Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Yaml::Value(Scalar::Integer(i)),
                None => Yaml::Value(Scalar::FloatingPoint(n.as_f64().unwrap_or(0.0).into())),
            },
            Value::String(s) => Yaml::Value(Scalar::String(s.clone().into())),
            Value::Array(items) => Yaml::Sequence(items.iter().map(convert).collect()),
            Value::Object(map) => Yaml::Mapping(
                map.iter()
                    .map(|(k, v)| (Yaml::Value(Scalar::String(k.clone().into())), convert(v)))
                    .collect(),
            ),
        }
    }
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(true);
    if emitter.dump(&convert(document)).is_err() {
        return String::new();
    }
    out.push('\n');
    out
}
