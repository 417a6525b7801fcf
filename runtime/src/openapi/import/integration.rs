//! `x-amazon-apigateway-integration` → a Turnpike integration.

use std::collections::BTreeMap;

use serde_json::Value;

use super::emit::{OutIntegration, OutPlugin, OutRoute};
use super::{Flavor, Importer, Severity};
use crate::openapi::source::escape;

impl Importer<'_> {
    /// The integration of one operation, or `None` with the reason reported.
    pub(super) fn integration(
        &mut self,
        value: &Value,
        pointer: &str,
        method: &str,
        params: &[&str],
        route: &mut OutRoute,
    ) -> Option<OutIntegration> {
        let Some(object) = value.as_object() else {
            self.find(Severity::Error, pointer, "expected an object");
            return None;
        };
        let kind = object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        for key in object.keys() {
            let known = matches!(
                key.as_str(),
                "type"
                    | "uri"
                    | "httpMethod"
                    | "requestParameters"
                    | "requestTemplates"
                    | "responses"
                    | "passthroughBehavior"
                    | "timeoutInMillis"
                    | "payloadFormatVersion"
                    | "connectionType"
                    | "connectionId"
                    | "credentials"
                    | "cacheNamespace"
                    | "cacheKeyParameters"
                    | "contentHandling"
                    | "tlsConfig"
                    | "integrationSubtype"
                    | "responseParameters"
            );
            if !known {
                self.find(
                    Severity::Warning,
                    &format!("{pointer}/{}", escape(key)),
                    format!("unknown integration field `{key}` is ignored"),
                );
            }
        }
        if object.contains_key("cacheNamespace") {
            self.find(
                Severity::Ignored,
                &format!("{pointer}/cacheNamespace"),
                "a cache namespace lets API Gateway's methods share entries; Turnpike's cache keys are per route",
            );
        }
        if let Some(parameters) = object.get("cacheKeyParameters") {
            self.cache_key_parameters(parameters, &format!("{pointer}/cacheKeyParameters"), route);
        }
        if let Some(credentials) = object.get("credentials") {
            let _ = credentials;
            self.find(
                Severity::Ignored,
                &format!("{pointer}/credentials"),
                "the IAM role API Gateway assumes to call the integration has no meaning to Turnpike",
            );
        }
        match kind.as_str() {
            "http_proxy" => self.http_proxy(object, pointer, method, params),
            "http" => {
                self.templates(object, pointer, route)?;
                if has_response_mapping(object) {
                    self.find(
                        Severity::Warning,
                        &format!("{pointer}/responses"),
                        "`http` (non-proxy) integration responses are not selected by the backend's status: their status codes and parameters are not applied (the default response's template is)",
                    );
                } else if route.request_templates.is_empty() && route.response_templates.is_empty()
                {
                    self.find(
                        Severity::Warning,
                        pointer,
                        "`http` (non-proxy) integration without mapping templates: imported as `http_proxy`",
                    );
                }
                self.http_proxy(object, pointer, method, params)
            }
            "mock" => self.mock(object, pointer, route),
            "aws_proxy" => self.aws_proxy(object, pointer),
            "aws" => {
                let uri = self.uri(object, pointer)?;
                let (service, operation) = aws_service(&uri);
                if service == "lambda" {
                    self.find(
                        Severity::Unsupported,
                        pointer,
                        "a non-proxy Lambda integration (`aws`) maps requests with VTL templates, which Turnpike does not run yet; use `aws_proxy` (Lambda proxy) to import it as a function",
                    );
                } else {
                    self.find(
                        Severity::Unsupported,
                        pointer,
                        format!("AWS service integration `{service}` ({operation}) is not supported; the route is left out"),
                    );
                }
                None
            }
            "" => {
                self.find(
                    Severity::Error,
                    &format!("{pointer}/type"),
                    "the integration has no `type`",
                );
                None
            }
            other => {
                self.find(
                    Severity::Error,
                    &format!("{pointer}/type"),
                    format!("unknown integration type `{other}` (API Gateway's are http, http_proxy, mock, aws and aws_proxy)"),
                );
                None
            }
        }
    }

    fn uri(&mut self, object: &serde_json::Map<String, Value>, pointer: &str) -> Option<String> {
        match object.get("uri") {
            Some(uri) => self.string(uri, &format!("{pointer}/uri")),
            None => {
                self.find(Severity::Error, pointer, "the integration has no `uri`");
                None
            }
        }
    }

    fn http_proxy(
        &mut self,
        object: &serde_json::Map<String, Value>,
        pointer: &str,
        method: &str,
        params: &[&str],
    ) -> Option<OutIntegration> {
        let uri = self.uri(object, pointer)?;
        let uri_pointer = format!("{pointer}/uri");
        let vpc_link = object.get("connectionType").and_then(Value::as_str) == Some("VPC_LINK");
        if vpc_link && !(uri.starts_with("http://") || uri.starts_with("https://")) {
            // HTTP APIs name a load balancer's listener or a Cloud Map
            // service by ARN: only AWS can resolve it.
            self.find(
                Severity::Unsupported,
                &uri_pointer,
                format!("VPC link target `{uri}` is an AWS resource, not a URL; the route is left out (write the service's URL in a copy of the definition to import it)"),
            );
            return None;
        }
        if vpc_link {
            self.find(
                Severity::Warning,
                &format!("{pointer}/connectionType"),
                "VPC_LINK: the URI is called directly; make sure Turnpike can reach it",
            );
        }
        if let Some(http_method) = object.get("httpMethod").and_then(Value::as_str) {
            let http_method = http_method.to_ascii_uppercase();
            if http_method != "ANY" && http_method != method {
                self.find(
                    Severity::Warning,
                    &format!("{pointer}/httpMethod"),
                    format!("the backend is called with the client's method, not {http_method}"),
                );
            }
        }
        if object
            .get("tlsConfig")
            .and_then(|t| t.get("insecureSkipVerification"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            self.find(
                Severity::Warning,
                &format!("{pointer}/tlsConfig"),
                "insecureSkipVerification: Turnpike verifies the backend's certificate; name it in an [upstreams.NAME] with `tls.verify = false` to skip",
            );
        }
        // Placeholders in the URI name integration path parameters, which
        // `requestParameters` maps from the method's.
        let mut path_sources: BTreeMap<String, String> = BTreeMap::new();
        let mut request_headers = BTreeMap::new();
        let mut query_additions: Vec<String> = Vec::new();
        if let Some(parameters) = object.get("requestParameters").and_then(Value::as_object) {
            for (target, source) in parameters {
                let p = format!("{pointer}/requestParameters/{}", escape(target));
                let Some(source) = source.as_str() else {
                    self.find(Severity::Error, &p, "expected a string");
                    continue;
                };
                if let Some(name) = target.strip_prefix("integration.request.path.") {
                    match source.strip_prefix("method.request.path.") {
                        Some(from) => {
                            path_sources.insert(name.to_owned(), from.to_owned());
                        }
                        None => self.find(
                            Severity::Error,
                            &p,
                            format!("path parameter `{name}` from `{source}`: only method path parameters can fill the URI's path"),
                        ),
                    }
                } else if let Some(name) = target.strip_prefix("integration.request.header.") {
                    match header_value(source) {
                        HeaderSource::Template(t) => {
                            request_headers.insert(name.to_owned(), t);
                        }
                        HeaderSource::SameHeader(from) if from.eq_ignore_ascii_case(name) => {}
                        HeaderSource::SameHeader(from) => {
                            request_headers
                                .insert(name.to_owned(), format!("${{request.header.{from}}}"));
                        }
                        HeaderSource::Other => self.find(
                            Severity::Unsupported,
                            &p,
                            format!("header value from `{source}` is not supported"),
                        ),
                    }
                } else if let Some(name) = target.strip_prefix("integration.request.querystring.") {
                    // The client's query string goes upstream as it is; a
                    // mapping adds the parameter under its new name.
                    let value = if let Some(from) =
                        source.strip_prefix("method.request.querystring.")
                    {
                        (from != name).then(|| format!("${{request.querystring.{from}}}"))
                    } else if let Some(text) = static_value(source) {
                        Some(form_urlencoded::byte_serialize(text.as_bytes()).collect())
                    } else if let Some(v) = source.strip_prefix("stageVariables.") {
                        Some(format!("${{stageVariables.{v}}}"))
                    } else if let Some(v) = source.strip_prefix("method.request.path.") {
                        Some(format!("${{request.path.{v}}}"))
                    } else {
                        self.find(
                            Severity::Unsupported,
                            &p,
                            format!("query parameter `{name}` from `{source}` is not supported; the client's query string goes upstream unchanged"),
                        );
                        None
                    };
                    if let Some(value) = value {
                        let name: String =
                            form_urlencoded::byte_serialize(name.as_bytes()).collect();
                        query_additions.push(format!("{name}={value}"));
                    }
                } else if target.starts_with("overwrite:")
                    || target.starts_with("append:")
                    || target.starts_with("remove:")
                {
                    self.find(
                        Severity::Unsupported,
                        &p,
                        format!("HTTP API parameter mapping `{target}` is not supported"),
                    );
                } else {
                    self.find(
                        Severity::Error,
                        &p,
                        format!("unknown request parameter target `{target}`"),
                    );
                }
            }
        }
        let mut url = self.url_template(&uri, &path_sources, params, &uri_pointer)?;
        if !query_additions.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&query_additions.join("&"));
        }
        let timeout = object
            .get("timeoutInMillis")
            .and_then(Value::as_u64)
            .map(|ms| {
                // Whole seconds read better, and are what people write.
                if ms % 1000 == 0 {
                    format!("{}s", ms / 1000)
                } else {
                    format!("{ms}ms")
                }
            });
        Some(OutIntegration {
            kind: "http_proxy".to_owned(),
            url: Some(url),
            timeout,
            request_headers,
            ..OutIntegration::default()
        })
    }

    /// API Gateway's URI with `{name}` and `${stageVariables.x}` as a
    /// Turnpike URL template; a `{name}` mapped from a differently named
    /// method parameter becomes that parameter.
    fn url_template(
        &mut self,
        uri: &str,
        path_sources: &BTreeMap<String, String>,
        params: &[&str],
        pointer: &str,
    ) -> Option<String> {
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            self.find(
                Severity::Error,
                pointer,
                format!("`{uri}` is not an http:// or https:// URL"),
            );
            return None;
        }
        let mut out = String::with_capacity(uri.len());
        let mut rest = uri;
        while let Some(start) = rest.find('{') {
            let dollar = start > 0 && rest.as_bytes()[start - 1] == b'$';
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                self.find(
                    Severity::Error,
                    pointer,
                    format!("`{{` without `}}` in `{uri}`"),
                );
                return None;
            };
            let name = &rest[start + 1..start + end];
            if dollar {
                if let Some(variable) = name.strip_prefix("stageVariables.") {
                    let exported = self
                        .doc
                        .get("x-turnpike-stage-variables")
                        .and_then(|v| v.get(variable))
                        .is_some();
                    let mapped = self
                        .options
                        .maps
                        .contains_key(&format!("stageVariables.{variable}"));
                    if !exported && !mapped {
                        self.find(
                            Severity::Error,
                            pointer,
                            format!("stage variable `{variable}` needs a value: --map 'stageVariables.{variable}=VALUE'"),
                        );
                        return None;
                    }
                    self.used_maps.insert(format!("stageVariables.{variable}"));
                }
                out.push('{');
                out.push_str(name);
                out.push('}');
            } else {
                let name = name.trim_end_matches('+');
                let from = path_sources.get(name).map(String::as_str).unwrap_or(name);
                if !params.contains(&from) {
                    self.find(
                        Severity::Error,
                        pointer,
                        format!("`{{{name}}}` in the URI is not a path parameter of the route (map it with requestParameters `integration.request.path.{name}`)"),
                    );
                    return None;
                }
                out.push('{');
                out.push_str(from);
                out.push('}');
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    fn mock(
        &mut self,
        object: &serde_json::Map<String, Value>,
        pointer: &str,
        route: &mut OutRoute,
    ) -> Option<OutIntegration> {
        // The request template selects the status: `{"statusCode": 200}`.
        let mut status: u16 = 200;
        if let Some((media, template)) = super::preferred_template(object.get("requestTemplates")) {
            let p = format!("{pointer}/requestTemplates/{}", escape(media));
            let text = template.as_str().unwrap_or("");
            match serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
            {
                Some(code) if (100..600).contains(&code) => status = code as u16,
                _ => {
                    self.find(
                        Severity::Error,
                        &p,
                        "a mock request template that computes its status is not supported: write the status (`{\"statusCode\": N}`), or set `$context.responseOverride.status` in a response template",
                    );
                    return None;
                }
            }
        }
        let mut out = OutIntegration {
            kind: "mock".to_owned(),
            status: Some(status),
            ..OutIntegration::default()
        };
        let Some(responses) = object.get("responses").and_then(Value::as_object) else {
            return Some(out);
        };
        // The integration response whose selection pattern matches the
        // status, else `default`.
        let chosen = select_response(responses, status);
        let Some((pattern, response)) = chosen else {
            return Some(out);
        };
        let p = format!("{pointer}/responses/{}", escape(pattern));
        if let Some(code) = self.status_of(response, &p) {
            out.status = Some(code);
        }
        if let Some(parameters) = response
            .get("responseParameters")
            .and_then(Value::as_object)
        {
            for (target, source) in parameters {
                let pp = format!("{p}/responseParameters/{}", escape(target));
                match (target.strip_prefix("method.response.header."), source.as_str().and_then(static_value)) {
                    (Some(name), Some(value)) => {
                        out.headers.insert(name.to_owned(), value);
                    }
                    _ => self.find(
                        Severity::Unsupported,
                        &pp,
                        format!("response parameter `{target}` from {source}: only static header values ('...') are imported for mocks"),
                    ),
                }
            }
        }
        if let Some((media, template)) =
            super::preferred_template(response.get("responseTemplates"))
        {
            let text = template.as_str().unwrap_or("");
            if is_vtl(text) {
                // Rendered over the mock's (empty) body on each request.
                let tp = format!("{p}/responseTemplates/{}", escape(media));
                if !self.vtl_ok(text, &tp) {
                    return None;
                }
                route
                    .response_templates
                    .insert(media.clone(), text.to_owned());
            } else if !text.is_empty() {
                out.body = Some(text.to_owned());
                out.headers
                    .entry("content-type".to_owned())
                    .or_insert_with(|| media.clone());
            }
        }
        Some(out)
    }

    fn aws_proxy(
        &mut self,
        object: &serde_json::Map<String, Value>,
        pointer: &str,
    ) -> Option<OutIntegration> {
        if let Some(subtype) = object.get("integrationSubtype").and_then(Value::as_str) {
            self.find(
                Severity::Unsupported,
                pointer,
                format!(
                    "AWS service integration `{subtype}` is not supported; the route is left out"
                ),
            );
            return None;
        }
        let uri = self.uri(object, pointer)?;
        let function_arn = lambda_function_arn(&uri);
        let Some(function_arn) = function_arn else {
            let (service, operation) = aws_service(&uri);
            self.find(
                Severity::Unsupported,
                pointer,
                format!("AWS service integration `{service}` ({operation}) is not supported; the route is left out"),
            );
            return None;
        };
        let name = function_name(&function_arn);
        let plugin = self.lambda_plugin(&name, &function_arn, &format!("{pointer}/uri"))?;
        let payload_format = match object.get("payloadFormatVersion").and_then(Value::as_str) {
            Some(v @ ("1.0" | "2.0")) => v.to_owned(),
            Some(other) => {
                self.find(
                    Severity::Error,
                    &format!("{pointer}/payloadFormatVersion"),
                    format!("payload format `{other}`: expected 1.0 or 2.0"),
                );
                return None;
            }
            None if self.flavor == Flavor::Http => "2.0".to_owned(),
            None => "1.0".to_owned(),
        };
        Some(OutIntegration {
            kind: "function".to_owned(),
            plugin: Some(plugin),
            payload_format: Some(payload_format),
            ..OutIntegration::default()
        })
    }

    /// An `http` integration's `requestTemplates`, its default (or 2xx)
    /// response's `responseTemplates` and `passthroughBehavior`, onto the
    /// route. `None` when a template does not parse.
    fn templates(
        &mut self,
        object: &serde_json::Map<String, Value>,
        pointer: &str,
        route: &mut OutRoute,
    ) -> Option<()> {
        let mut ok = true;
        for (media, text) in object
            .get("requestTemplates")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let p = format!("{pointer}/requestTemplates/{}", escape(media));
            let text = text.as_str().unwrap_or("");
            ok &= self.vtl_ok(text, &p);
            route
                .request_templates
                .insert(media.clone(), text.to_owned());
        }
        let responses = object.get("responses").and_then(Value::as_object);
        let chosen = responses.and_then(|r| select_response(r, 200));
        if let Some((pattern, response)) = chosen {
            for (media, text) in response
                .get("responseTemplates")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let p = format!(
                    "{pointer}/responses/{}/responseTemplates/{}",
                    escape(pattern),
                    escape(media)
                );
                let text = text.as_str().unwrap_or("");
                ok &= self.vtl_ok(text, &p);
                route
                    .response_templates
                    .insert(media.clone(), text.to_owned());
            }
        }
        match object
            .get("passthroughBehavior")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("WHEN_NO_MATCH") => {}
            Some("WHEN_NO_TEMPLATES") => {
                route.passthrough_behavior = Some("when_no_templates".to_owned())
            }
            Some("NEVER") => route.passthrough_behavior = Some("never".to_owned()),
            Some(other) => {
                self.find(
                    Severity::Error,
                    &format!("{pointer}/passthroughBehavior"),
                    format!("unknown passthrough behavior `{other}`"),
                );
                ok = false;
            }
        }
        ok.then_some(())
    }

    /// Whether a mapping template parses; reports where it does not.
    fn vtl_ok(&mut self, text: &str, pointer: &str) -> bool {
        match crate::vtl::Template::parse(text) {
            Ok(_) => true,
            Err(e) => {
                self.find(
                    Severity::Error,
                    pointer,
                    format!("template syntax error: {e}"),
                );
                false
            }
        }
    }

    /// The plugin standing for Lambda function `name`: `--map NAME=PLUGIN`
    /// names a configured plugin, `--map NAME=FILE.wasm` adds one.
    pub(super) fn lambda_plugin(&mut self, name: &str, arn: &str, pointer: &str) -> Option<String> {
        let mapped = self.mapped(name).or_else(|| self.mapped(arn));
        let Some(value) = mapped else {
            self.find(
                Severity::Error,
                pointer,
                format!("Lambda function `{name}` needs a plugin: --map '{name}=PLUGIN' (a configured `lambda` plugin) or --map '{name}=FILE.wasm'"),
            );
            return None;
        };
        if value.ends_with(".wasm") {
            let plugin = super::sanitize(name);
            let component = std::path::Path::new(&value)
                .canonicalize()
                .map(|p| p.display().to_string())
                .unwrap_or(value);
            self.plugins.insert(
                plugin.clone(),
                OutPlugin {
                    component,
                    world: "lambda".to_owned(),
                },
            );
            Some(plugin)
        } else {
            Some(value)
        }
    }
}

