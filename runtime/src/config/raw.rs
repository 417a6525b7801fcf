//! The configuration file exactly as written: serde structs that mirror the
//! TOML, reject unknown keys, and keep the source span of every value that
//! later validation may need to point at.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::units::SizeValue;

/// A string value together with where it stood in the file.
pub type SpannedStr = Spanned<String>;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub listeners: Vec<Spanned<RawListener>>,
    #[serde(default)]
    pub apis: Vec<Spanned<RawApi>>,
    #[serde(default)]
    pub plugins: BTreeMap<String, Spanned<RawPlugin>>,
    pub admin: Option<Spanned<RawAdmin>>,
    #[serde(default)]
    pub api_keys: BTreeMap<String, Spanned<RawApiKey>>,
    #[serde(default)]
    pub usage_plans: BTreeMap<String, Spanned<RawUsagePlan>>,
    pub usage_store: Option<Spanned<RawUsageStore>>,
    #[serde(default)]
    pub domains: Vec<Spanned<RawDomain>>,
    #[serde(default)]
    pub upstreams: BTreeMap<String, Spanned<RawUpstream>>,
    pub tracing: Option<Spanned<RawTracing>>,
    pub cluster: Option<Spanned<RawCluster>>,
    pub portal: Option<Spanned<RawPortal>>,
}

/// `[portal]`: the developer portal for API consumers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPortal {
    pub address: SpannedStr,
    pub title: Option<SpannedStr>,
    pub signup: Option<SpannedStr>,
    pub session_ttl: Option<SpannedStr>,
    pub listener: Option<SpannedStr>,
}

/// `[cluster]`: the Redis that shares plugins, deployments, stage pointers
/// and API keys between the nodes of a fleet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub redis_url: SpannedStr,
    pub name: Option<SpannedStr>,
    pub node_id: Option<SpannedStr>,
    pub heartbeat: Option<SpannedStr>,
    pub timeout: Option<SpannedStr>,
    pub log_length: Option<Spanned<i64>>,
    pub ca_file: Option<SpannedStr>,
    pub client_cert: Option<SpannedStr>,
    pub client_key: Option<SpannedStr>,
}

/// `[tracing]`: where OpenTelemetry spans are exported, and how many.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTracing {
    pub endpoint: SpannedStr,
    pub sample_ratio: Option<Spanned<RawNumber>>,
    pub service_name: Option<SpannedStr>,
    #[serde(default)]
    pub headers: BTreeMap<String, SpannedStr>,
    pub batch_size: Option<Spanned<i64>>,
    pub export_interval: Option<SpannedStr>,
}

/// `[upstreams.NAME]`: a set of targets an `http_proxy` URL can name as its
/// host, with balancing, TLS, HTTP/2, limits, retries and health.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub targets: Spanned<Vec<SpannedStr>>,
    pub balance: Option<SpannedStr>,
    pub http2: Option<Spanned<bool>>,
    pub tls: Option<Spanned<RawUpstreamTls>>,
    pub max_connections: Option<Spanned<i64>>,
    pub max_pending: Option<Spanned<i64>>,
    pub connect_timeout: Option<SpannedStr>,
    pub retries: Option<Spanned<RawRetries>>,
    pub outlier: Option<Spanned<RawOutlier>>,
    pub health_check: Option<Spanned<RawHealthCheck>>,
}

/// `tls` of an upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamTls {
    pub ca: Option<SpannedStr>,
    pub server_name: Option<SpannedStr>,
    pub verify: Option<Spanned<bool>>,
    pub client_cert: Option<Spanned<RawCertificate>>,
}

/// `retries` of an upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetries {
    pub attempts: Option<Spanned<i64>>,
    #[serde(default)]
    pub statuses: Vec<Spanned<i64>>,
}

/// `outlier` of an upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutlier {
    pub consecutive_failures: Option<Spanned<i64>>,
    pub ejection_time: Option<SpannedStr>,
    pub max_ejected_percent: Option<Spanned<i64>>,
}

