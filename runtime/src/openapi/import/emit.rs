//! The Turnpike configuration an import produces, as serde structs that
//! serialize to the TOML keys `config/raw.rs` reads.

use std::collections::BTreeMap;

use serde::Serialize;

/// The generated file: a listener when it stands alone, the API, and the
/// plugins `--map` named by file.
#[derive(Debug, Default, Serialize)]
pub struct OutConfig {
    /// `[[listeners]]` (a standalone file only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<OutListener>,
    /// `[plugins.NAME]` for Lambda functions mapped to a `.wasm` file.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, OutPlugin>,
    /// The imported API.
    pub apis: Vec<OutApi>,
}

/// `[[listeners]]`.
#[derive(Debug, Serialize)]
pub struct OutListener {
    /// Its name.
    pub name: String,
    /// Where it listens.
    pub address: String,
}

/// `[plugins.NAME]`.
#[derive(Debug, Serialize)]
pub struct OutPlugin {
    /// The component file.
    pub component: String,
    /// Its world (`lambda`).
    pub world: String,
}

/// `[[apis]]`.
#[derive(Debug, Default, Serialize)]
pub struct OutApi {
    /// The API's name.
    pub name: String,
    /// `header` or `authorizer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_source: Option<String>,
    /// REST APIs' binary media types.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binary_media_types: Vec<String>,
    /// `[apis.policy]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<OutPolicy>,
    /// `[apis.cors]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<OutCors>,
    /// `[apis.stages.NAME]`.
    pub stages: BTreeMap<String, OutStage>,
    /// `[apis.authorizers.NAME]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub authorizers: BTreeMap<String, OutAuthorizer>,
    /// `[apis.models.NAME]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, OutModel>,
    /// `[apis.aws]` (Turnpike's own export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<toml::Value>,
    /// `[apis.gateway_responses.TYPE]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub gateway_responses: BTreeMap<String, OutGatewayResponse>,
    /// `[[apis.routes]]`.
    pub routes: Vec<OutRoute>,
}

/// `policy`.
#[derive(Debug, Default, Serialize)]
pub struct OutPolicy {
    /// Addresses that may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_source: Vec<String>,
    /// Addresses that may not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny_source: Vec<String>,
}

/// `[apis.cors]`.
#[derive(Debug, Default, Serialize)]
pub struct OutCors {
    /// Allowed origins.
    pub allow_origins: Vec<String>,
    /// Allowed methods.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// Allowed request headers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Headers scripts may read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Credentials allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// Preflight cache time, e.g. `"300s"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
}

/// `[apis.stages.NAME]`.
#[derive(Debug, Default, Serialize)]
pub struct OutStage {
    /// Stage variables.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
}

/// `[apis.authorizers.NAME]`, every type's keys, or (from Turnpike's own
/// export) the table as it was configured.
#[derive(Debug, Default, Serialize)]
pub struct OutAuthorizer {
    /// The whole table, written instead of the fields below.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<toml::Value>,
    /// `wasm`, `jwt` or `sigv4`.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// wasm: the plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// wasm: `lambda`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// wasm: `token` or `request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// wasm: `1.0` or `2.0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_format: Option<String>,
    /// wasm, jwt: where the identity is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identity_sources: Vec<String>,
    /// wasm: the token's regular expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_validation_expression: Option<String>,
    /// wasm, jwt: decision cache time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<String>,
    /// jwt: the issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// jwt: accepted audiences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// jwt: the key set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// sigv4: the region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// sigv4: the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// sigv4: access keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<OutCredential>,
}

impl OutAuthorizer {
    /// Whether it is a `jwt` authorizer.
    pub fn is_jwt(&self) -> bool {
        match &self.verbatim {
            Some(table) => table.get("type").and_then(|t| t.as_str()) == Some("jwt"),
            None => self.kind == "jwt",
        }
    }
}

/// A sigv4 access key whose secret is in an environment variable.
#[derive(Debug, Serialize)]
pub struct OutCredential {
    /// The key id.
    pub access_key_id: String,
    /// The variable holding the secret.
    pub secret_access_key_env: String,
}

/// `[apis.models.NAME]`.
#[derive(Debug, Serialize)]
pub struct OutModel {
    /// The JSON Schema, `$ref`s resolved.
    pub schema: toml::Value,
}

/// `[apis.gateway_responses.TYPE]`.
#[derive(Debug, Default, Serialize)]
pub struct OutGatewayResponse {
    /// The status, when not the type's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Headers; values are templates.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Body template, when not the default message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// `[[apis.routes]]`.
#[derive(Debug, Serialize)]
pub struct OutRoute {
    /// Route key.
    pub key: String,
    /// Authorizer name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<String>,
    /// Scopes a jwt authorizer must see.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_scopes: Vec<String>,
    /// API key needed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub api_key_required: bool,
    /// Body models by media type.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_models: BTreeMap<String, String>,
    /// Required query-string parameters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_query: Vec<String>,
    /// Required headers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_headers: Vec<String>,
    /// Who may call (Turnpike's own export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<toml::Value>,
    /// The route's throttle (Turnpike's own export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle: Option<toml::Value>,
    /// The route's cache key parameters (`cacheKeyParameters`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<toml::Value>,
    /// What a request without a template for its media type gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough_behavior: Option<String>,
    /// VTL request templates by media type.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_templates: BTreeMap<String, String>,
    /// VTL response templates by media type.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub response_templates: BTreeMap<String, String>,
    /// The integration.
    pub integration: OutIntegration,
}

/// `integration = { ... }`, every type's keys, or (from Turnpike's own
/// export) the table as it was configured.
#[derive(Debug, Default, Serialize)]
pub struct OutIntegration {
    /// The whole table, written instead of the fields below.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<toml::Value>,
    /// `http_proxy`, `mock` or `function`.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// http_proxy: the URL template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// http_proxy: time to response headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// http_proxy: headers set on the upstream request.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, String>,
    /// mock: status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// mock: headers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// mock: body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// function: the plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// function: the Lambda payload format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_format: Option<String>,
}