/// The integration response API Gateway would select for `status`: the
/// one whose selection pattern (a regular expression over the whole
/// status) matches, else `default`.
fn select_response(
    responses: &serde_json::Map<String, Value>,
    status: u16,
) -> Option<(&String, &Value)> {
    let code = status.to_string();
    responses
        .iter()
        .find(|(pattern, _)| {
            pattern.as_str() != "default"
                && regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(&code))
        })
        .or_else(|| responses.get_key_value("default"))
}

/// Whether integration responses map statuses or set parameters.
fn has_response_mapping(object: &serde_json::Map<String, Value>) -> bool {
    object
        .get("responses")
        .and_then(Value::as_object)
        .is_some_and(|r| {
            r.values().any(|resp| {
                resp.get("responseParameters").is_some()
                    || resp
                        .get("statusCode")
                        .and_then(|c| c.as_str())
                        .is_some_and(|c| c != "200")
            })
        })
}

/// Whether template text uses Velocity (variables or directives).
pub(super) fn is_vtl(text: &str) -> bool {
    text.contains("$input")
        || text.contains("$context")
        || text.contains("$util")
        || text.contains("$stageVariables")
        || text.contains("#set")
        || text.contains("#if")
        || text.contains("#foreach")
}

/// `'text'` → `text`: API Gateway's static parameter values.
pub(super) fn static_value(source: &str) -> Option<String> {
    let inner = source.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.to_owned())
}

