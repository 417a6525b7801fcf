//! Who may call: security schemes with `x-amazon-apigateway-authorizer`
//! (Lambda, JWT, Cognito), IAM (`awsSigv4`), API keys, and the API-wide
//! CORS and resource policy extensions.

use serde_json::Value;

use super::emit::{OutAuthorizer, OutCors, OutCredential, OutGatewayResponse, OutPolicy, OutRoute};
use super::integration::{function_name, is_vtl, lambda_function_arn, static_value};
use super::{Importer, Severity, Spec};
use crate::openapi::source::escape;

/// API Gateway's gateway response types.
pub const GATEWAY_RESPONSE_TYPES: &[&str] = &[
    "ACCESS_DENIED",
    "API_CONFIGURATION_ERROR",
    "AUTHORIZER_CONFIGURATION_ERROR",
    "AUTHORIZER_FAILURE",
    "BAD_REQUEST_PARAMETERS",
    "BAD_REQUEST_BODY",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
    "EXPIRED_TOKEN",
    "INTEGRATION_FAILURE",
    "INTEGRATION_TIMEOUT",
    "INVALID_API_KEY",
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN",
    "QUOTA_EXCEEDED",
    "REQUEST_TOO_LARGE",
    "RESOURCE_NOT_FOUND",
    "THROTTLED",
    "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE",
    "WAF_FILTERED",
];

/// What a security requirement turns into on a route.
enum Scheme {
    Authorizer(String),
    ApiKey,
}

impl<'a> Importer<'a> {
    pub(super) fn security_schemes(
        &self,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> + use<'a> {
        let schemes = match self.spec {
            Spec::Swagger2 => self.doc.get("securityDefinitions"),
            Spec::OpenApi3 => self
                .doc
                .get("components")
                .and_then(|c| c.get("securitySchemes")),
        };
        schemes.and_then(Value::as_object).into_iter().flatten()
    }