/// `health_check` of an upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    pub path: SpannedStr,
    pub interval: Option<SpannedStr>,
    pub timeout: Option<SpannedStr>,
    pub healthy_threshold: Option<Spanned<i64>>,
    pub unhealthy_threshold: Option<Spanned<i64>>,
}

/// `[[domains]]`: a custom domain name, its certificate and mutual TLS, and
/// its base path mappings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDomain {
    pub name: SpannedStr,
    pub certificate: Option<Spanned<RawCertificate>>,
    pub listeners: Option<Vec<SpannedStr>>,
    pub mtls: Option<Spanned<RawMtls>>,
    #[serde(default)]
    pub mappings: Vec<Spanned<RawMapping>>,
}

/// `mtls = { truststore, mode, crls }` of a domain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMtls {
    pub truststore: SpannedStr,
    pub mode: Option<SpannedStr>,
    #[serde(default)]
    pub crls: Vec<SpannedStr>,
}

/// `[[domains.mappings]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub base_path: SpannedStr,
    pub api: SpannedStr,
    pub stage: Option<SpannedStr>,
}

/// A certificate chain file and its key file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    pub cert: SpannedStr,
    pub key: SpannedStr,
}

/// `[listeners.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    #[serde(default)]
    pub certificates: Vec<Spanned<RawCertificate>>,
    pub min_version: Option<SpannedStr>,
    pub without_sni: Option<SpannedStr>,
    pub alpn: Option<Spanned<Vec<SpannedStr>>>,
    pub session_cache: Option<Spanned<i64>>,
    pub session_tickets: Option<Spanned<bool>>,
    pub http3: Option<Spanned<bool>>,
}

/// `[usage_store]`: where shared rate limits and quotas live.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsageStore {
    pub redis_url: SpannedStr,
    pub on_error: Option<SpannedStr>,
    pub timeout: Option<SpannedStr>,
    pub key_prefix: Option<SpannedStr>,
}

/// `[api_keys.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiKey {
    pub value: SpannedStr,
    pub enabled: Option<bool>,
}

/// `[usage_plans.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsagePlan {
    #[serde(default)]
    pub api_keys: Vec<SpannedStr>,
    #[serde(default)]
    pub stages: Vec<Spanned<RawPlanStage>>,
    pub throttle: Option<Spanned<RawThrottle>>,
    pub quota: Option<Spanned<RawQuota>>,
}

/// An API stage a usage plan covers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlanStage {
    pub api: SpannedStr,
    pub stage: SpannedStr,
}

/// A number written as an integer or a float.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum RawNumber {
    Int(i64),
    Float(f64),
}

impl RawNumber {
    pub fn as_f64(self) -> f64 {
        match self {
            RawNumber::Int(i) => i as f64,
            RawNumber::Float(f) => f,
        }
    }
}

/// `throttle = { rate, burst }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThrottle {
    pub rate: Spanned<RawNumber>,
    pub burst: Spanned<i64>,
}

/// `quota = { limit, period }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    pub limit: Spanned<i64>,
    pub period: SpannedStr,
}

/// `[admin]`: the control-plane listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub address: Option<SpannedStr>,
    pub token_file: Option<SpannedStr>,
    pub token_env: Option<SpannedStr>,
    pub max_upload_size: Option<Spanned<SizeValue>>,
}

/// `[plugins.NAME]`: a WebAssembly component and its budgets and grants.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub component: SpannedStr,
    pub world: SpannedStr,
    pub instances: Option<SpannedStr>,
    pub reuse_limit: Option<Spanned<i64>>,
    pub max_idle_instances: Option<Spanned<i64>>,
    pub timeout: Option<SpannedStr>,
    pub memory_limit: Option<Spanned<SizeValue>>,
    pub fuel: Option<Spanned<i64>>,
    #[serde(default)]
    pub outbound_hosts: Vec<SpannedStr>,
    pub max_outbound_calls: Option<Spanned<i64>>,
    #[serde(default)]
    pub config: BTreeMap<String, SpannedStr>,
}