enum HeaderSource {
    Template(String),
    SameHeader(String),
    Other,
}

/// An integration request header's source as a Turnpike template.
fn header_value(source: &str) -> HeaderSource {
    if let Some(text) = static_value(source) {
        return HeaderSource::Template(text);
    }
    if let Some(v) = source.strip_prefix("stageVariables.") {
        return HeaderSource::Template(format!("${{stageVariables.{v}}}"));
    }
    if let Some(v) = source.strip_prefix("context.authorizer.") {
        return HeaderSource::Template(format!("${{context.authorizer.{v}}}"));
    }
    if let Some(v) = source.strip_prefix("method.request.path.") {
        return HeaderSource::Template(format!("${{request.path.{v}}}"));
    }
    if let Some(v) = source.strip_prefix("method.request.header.") {
        return HeaderSource::SameHeader(v.to_owned());
    }
    if let Some(v) = source.strip_prefix("method.request.querystring.") {
        return HeaderSource::Template(format!("${{request.querystring.{v}}}"));
    }
    HeaderSource::Other
}

/// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations`
/// → `FUNCTION_ARN`.
pub(super) fn lambda_function_arn(uri: &str) -> Option<String> {
    if uri.starts_with("arn:aws:lambda:") {
        return Some(uri.to_owned());
    }
    let (_, after) = uri.split_once(":lambda:path/")?;
    let after = after.split_once("/functions/")?.1;
    let arn = after.strip_suffix("/invocations").unwrap_or(after);
    Some(arn.to_owned())
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:ALIAS]` → `NAME`.
pub(super) fn function_name(arn: &str) -> String {
    match arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_owned(),
        None => arn.to_owned(),
    }
}

/// `arn:aws:apigateway:REGION:SERVICE:action/OP` or `path/...` → (SERVICE, what).
fn aws_service(uri: &str) -> (String, String) {
    let parts: Vec<&str> = uri.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "apigateway", _, service, rest] => {
            let what = if let Some(action) = rest.strip_prefix("action/") {
                format!("action {}", action.split('&').next().unwrap_or(action))
            } else {
                rest.to_string()
            };
            ((*service).to_owned(), what)
        }
        _ => ("unknown".to_owned(), uri.to_owned()),
    }
}

impl Importer<'_> {
    /// `cacheKeyParameters` → the route's `cache = { key_parameters }`:
    /// they take effect on a stage that has a cache, which the export does
    /// not carry (API Gateway keeps it in the stage's settings).
    fn cache_key_parameters(&mut self, value: &Value, pointer: &str, route: &mut OutRoute) {
        let Some(list) = value.as_array() else {
            self.find(
                Severity::Error,
                pointer,
                "expected a list of parameter names",
            );
            return;
        };
        let mut kept = Vec::new();
        for (i, entry) in list.iter().enumerate() {
            let name = entry.as_str().unwrap_or_default();
            match crate::config::CacheKeyParameter::parse(name) {
                Ok(_) if name.starts_with("method.request.") => kept.push(toml::Value::from(name)),
                _ => self.find(
                    Severity::Unsupported,
                    &format!("{pointer}/{i}"),
                    format!(
                        "`{name}` is not a method request parameter (method.request.querystring|header|path.NAME); left out of the cache key"
                    ),
                ),
            }
        }
        if kept.is_empty() {
            return;
        }
        let mut cache = toml::map::Map::new();
        cache.insert("key_parameters".into(), toml::Value::Array(kept));
        route.cache = Some(toml::Value::Table(cache));
        self.find(
            Severity::Warning,
            pointer,
            "imported as the route's cache key parameters; caching starts once the stage has a cache ([apis.stages.NAME.cache] capacity), which the definition does not carry",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_uris_and_services() {
        let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:Hello:live/invocations";
        let arn = lambda_function_arn(uri).unwrap();
        assert_eq!(
            arn,
            "arn:aws:lambda:us-east-1:123456789012:function:Hello:live"
        );
        assert_eq!(function_name(&arn), "Hello");
        assert_eq!(
            aws_service("arn:aws:apigateway:us-east-1:dynamodb:action/PutItem"),
            ("dynamodb".to_owned(), "action PutItem".to_owned())
        );
        assert_eq!(
            aws_service("arn:aws:apigateway:us-east-1:sqs:path/123456789012/orders"),
            ("sqs".to_owned(), "path/123456789012/orders".to_owned())
        );
        assert!(lambda_function_arn("arn:aws:apigateway:us-east-1:sqs:path/1/q").is_none());
    }
}