    fn schemes_pointer(&self) -> &'static str {
        match self.spec {
            Spec::Swagger2 => "/securityDefinitions",
            Spec::OpenApi3 => "/components/securitySchemes",
        }
    }

    /// The route's authorizer, scopes and API key requirement.
    pub(super) fn security(&mut self, operation: &Value, pointer: &str, route: &mut OutRoute) {
        if operation
            .get("x-amazon-apigateway-auth")
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("AWS_IAM"))
        {
            route.authorizer =
                self.sigv4_authorizer(&format!("{pointer}/x-amazon-apigateway-auth"));
        }
        let (requirements, p) = match operation.get("security") {
            Some(s) => (s, format!("{pointer}/security")),
            None => match self.doc.get("security") {
                Some(s) => (s, "/security".to_owned()),
                None => return,
            },
        };
        let Some(requirements) = requirements.as_array() else {
            self.find(Severity::Error, &p, "`security` must be a list");
            return;
        };
        // API Gateway honours one authorizer per method; an API key
        // requirement may come with it.
        for (i, requirement) in requirements.iter().enumerate() {
            let Some(requirement) = requirement.as_object() else {
                continue;
            };
            for (name, scopes) in requirement {
                let rp = format!("{p}/{i}/{}", escape(name));
                match self.scheme(name, &rp) {
                    Some(Scheme::ApiKey) => route.api_key_required = true,
                    Some(Scheme::Authorizer(authorizer)) => {
                        if let Some(existing) = &route.authorizer {
                            if *existing != authorizer {
                                self.find(
                                    Severity::Warning,
                                    &rp,
                                    format!("a route has one authorizer in Turnpike; `{existing}` is used, `{authorizer}` is not"),
                                );
                            }
                            continue;
                        }
                        route.authorizer = Some(authorizer);
                        route.authorization_scopes = scopes
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect();
                    }
                    None => {}
                }
            }
        }
        if !route.authorization_scopes.is_empty()
            && let Some(name) = &route.authorizer
            && self.api.authorizers.get(name).is_some_and(|a| !a.is_jwt())
        {
            route.authorization_scopes.clear();
        }
    }

    fn scheme(&mut self, name: &str, pointer: &str) -> Option<Scheme> {
        let scheme = self
            .security_schemes()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s);
        let Some(scheme) = scheme else {
            if name.eq_ignore_ascii_case("api_key") {
                // API Gateway's own exports name API keys so, sometimes
                // without defining the scheme.
                self.find(Severity::Warning, pointer, "security scheme `api_key` is not defined; taken as API Gateway's API key requirement");
                return Some(Scheme::ApiKey);
            }
            self.find(
                Severity::Error,
                pointer,
                format!("security scheme `{name}` is not defined"),
            );
            return None;
        };
        if scheme.get("x-amazon-apigateway-authorizer").is_some()
            || scheme.get("x-turnpike-authorizer").is_some()
            || is_sigv4(scheme)
        {
            return self.authorizer_for(name).map(Scheme::Authorizer);
        }
        if scheme.get("type").and_then(Value::as_str) == Some("apiKey") {
            return Some(Scheme::ApiKey);
        }
        None
    }

    /// The authorizer built from security scheme `name` (built once).
    pub(super) fn authorizer_for(&mut self, name: &str) -> Option<String> {
        if let Some(done) = self.authorizers.get(name) {
            return done.clone();
        }
        let pointer = format!("{}/{}", self.schemes_pointer(), escape(name));
        let scheme = self
            .security_schemes()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)?;
        if let Some(exported) = scheme.get("x-turnpike-authorizer") {
            // Turnpike's own export: the authorizer exactly as configured.
            let built = self
                .turnpike_table(Some(exported), &format!("{pointer}/x-turnpike-authorizer"))
                .map(|table| {
                    let out = super::sanitize(name);
                    self.api
                        .authorizers
                        .insert(out.clone(), emit_verbatim(table));
                    out
                });
            self.authorizers.insert(name.to_owned(), built.clone());
            return built;
        }
        let built = if is_sigv4(scheme) {
            self.sigv4_authorizer(&pointer)
        } else if let Some(authorizer) = scheme.get("x-amazon-apigateway-authorizer") {
            self.custom_authorizer(
                name,
                scheme,
                authorizer,
                &format!("{pointer}/x-amazon-apigateway-authorizer"),
            )
        } else {
            let kind = scheme.get("type").and_then(Value::as_str).unwrap_or("");
            if kind != "apiKey" {
                self.find(
                    Severity::Warning,
                    &pointer,
                    format!("security scheme of type `{kind}` without `x-amazon-apigateway-authorizer` is not enforced"),
                );
            }
            None
        };
        self.authorizers.insert(name.to_owned(), built.clone());
        built
    }

    fn sigv4_authorizer(&mut self, pointer: &str) -> Option<String> {
        let name = "sigv4".to_owned();
        if self.api.authorizers.contains_key(&name) {
            return Some(name);
        }
        let Some(credential) = self.mapped("sigv4.credentials") else {
            self.find(
                Severity::Error,
                pointer,
                "IAM authorization (SigV4) needs the callers' access keys: --map 'sigv4.credentials=ACCESS_KEY_ID:SECRET_ENV_VAR[,...]'",
            );
            return None;
        };
        let mut credentials = Vec::new();
        for entry in credential.split(',') {
            match entry.split_once(':') {
                Some((id, env)) if !id.is_empty() && !env.is_empty() => {
                    credentials.push(OutCredential {
                        access_key_id: id.to_owned(),
                        secret_access_key_env: env.to_owned(),
                    })
                }
                _ => {
                    self.find(
                        Severity::Error,
                        pointer,
                        format!(
                            "--map sigv4.credentials: `{entry}` is not ACCESS_KEY_ID:SECRET_ENV_VAR"
                        ),
                    );
                    return None;
                }
            }
        }
        self.api.authorizers.insert(
            name.clone(),
            OutAuthorizer {
                kind: "sigv4".to_owned(),
                region: Some(self.region.clone()),
                service: Some("execute-api".to_owned()),
                credentials,
                ..OutAuthorizer::default()
            },
        );
        Some(name)
    }

    fn custom_authorizer(
        &mut self,
        name: &str,
        scheme: &Value,
        authorizer: &Value,
        pointer: &str,
    ) -> Option<String> {
        let out_name = super::sanitize(name);
        let kind = authorizer
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let ttl = authorizer
            .get("authorizerResultTtlInSeconds")
            .and_then(Value::as_u64)
            .map(|s| format!("{s}s"));
        let built = match kind.as_str() {
            "token" | "request" => {
                let uri = match authorizer.get("authorizerUri") {
                    Some(uri) => self.string(uri, &format!("{pointer}/authorizerUri"))?,
                    None => {
                        self.find(
                            Severity::Error,
                            pointer,
                            "a Lambda authorizer needs `authorizerUri`",
                        );
                        return None;
                    }
                };
                let arn = lambda_function_arn(&uri).unwrap_or(uri);
                let function = function_name(&arn);
                let plugin =
                    self.lambda_plugin(&function, &arn, &format!("{pointer}/authorizerUri"))?;
                let payload_format = authorizer
                    .get("authorizerPayloadFormatVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("1.0")
                    .to_owned();
                let sources = self.identity_sources(scheme, authorizer, &kind, pointer)?;
                if authorizer.get("authorizerCredentials").is_some() {
                    self.find(
                        Severity::Ignored,
                        &format!("{pointer}/authorizerCredentials"),
                        "the IAM role API Gateway assumes to invoke the authorizer has no meaning to Turnpike",
                    );
                }
                OutAuthorizer {
                    kind: "wasm".to_owned(),
                    plugin: Some(plugin),
                    format: Some("lambda".to_owned()),
                    payload: Some(if kind == "token" { "token" } else { "request" }.to_owned()),
                    payload_format: Some(payload_format),
                    identity_sources: sources,
                    identity_validation_expression: authorizer
                        .get("identityValidationExpression")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    cache_ttl: ttl,
                    ..OutAuthorizer::default()
                }
            }
            "jwt" => {
                let config = authorizer.get("jwtConfiguration");
                let issuer = match config.and_then(|c| c.get("issuer")) {
                    Some(i) => self.string(i, &format!("{pointer}/jwtConfiguration/issuer"))?,
                    None => {
                        self.find(
                            Severity::Error,
                            pointer,
                            "a jwt authorizer needs `jwtConfiguration.issuer`",
                        );
                        return None;
                    }
                };
                let mut audiences = Vec::new();
                for (i, a) in config
                    .and_then(|c| c.get("audience"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    audiences
                        .push(self.string(a, &format!("{pointer}/jwtConfiguration/audience/{i}"))?);
                }
                if audiences.is_empty() {
                    self.find(
                        Severity::Error,
                        &format!("{pointer}/jwtConfiguration"),
                        "a jwt authorizer needs at least one `audience`",
                    );
                    return None;
                }
                let sources = self.identity_sources(scheme, authorizer, "request", pointer)?;
                self.jwt(&out_name, issuer, audiences, sources, pointer)
            }
            "cognito_user_pools" => {
                let arns = authorizer
                    .get("providerARNs")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let Some(first) = arns.first() else {
                    self.find(
                        Severity::Error,
                        pointer,
                        "a cognito_user_pools authorizer needs `providerARNs`",
                    );
                    return None;
                };
                let arn = self.string(first, &format!("{pointer}/providerARNs/0"))?;
                if arns.len() > 1 {
                    self.find(
                        Severity::Warning,
                        &format!("{pointer}/providerARNs"),
                        "only the first user pool is trusted",
                    );
                }
                // arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID
                let Some((region, pool)) = arn
                    .strip_prefix("arn:aws:cognito-idp:")
                    .and_then(|r| Some((r.split(':').next()?, r.split_once(":userpool/")?.1)))
                else {
                    self.find(
                        Severity::Error,
                        &format!("{pointer}/providerARNs/0"),
                        format!("`{arn}` is not a Cognito user pool ARN"),
                    );
                    return None;
                };
                let issuer = format!("https://cognito-idp.{region}.amazonaws.com/{pool}");
                let key = format!("{out_name}.audiences");
                let Some(audiences) = self.mapped(&key) else {
                    self.find(
                        Severity::Error,
                        pointer,
                        format!("the app client ids of user pool {pool} are not in the definition: --map '{key}=CLIENT_ID[,...]'"),
                    );
                    return None;
                };
                let audiences = audiences.split(',').map(str::to_owned).collect();
                let sources = self.identity_sources(scheme, authorizer, "token", pointer)?;
                self.jwt(&out_name, issuer, audiences, sources, pointer)
            }
            other => {
                self.find(
                    Severity::Error,
                    &format!("{pointer}/type"),
                    format!("unknown authorizer type `{other}` (API Gateway's are token, request, jwt and cognito_user_pools)"),
                );
                return None;
            }
        };
        self.api.authorizers.insert(out_name.clone(), built);
        Some(out_name)
    }

    fn jwt(
        &mut self,
        name: &str,
        issuer: String,
        audiences: Vec<String>,
        sources: Vec<String>,
        pointer: &str,
    ) -> OutAuthorizer {
        let key = format!("{name}.jwks_uri");
        let jwks_uri = match self.mapped(&key) {
            Some(uri) => uri,
            None => {
                let uri = format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'));
                if !issuer.contains(".amazonaws.com/") {
                    self.find(
                        Severity::Warning,
                        pointer,
                        format!("keys are fetched from {uri} (API Gateway reads the issuer's discovery document); --map '{key}=URL' to change"),
                    );
                }
                uri
            }
        };
        OutAuthorizer {
            kind: "jwt".to_owned(),
            issuer: Some(issuer),
            audiences,
            jwks_uri: Some(jwks_uri),
            identity_sources: sources,
            ..OutAuthorizer::default()
        }
    }

    /// API Gateway's identity sources in Turnpike's `$request.…` form.
    fn identity_sources(
        &mut self,
        scheme: &Value,
        authorizer: &Value,
        kind: &str,
        pointer: &str,
    ) -> Option<Vec<String>> {
        let raw: Vec<String> = match authorizer.get("identitySource") {
            Some(Value::String(s)) => s
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ if kind == "token" => {
                // A TOKEN authorizer reads the header its scheme names.
                let header = scheme
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("Authorization");
                vec![format!("method.request.header.{header}")]
            }
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for source in raw {
            let converted = if source.starts_with('$') {
                Some(source.clone())
            } else if let Some(h) = source.strip_prefix("method.request.header.") {
                Some(format!("$request.header.{h}"))
            } else if let Some(q) = source.strip_prefix("method.request.querystring.") {
                Some(format!("$request.querystring.{q}"))
            } else if let Some(v) = source.strip_prefix("stageVariables.") {
                Some(format!("$stageVariables.{v}"))
            } else {
                source
                    .strip_prefix("context.")
                    .map(|c| format!("$context.{c}"))
            };
            match converted {
                Some(c) => out.push(c),
                None => {
                    self.find(
                        Severity::Error,
                        &format!("{pointer}/identitySource"),
                        format!("identity source `{source}` is not supported"),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    pub(super) fn cors(&mut self, value: &Value, pointer: &str) {
        let strings = |key: &str| -> Vec<String> {
            value
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        let allow_origins = strings("allowOrigins");
        if allow_origins.is_empty() {
            self.find(
                Severity::Warning,
                pointer,
                "CORS without `allowOrigins` allows no origin; left out",
            );
            return;
        }
        self.api.cors = Some(OutCors {
            allow_origins,
            allow_methods: strings("allowMethods"),
            allow_headers: strings("allowHeaders"),
            expose_headers: strings("exposeHeaders"),
            allow_credentials: value.get("allowCredentials").and_then(Value::as_bool),
            max_age: value
                .get("maxAge")
                .and_then(Value::as_u64)
                .map(|s| format!("{s}s")),
        });
    }

    /// `aws:SourceIp` conditions of the resource policy → `allow_source` /
    /// `deny_source`.
    pub(super) fn policy(&mut self, value: &Value, pointer: &str) {
        let parsed;
        let document = match value {
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(v) => {
                    parsed = v;
                    &parsed
                }
                Err(e) => {
                    self.find(
                        Severity::Error,
                        pointer,
                        format!("the policy is not JSON: {e}"),
                    );
                    return;
                }
            },
            other => other,
        };
        let statements = match document.get("Statement") {
            Some(Value::Array(s)) => s.clone(),
            Some(one) => vec![one.clone()],
            None => Vec::new(),
        };
        let mut policy = OutPolicy::default();
        for (i, statement) in statements.iter().enumerate() {
            let sp = format!("{pointer}/Statement/{i}");
            let deny = statement.get("Effect").and_then(Value::as_str) == Some("Deny");
            let Some(conditions) = statement.get("Condition").and_then(Value::as_object) else {
                if deny {
                    self.find(
                        Severity::Unsupported,
                        &sp,
                        "a Deny statement without an `aws:SourceIp` condition is not imported",
                    );
                }
                continue;
            };
            for (operator, keys) in conditions {
                for (key, addresses) in keys.as_object().into_iter().flatten() {
                    if !key.eq_ignore_ascii_case("aws:SourceIp") {
                        self.find(
                            Severity::Unsupported,
                            &format!("{sp}/Condition"),
                            format!("condition key `{key}` is not supported; only aws:SourceIp"),
                        );
                        continue;
                    }
                    let list: Vec<String> = match addresses {
                        Value::String(a) => vec![a.clone()],
                        Value::Array(a) => a
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect(),
                        _ => Vec::new(),
                    };
                    match (operator.as_str(), deny) {
                        ("IpAddress", false) | ("NotIpAddress", true) => {
                            policy.allow_source.extend(list)
                        }
                        ("IpAddress", true) | ("NotIpAddress", false) => {
                            policy.deny_source.extend(list)
                        }
                        (other, _) => self.find(
                            Severity::Unsupported,
                            &format!("{sp}/Condition"),
                            format!("condition operator `{other}` is not supported"),
                        ),
                    }
                }
            }
            if statement
                .get("Resource")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.ends_with("/*") && !r.ends_with('*'))
            {
                self.find(
                    Severity::Warning,
                    &sp,
                    "the statement names specific resources; Turnpike applies it to the whole API",
                );
            }
        }
        if !policy.allow_source.is_empty() || !policy.deny_source.is_empty() {
            self.api.policy = Some(policy);
        }
    }

    pub(super) fn gateway_responses(&mut self, value: &Value, pointer: &str) {
        let Some(responses) = value.as_object() else {
            self.find(
                Severity::Error,
                pointer,
                "expected an object of response types",
            );
            return;
        };
        for (kind, response) in responses {
            let p = format!("{pointer}/{}", escape(kind));
            if !GATEWAY_RESPONSE_TYPES.contains(&kind.as_str()) {
                self.find(
                    Severity::Error,
                    &p,
                    format!("unknown gateway response type `{kind}`"),
                );
                continue;
            }
            let mut out = OutGatewayResponse::default();
            if let Some(code) = self.status_of(response, &p) {
                out.status = Some(code);
            }
            for (target, source) in response
                .get("responseParameters")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let pp = format!("{p}/responseParameters/{}", escape(target));
                let Some(header) = target.strip_prefix("gatewayresponse.header.") else {
                    if target.starts_with("gatewayresponse.path.")
                        || target.starts_with("gatewayresponse.querystring.")
                    {
                        self.find(Severity::Ignored, &pp, "a response has no path or query string to set; only `gatewayresponse.header.*` reach the client");
                    } else {
                        self.find(
                            Severity::Error,
                            &pp,
                            format!(
                                "`{target}`: gateway responses set `gatewayresponse.header.NAME`"
                            ),
                        );
                    }
                    continue;
                };
                let Some(source) = source.as_str() else {
                    continue;
                };
                let value = static_value(source).or_else(|| {
                    let (kind, name) = source.split_once('.')?;
                    Some(match kind {
                        "method" => {
                            let rest = source.strip_prefix("method.request.")?;
                            format!("${{request.{rest}}}")
                        }
                        "stageVariables" | "context" => format!("${{{kind}.{name}}}"),
                        _ => return None,
                    })
                });
                match value {
                    Some(v) => {
                        out.headers.insert(header.to_owned(), v);
                    }
                    None => self.find(
                        Severity::Unsupported,
                        &pp,
                        format!("header value from `{source}` is not supported"),
                    ),
                }
            }
            if let Some((media, template)) =
                super::preferred_template(response.get("responseTemplates"))
            {
                let text = template.as_str().unwrap_or("");
                match gateway_template(text) {
                    Some(body) => out.body = Some(body),
                    None => self.find(
                        Severity::Unsupported,
                        &format!("{p}/responseTemplates/{}", escape(media)),
                        "this template uses VTL beyond `$context`/`$stageVariables` variables; the default body is kept",
                    ),
                }
            }
            self.api.gateway_responses.insert(kind.clone(), out);
        }
    }
}

fn emit_verbatim(table: toml::Value) -> OutAuthorizer {
    OutAuthorizer {
        verbatim: Some(table),
        ..OutAuthorizer::default()
    }
}

fn is_sigv4(scheme: &Value) -> bool {
    scheme
        .get("x-amazon-apigateway-authtype")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("awsSigv4") || t.eq_ignore_ascii_case("aws_iam"))
}

/// A gateway response template as a Turnpike body template:
/// `$context.X` / `$stageVariables.X` (also `${context.X}`) become
/// `${context.X}` / `${stageVariables.X}`. `None` for anything else VTL.
fn gateway_template(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (braced, body) = match after.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, after),
        };
        let end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'))
            .unwrap_or(body.len());
        let name = body[..end].trim_end_matches('.');
        if !(name.starts_with("context.") || name.starts_with("stageVariables.")) {
            return None;
        }
        out.push_str("${");
        out.push_str(name);
        out.push('}');
        let consumed = name.len() + usize::from(braced && body[name.len()..].starts_with('}'));
        rest = &body[consumed..];
    }
    out.push_str(rest);
    if is_vtl(
        &out.replace("${context.", "")
            .replace("${stageVariables.", ""),
    ) {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_templates() {
        assert_eq!(
            gateway_template(
                "{\"message\":$context.error.messageString,\"id\":\"$context.requestId\"}"
            ),
            Some(
                "{\"message\":${context.error.messageString},\"id\":\"${context.requestId}\"}"
                    .to_owned()
            )
        );
        assert_eq!(
            gateway_template("{\"s\":\"${stageVariables.x}\"}"),
            Some("{\"s\":\"${stageVariables.x}\"}".to_owned())
        );
        assert_eq!(gateway_template("$input.body"), None);
        assert_eq!(gateway_template("plain"), Some("plain".to_owned()));
    }
}