/// `[apis.authorizers.NAME]`. One flat table for every authorizer type,
/// like [`RawIntegration`]; which keys a type takes is checked during
/// validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorizer {
    #[serde(rename = "type")]
    pub kind: SpannedStr,
    pub plugin: Option<SpannedStr>,
    pub payload: Option<SpannedStr>,
    pub identity_sources: Option<Spanned<Vec<SpannedStr>>>,
    pub cache_ttl: Option<SpannedStr>,
    pub on_error: Option<SpannedStr>,
    // wasm
    pub format: Option<SpannedStr>,
    pub payload_format: Option<SpannedStr>,
    pub identity_validation_expression: Option<SpannedStr>,
    // jwt
    pub issuer: Option<SpannedStr>,
    pub audiences: Option<Spanned<Vec<SpannedStr>>>,
    pub jwks_uri: Option<SpannedStr>,
    pub jwks_file: Option<SpannedStr>,
    pub algorithms: Option<Spanned<Vec<SpannedStr>>>,
    pub leeway: Option<SpannedStr>,
    pub jwks_refresh: Option<SpannedStr>,
    // sigv4
    pub region: Option<SpannedStr>,
    pub service: Option<SpannedStr>,
    pub credentials: Option<Spanned<Vec<Spanned<RawCredential>>>>,
}

/// An access key of a `sigv4` authorizer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredential {
    pub access_key_id: SpannedStr,
    pub secret_access_key: Option<SpannedStr>,
    pub secret_access_key_env: Option<SpannedStr>,
    pub principal: Option<SpannedStr>,
}

/// `[server]`: process-wide settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub shutdown_grace: Option<SpannedStr>,
    pub access_log: Option<SpannedStr>,
    pub access_log_format: Option<SpannedStr>,
    pub workers: Option<Spanned<i64>>,
    pub request_id_header: Option<SpannedStr>,
    pub cache_dir: Option<SpannedStr>,
    pub data_dir: Option<SpannedStr>,
}

/// `[limits]`: request limits, defaulting to Amazon API Gateway's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_body_size: Option<Spanned<SizeValue>>,
    pub max_header_size: Option<Spanned<SizeValue>>,
    pub integration_timeout: Option<SpannedStr>,
    pub header_read_timeout: Option<SpannedStr>,
    pub body_read_timeout: Option<SpannedStr>,
    pub idle_timeout: Option<SpannedStr>,
}

/// `[[listeners]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub name: SpannedStr,
    pub address: SpannedStr,
    pub tls: Option<Spanned<RawTls>>,
    pub redirect_https: Option<SpannedStr>,
    pub max_connections: Option<Spanned<i64>>,
}

/// `[[apis]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub name: SpannedStr,
    pub listeners: Option<Vec<SpannedStr>>,
    #[serde(default)]
    pub hosts: Vec<SpannedStr>,
    #[serde(default)]
    pub stages: BTreeMap<String, Spanned<RawStage>>,
    #[serde(default)]
    pub routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub authorizers: BTreeMap<String, Spanned<RawAuthorizer>>,
    pub policy: Option<RawPolicy>,
    pub cors: Option<Spanned<RawCors>>,
    pub api_key_source: Option<SpannedStr>,
    #[serde(default)]
    pub models: BTreeMap<String, Spanned<RawModel>>,
    pub aws: Option<Spanned<RawAws>>,
    #[serde(default)]
    pub binary_media_types: Vec<SpannedStr>,
    #[serde(default)]
    pub gateway_responses: BTreeMap<String, Spanned<RawGatewayResponse>>,
    pub protocol: Option<SpannedStr>,
    pub route_selection_expression: Option<SpannedStr>,
    pub websocket: Option<Spanned<RawWebSocket>>,
}

/// `[apis.websocket]`: a WebSocket API's connection limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebSocket {
    pub idle_timeout: Option<SpannedStr>,
    pub max_duration: Option<SpannedStr>,
    pub max_frame_size: Option<Spanned<SizeValue>>,
    pub max_message_size: Option<Spanned<SizeValue>>,
    pub ping_interval: Option<SpannedStr>,
    pub send_queue_size: Option<Spanned<SizeValue>>,
    pub management_authorizer: Option<SpannedStr>,
}

/// `[apis.gateway_responses.TYPE]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayResponse {
    pub status: Option<Spanned<i64>>,
    pub headers: Option<Spanned<BTreeMap<String, SpannedStr>>>,
    pub body: Option<SpannedStr>,
}

/// `[apis.aws]`: the names API Gateway would give the API, for the ARNs and
/// ids Lambda-style plugins see.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAws {
    pub region: Option<SpannedStr>,
    pub account_id: Option<SpannedStr>,
    pub api_id: Option<SpannedStr>,
}

/// `[apis.models.NAME]`: a JSON Schema for request bodies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub schema: Option<Spanned<toml::Value>>,
    pub schema_file: Option<SpannedStr>,
}

/// `[apis.cors]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    #[serde(default)]
    pub allow_origins: Vec<SpannedStr>,
    #[serde(default)]
    pub allow_methods: Vec<SpannedStr>,
    #[serde(default)]
    pub allow_headers: Vec<SpannedStr>,
    #[serde(default)]
    pub expose_headers: Vec<SpannedStr>,
    pub allow_credentials: Option<Spanned<bool>>,
    pub max_age: Option<SpannedStr>,
}

/// `policy` of an API, stage or route: who may call it, by source address.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    #[serde(default)]
    pub allow_source: Vec<SpannedStr>,
    #[serde(default)]
    pub deny_source: Vec<SpannedStr>,
}

/// `[apis.stages.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    #[serde(default)]
    pub variables: BTreeMap<String, SpannedStr>,
    pub policy: Option<RawPolicy>,
    pub throttle: Option<Spanned<RawThrottle>>,
    pub cache: Option<Spanned<RawStageCache>>,
}

/// `[apis.stages.NAME.cache]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStageCache {
    pub capacity: Spanned<SizeValue>,
    pub ttl: Option<SpannedStr>,
    pub max_entry_size: Option<Spanned<SizeValue>>,
    pub statuses: Option<Spanned<Vec<Spanned<i64>>>>,
    pub require_authorization: Option<bool>,
    #[serde(default)]
    pub invalidators: Vec<SpannedStr>,
    pub unauthorized_invalidation: Option<SpannedStr>,
    pub lock_timeout: Option<SpannedStr>,
}

/// A route's `cache = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteCache {
    pub enabled: Option<bool>,
    pub ttl: Option<SpannedStr>,
    #[serde(default)]
    pub key_parameters: Vec<SpannedStr>,
}

/// `[[apis.routes]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub key: SpannedStr,
    pub authorizer: Option<SpannedStr>,
    pub mapper: Option<SpannedStr>,
    pub policy: Option<RawPolicy>,
    pub api_key_required: Option<bool>,
    #[serde(default)]
    pub authorization_scopes: Vec<SpannedStr>,
    pub request_models: Option<Spanned<BTreeMap<String, SpannedStr>>>,
    #[serde(default)]
    pub required_query: Vec<SpannedStr>,
    #[serde(default)]
    pub required_headers: Vec<SpannedStr>,
    pub throttle: Option<Spanned<RawThrottle>>,
    pub request_templates: Option<Spanned<BTreeMap<String, SpannedStr>>>,
    pub response_templates: Option<Spanned<BTreeMap<String, SpannedStr>>>,
    pub passthrough_behavior: Option<SpannedStr>,
    pub return_response: Option<Spanned<bool>>,
    pub cache: Option<Spanned<RawRouteCache>>,
    pub integration: Spanned<RawIntegration>,
}

/// `[apis.routes.integration]`. One flat table for every integration type:
/// which keys a type accepts is checked during validation, which keeps the
/// source spans that a serde-tagged enum would lose.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntegration {
    #[serde(rename = "type")]
    pub kind: SpannedStr,
    // http_proxy
    pub url: Option<SpannedStr>,
    pub timeout: Option<SpannedStr>,
    pub request_headers: Option<Spanned<BTreeMap<String, SpannedStr>>>,
    // mock
    pub status: Option<Spanned<i64>>,
    pub headers: Option<Spanned<BTreeMap<String, SpannedStr>>>,
    pub body: Option<SpannedStr>,
    // function
    pub plugin: Option<SpannedStr>,
    pub payload_format: Option<SpannedStr>,
}
