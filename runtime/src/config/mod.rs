//! Configuration: parse the TOML file, validate it, and produce typed values.
//!
//! Parsing rejects unknown keys and wrong types at the first occurrence (the
//! TOML reader stops there); validation then reports every semantic problem at
//! once. Each problem names the file, the key and the line.

mod raw;
pub mod template;
pub mod units;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use serde_spanned::Spanned;

use crate::router::{RouteKey, Router};
use raw::{RawApi, RawConfig, RawIntegration, RawListener, SpannedStr};
pub use template::{BraceParams, Template};

/// Amazon API Gateway's payload limit: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Amazon API Gateway's limit on the total size of request headers.
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 10 * 1024;
/// Amazon API Gateway's default integration timeout.
pub const DEFAULT_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// How long in-flight requests may run after SIGTERM before the process exits.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Process-wide settings.
    pub server: ServerSettings,
    /// Request limits.
    pub limits: Limits,
    /// Where the gateway accepts downstream connections.
    pub listeners: Vec<ListenerConfig>,
    /// The APIs served.
    pub apis: Vec<ApiConfig>,
    /// WebAssembly plugins, by name.
    pub plugins: Vec<PluginConfig>,
    /// The admin API, if `[admin]` is present.
    pub admin: Option<AdminConfig>,
    /// API keys, by name.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Usage plans, by name.
    pub usage_plans: Vec<UsagePlanConfig>,
    /// Where rate limits and quotas are shared between gateway nodes.
    pub usage_store: Option<UsageStoreConfig>,
}

/// `[usage_store]`: Redis holding the rate limits and quotas, shared by
/// every gateway node that names it.
#[derive(Clone, PartialEq)]
pub struct UsageStoreConfig {
    /// `redis://HOST:PORT/DB`, `rediss://...` or `redis+unix:///PATH`.
    pub url: String,
    /// Admit requests when Redis cannot answer (else refuse them).
    pub fail_open: bool,
    /// How long a limit check may wait for Redis.
    pub timeout: Duration,
    /// Prefix of every key the gateway writes.
    pub key_prefix: String,
}

impl fmt::Debug for UsageStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        f.debug_struct("UsageStoreConfig")
            .field("fail_open", &self.fail_open)
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// Default wait for Redis on a limit check.
pub const DEFAULT_USAGE_STORE_TIMEOUT: Duration = Duration::from_millis(100);

/// `[api_keys.NAME]`.
#[derive(Clone)]
pub struct ApiKeyConfig {
    /// The key's name (never its value) in logs and usage files.
    pub name: String,
    /// What clients send in `x-api-key`.
    pub value: String,
    /// A disabled key is refused like an unknown one.
    pub enabled: bool,
}

impl std::fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyConfig")
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// `[usage_plans.NAME]`: keys, the API stages they may call, and limits.
#[derive(Debug, Clone)]
pub struct UsagePlanConfig {
    /// The plan's name.
    pub name: String,
    /// Indexes into [`Config::api_keys`].
    pub api_keys: Vec<usize>,
    /// (API name, stage name) pairs the plan covers.
    pub stages: Vec<(String, String)>,
    /// Rate and burst per key.
    pub throttle: Option<ThrottleConfig>,
    /// Requests per key per period.
    pub quota: Option<QuotaConfig>,
}

/// `throttle = { rate, burst }`: a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleConfig {
    /// Requests per second, steady state.
    pub rate: f64,
    /// Requests admitted at once.
    pub burst: u32,
}

/// `quota = { limit, period }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaConfig {
    /// Requests per period.
    pub limit: u64,
    /// The period, in UTC.
    pub period: QuotaPeriod,
}

/// A quota period, as API Gateway's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    /// From midnight UTC.
    Day,
    /// From Monday midnight UTC.
    Week,
    /// From the first of the month, midnight UTC.
    Month,
}

/// Where a route that requires an API key finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiKeySource {
    /// The `x-api-key` header.
    #[default]
    Header,
    /// The usage identifier the route's authorizer returns.
    Authorizer,
}

/// Default address of the admin API: loopback only.
pub const DEFAULT_ADMIN_ADDRESS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9901);

/// `[admin]`.
#[derive(Clone)]
pub struct AdminConfig {
    /// Address of the admin listener.
    pub address: SocketAddr,
    /// The bearer token every admin call but the health checks must carry;
    /// `None` (allowed on loopback only) leaves the API open.
    pub token: Option<Arc<str>>,
    /// Largest plugin upload accepted.
    pub max_upload_bytes: u64,
}

/// Default largest plugin upload: room for a Python component (about 20 MB).
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token itself: configurations end up in debug logs.
        f.debug_struct("AdminConfig")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_upload_bytes", &self.max_upload_bytes)
            .finish()
    }
}

/// Default wall-clock budget of one plugin invocation.
pub const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Default largest linear memory of a plugin instance.
pub const DEFAULT_PLUGIN_MEMORY: u64 = 128 * 1024 * 1024;
/// Default authorizer decision cache TTL, as API Gateway's.
pub const DEFAULT_AUTHORIZER_TTL: Duration = Duration::from_secs(300);

/// `[plugins.NAME]`.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// Name routes and authorizers refer to.
    pub name: String,
    /// The component file (resolved against the config file's folder).
    pub component: PathBuf,
    /// The world it implements.
    pub world: PluginWorld,
    /// Instance management.
    pub instances: InstancesConfig,
    /// Wall-clock budget per invocation.
    pub timeout: Duration,
    /// Largest linear memory in bytes.
    pub memory_limit: u64,
    /// Fuel per invocation, if metered.
    pub fuel: Option<u64>,
    /// `host:port` pairs outbound HTTP may reach.
    pub outbound_hosts: Vec<String>,
    /// Outbound requests per invocation.
    pub max_outbound_calls: u32,
    /// The plugin's own settings.
    pub config: Vec<(String, String)>,
}

/// The WIT world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginWorld {
    /// `turnpike:gateway/authorizer`.
    Authorizer,
    /// `turnpike:gateway/mapper`.
    Mapper,
    /// `wasi:http/proxy`: serves requests as a `function` integration.
    Function,
}

impl PluginWorld {
    /// The name used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginWorld::Authorizer => "authorizer",
            PluginWorld::Mapper => "mapper",
            PluginWorld::Function => "function",
        }
    }
}

/// `instances = "fresh" | "reuse"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstancesConfig {
    /// A new instance per invocation.
    Fresh,
    /// Reused instances.
    Reuse {
        /// Invocations per instance before it is replaced.
        reuse_limit: u32,
        /// Idle instances kept per worker thread.
        max_idle: usize,
    },
}

/// `[apis.authorizers.NAME]`.
#[derive(Debug, Clone)]
pub struct AuthorizerConfig {
    /// Name routes refer to.
    pub name: String,
    /// What decides.
    pub kind: AuthorizerKind,
    /// What the plugin receives.
    pub payload: AuthorizerPayload,
    /// Where the identity comes from; all must be present, else 401.
    pub identity_sources: Vec<IdentitySource>,
    /// How long decisions are cached; zero disables the cache.
    pub cache_ttl: Duration,
    /// What a plugin failure means.
    pub on_error: OnError,
}

/// What decides for an authorizer.
#[derive(Debug, Clone)]
pub enum AuthorizerKind {
    /// A plugin of the `authorizer` world; index into [`Config::plugins`].
    Wasm {
        /// The plugin.
        plugin: usize,
    },
    /// A JSON Web Token check, built in.
    Jwt(Arc<JwtConfig>),
    /// An AWS Signature Version 4 check, built in.
    SigV4(Arc<SigV4Config>),
}

/// `type = "sigv4"`: requests signed with AWS Signature Version 4.
#[derive(Clone)]
pub struct SigV4Config {
    /// The region signatures must be scoped to; `None`: any.
    pub region: Option<String>,
    /// The service signatures must be scoped to.
    pub service: String,
    /// Accepted access keys.
    pub credentials: Vec<SigV4Credential>,
}

impl fmt::Debug for SigV4Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets.
        f.debug_struct("SigV4Config")
            .field("region", &self.region)
            .field("service", &self.service)
            .field(
                "access_key_ids",
                &self
                    .credentials
                    .iter()
                    .map(|c| &c.access_key_id)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// An access key a `sigv4` authorizer accepts.
#[derive(Clone)]
pub struct SigV4Credential {
    /// The key id (`AKIA...`).
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    /// The principal id requests signed with it get.
    pub principal: String,
}

/// Default service of SigV4 signatures, as API Gateway's.
pub const DEFAULT_SIGV4_SERVICE: &str = "execute-api";

impl AuthorizerConfig {
    /// The plugin deciding, for `wasm` authorizers.
    pub fn plugin(&self) -> Option<usize> {
        match self.kind {
            AuthorizerKind::Wasm { plugin } => Some(plugin),
            AuthorizerKind::Jwt(_) | AuthorizerKind::SigV4(_) => None,
        }
    }
}

/// `type = "jwt"`: API Gateway's JWT authorizer.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// Accepted `aud` (or `client_id`) values; one must match.
    pub audiences: Vec<String>,
    /// Where the signing keys are.
    pub jwks: JwksSource,
    /// Accepted `alg` values; empty: any the key type allows.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    /// Clock skew allowed for `exp` and `nbf`.
    pub leeway: Duration,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_refresh: Duration,
}

/// A route's request validation, as API Gateway's request validators.
#[derive(Debug, Clone, Default)]
pub struct RequestValidation {
    /// Body schemas by media type (lower case, no parameters), `$default`
    /// for any other.
    pub models: Vec<(String, Arc<Model>)>,
    /// Query string parameters that must be present.
    pub required_query: Vec<String>,
    /// Headers that must be present.
    pub required_headers: Vec<HeaderName>,
}

/// `[apis.models.NAME]`: a JSON Schema.
#[derive(Debug)]
pub struct Model {
    /// The model's name.
    pub name: String,
    /// The schema, compiled.
    pub validator: jsonschema::Validator,
}

/// A JSON Web Key Set's location.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Read when the configuration loads.
    File(PathBuf),
    /// Fetched on first use, again after `jwks_refresh`, and when a token
    /// names a key id the set does not have.
    Url(http::Uri),
}

/// Default clock skew allowed for JWT `exp` and `nbf`.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(60);
/// Default time fetched JWKS are used before refetching.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(3600);

/// API Gateway's authorizer types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerPayload {
    /// One identity source, passed as the token.
    Token,
    /// Several identity sources and the whole request.
    Request,
}

/// What an authorizer failure (trap, timeout, error) does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Fail closed: 500.
    Deny,
    /// Fail open: let the request through without a principal.
    Allow,
}

/// An identity source, written as API Gateway writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `$request.header.NAME`.
    Header(HeaderName),
    /// `$request.querystring.NAME`.
    Query(String),
    /// `$stageVariables.NAME`.
    StageVariable(String),
    /// `$context.identity.sourceIp`.
    SourceIp,
}

impl IdentitySource {
    /// Parses `$request.header.Authorization` and friends.
    pub fn parse(text: &str) -> Result<IdentitySource, String> {
        if let Some(name) = text.strip_prefix("$request.header.") {
            return HeaderName::try_from(name)
                .map(IdentitySource::Header)
                .map_err(|_| format!("`{name}` is not a valid header name"));
        }
        if let Some(name) = text
            .strip_prefix("$request.querystring.")
            .filter(|n| !n.is_empty())
        {
            return Ok(IdentitySource::Query(name.to_owned()));
        }
        if let Some(name) = text
            .strip_prefix("$stageVariables.")
            .filter(|n| !n.is_empty())
        {
            return Ok(IdentitySource::StageVariable(name.to_owned()));
        }
        if text == "$context.identity.sourceIp" {
            return Ok(IdentitySource::SourceIp);
        }
        Err(format!(
            "`{text}` is not an identity source; use `$request.header.NAME`, `$request.querystring.NAME`, `$stageVariables.NAME` or `$context.identity.sourceIp`"
        ))
    }
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentitySource::Header(h) => write!(f, "$request.header.{h}"),
            IdentitySource::Query(q) => write!(f, "$request.querystring.{q}"),
            IdentitySource::StageVariable(v) => write!(f, "$stageVariables.{v}"),
            IdentitySource::SourceIp => f.write_str("$context.identity.sourceIp"),
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Time in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Where access-log lines go.
    pub access_log: AccessLogTarget,
    /// Worker threads; `None` means one per available core.
    pub workers: Option<NonZeroUsize>,
    /// Response (and upstream request) header carrying the request id.
    pub request_id_header: HeaderName,
    /// Where compiled plugins are cached; `None` turns the cache off.
    pub cache_dir: Option<PathBuf>,
    /// Durable state written through the admin API (uploaded plugins and
    /// which version of each is active); `None`: uploads are refused.
    pub data_dir: Option<PathBuf>,
}

/// Destination of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// One JSON line per request on standard output.
    Stdout,
    /// One JSON line per request on standard error.
    Stderr,
    /// Appended to a file.
    File(PathBuf),
    /// No access log.
    Off,
}

/// `[limits]`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: u64,
    /// Largest total of request header names and values (431 beyond).
    pub max_header_bytes: usize,
    /// Integration timeout used when an integration sets none.
    pub integration_timeout: Duration,
}

/// `[[listeners]]`.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Name that APIs refer to.
    pub name: String,
    /// Address to bind; port 0 picks a free port, reported at start-up.
    pub address: SocketAddr,
}

/// `[[apis]]`.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Unique name.
    pub name: String,
    /// Indexes into [`Config::listeners`] of the listeners serving this API.
    pub listeners: Vec<usize>,
    /// Host names (lower case, no port) this API answers; empty means any.
    pub hosts: Vec<String>,
    /// Stages; at least one.
    pub stages: Vec<StageConfig>,
    /// Routes, in file order.
    pub routes: Vec<RouteConfig>,
    /// Authorizers routes may name.
    pub authorizers: Vec<AuthorizerConfig>,
    /// Who may call any route of the API.
    pub policy: Option<SourcePolicy>,
    /// Cross-origin resource sharing, answered by the gateway.
    pub cors: Option<CorsConfig>,
    /// Where routes that require an API key find it.
    pub api_key_source: ApiKeySource,
}

/// `[apis.cors]`: CORS as API Gateway's HTTP APIs do it. Header values are
/// prepared once here so that the request path only copies them.
#[derive(Debug, Clone)]
pub struct CorsConfig {
    /// Origins that may call; empty means none.
    pub allow_origins: Vec<OriginPattern>,
    /// Methods a preflight may ask for (`Access-Control-Allow-Methods`).
    pub allow_methods: CorsList,
    /// Request headers allowed (`Access-Control-Allow-Headers`); `None`
    /// sends no such header.
    pub allow_headers: Option<CorsList>,
    /// `Access-Control-Expose-Headers`, if any.
    pub expose_headers: Option<HeaderValue>,
    /// Whether credentials (cookies, `Authorization`) may be sent.
    pub allow_credentials: bool,
    /// `Access-Control-Max-Age`, if set.
    pub max_age: Option<HeaderValue>,
}

/// `allow_methods` or `allow_headers` of `[apis.cors]`.
#[derive(Debug, Clone)]
pub enum CorsList {
    /// `["*"]`: whatever the preflight asks for is echoed.
    Any,
    /// These names (methods upper case, headers lower case), and the same
    /// joined as the header value to send.
    Only {
        /// The names, for matching a preflight's request.
        names: Vec<String>,
        /// `names` joined with `, `.
        value: HeaderValue,
    },
}

/// An entry of `allow_origins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// `*`: any origin.
    Any,
    /// One origin, `scheme://host[:port]`, lower case.
    Exact(String),
    /// `scheme://*.domain`: any subdomain of `domain` (not `domain` itself),
    /// stored as (`scheme://`, `.domain`).
    Subdomains(String, String),
}

impl CorsConfig {
    /// Whether `origin` may call; compared case-insensitively.
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origins.iter().any(|pattern| match pattern {
            OriginPattern::Any => true,
            OriginPattern::Exact(o) => o.eq_ignore_ascii_case(origin),
            OriginPattern::Subdomains(scheme, suffix) => {
                origin.len() > scheme.len() + suffix.len()
                    && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
                    && origin
                        .get(origin.len() - suffix.len()..)
                        .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
                    && !origin[scheme.len()..origin.len() - suffix.len()].contains(['/', ':'])
            }
        })
    }

    /// Whether any origin may call (`*`), so the answer can be `*` itself.
    pub fn any_origin(&self) -> bool {
        self.allow_origins.contains(&OriginPattern::Any)
    }
}

/// A resource policy by source address (`policy` of an API, stage or
/// route): a request from an address in `deny` is refused; if `allow` is not
/// empty, so is a request from any address outside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcePolicy {
    /// Networks that may call (empty: any).
    pub allow: Vec<ipnet::IpNet>,
    /// Networks that may not call, whatever `allow` says.
    pub deny: Vec<ipnet::IpNet>,
}

/// Why a [`SourcePolicy`] refused an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRefusal {
    /// The address is in `deny_source`.
    Denied,
    /// `allow_source` is set and the address is not in it.
    NotAllowed,
}

impl SourcePolicy {
    /// Whether `ip` may call; IPv4-mapped IPv6 addresses count as IPv4.
    pub fn check(&self, ip: std::net::IpAddr) -> Result<(), PolicyRefusal> {
        let ip = ip.to_canonical();
        if self.deny.iter().any(|net| net.contains(&ip)) {
            return Err(PolicyRefusal::Denied);
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|net| net.contains(&ip)) {
            return Err(PolicyRefusal::NotAllowed);
        }
        Ok(())
    }
}

/// A stage of an API.
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// `$default` (served at the root) or a name (served under `/{name}`).
    pub name: StageName,
    /// Stage variables.
    pub variables: BTreeMap<String, String>,
    /// Who may call the API through this stage.
    pub policy: Option<SourcePolicy>,
    /// Default throttle of every route on this stage, all callers together.
    pub throttle: Option<ThrottleConfig>,
}

/// A stage's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StageName {
    /// `$default`: no path prefix.
    Default,
    /// Served under `/{name}/...`.
    Named(String),
}

impl StageName {
    /// The name as written in config and logs.
    pub fn as_str(&self) -> &str {
        match self {
            StageName::Default => "$default",
            StageName::Named(n) => n,
        }
    }
}

/// A route: its key and what serves it.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// The route key.
    pub key: RouteKey,
    /// The integration behind the route.
    pub integration: IntegrationConfig,
    /// Index into [`ApiConfig::authorizers`] of the route's authorizer.
    pub authorizer: Option<usize>,
    /// Index into [`Config::plugins`] of the route's mapper.
    pub mapper: Option<usize>,
    /// Who may call this route.
    pub policy: Option<SourcePolicy>,
    /// Whether callers need an API key in a usage plan of the stage.
    pub api_key_required: bool,
    /// Scopes a JWT authorizer requires; one of them must be in the token.
    pub authorization_scopes: Vec<String>,
    /// What requests must carry to reach the integration.
    pub validation: Option<Arc<RequestValidation>>,
    /// Throttle of this route on every stage, all callers together
    /// (overrides the stage's).
    pub throttle: Option<ThrottleConfig>,
}

/// What serves a route.
#[derive(Debug, Clone)]
pub enum IntegrationConfig {
    /// Pass the request on to an HTTP upstream.
    HttpProxy(HttpProxyConfig),
    /// Answer from config.
    Mock(MockConfig),
    /// Serve from a `wasi:http/proxy` component; index into [`Config::plugins`].
    Function {
        /// The plugin.
        plugin: usize,
    },
}

/// `type = "http_proxy"`.
#[derive(Debug, Clone)]
pub struct HttpProxyConfig {
    /// Target URL; path parameters and stage variables are substituted, the
    /// request's query string is appended.
    pub url: Template,
    /// Time allowed for the upstream's response headers.
    pub timeout: Duration,
    /// Headers set (replacing any the client sent) on the upstream request.
    pub request_headers: Vec<(HeaderName, Template)>,
}

/// `type = "mock"`.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Response status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: Vec<(HeaderName, Template)>,
    /// Response body.
    pub body: Template,
}

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line, if the problem has a place.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// Dotted key path, e.g. `apis[0].routes[2].key`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Validates configuration text; `origin` names it in problems.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let locate = |span: Option<Range<usize>>, key: String, message: String| {
            let (line, column) = match span {
                Some(span) => {
                    let (l, c) = line_column(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            Problem {
                file: origin.to_owned(),
                line,
                column,
                key,
                message,
            }
        };
        let raw: RawConfig = match toml::de::Deserializer::parse(text) {
            Err(e) => {
                return Err(ConfigError::Invalid(vec![locate(
                    e.span(),
                    String::new(),
                    format!("invalid TOML: {}", e.message().trim_end()),
                )]));
            }
            Ok(de) => match serde_path_to_error::deserialize(de) {
                Ok(raw) => raw,
                Err(e) => {
                    let key = key_path(e.path());
                    let inner = e.into_inner();
                    return Err(ConfigError::Invalid(vec![locate(
                        inner.span(),
                        key,
                        inner.message().to_owned(),
                    )]));
                }
            },
        };
        let base_dir = Path::new(origin)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut v = Validator {
            base_dir,
            ..Validator::default()
        };
        let config = v.config(raw);
        if v.problems.is_empty() {
            Ok(config)
        } else {
            v.problems
                .sort_by_key(|(span, _, _)| span.as_ref().map(|s| s.start));
            Err(ConfigError::Invalid(
                v.problems
                    .into_iter()
                    .map(|(span, key, message)| locate(span, key, message))
                    .collect(),
            ))
        }
    }
}

/// Renders a serde path as config keys (`apis[0].routes[1].key`), leaving
/// out the wrapper fields that carry source spans.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__serde_spanned") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[derive(Default)]
struct Validator {
    problems: Vec<(Option<Range<usize>>, String, String)>,
    /// Folder of the config file: relative paths are resolved against it.
    base_dir: PathBuf,
}

impl Validator {
    fn problem(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push((Some(span), key.into(), message.into()));
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let server = self.server(raw.server);
        let limits = self.limits(raw.limits);
        let listeners = self.listeners(raw.listeners);
        let mut plugins = self.plugins(raw.plugins);
        self.pinned_versions(&raw.apis, &server, &mut plugins);
        let apis = self.apis(raw.apis, &listeners, &limits, &plugins);
        let admin = raw.admin.map(|admin| self.admin(admin.into_inner()));
        let api_keys = self.api_keys(&raw.api_keys);
        let usage_plans = self.usage_plans(&raw.usage_plans, &api_keys, &apis);
        let usage_store = raw.usage_store.map(|s| self.usage_store(s.into_inner()));
        Config {
            server,
            limits,
            listeners,
            apis,
            plugins,
            admin,
            api_keys,
            usage_plans,
            usage_store,
        }
    }

    fn usage_store(&mut self, raw: raw::RawUsageStore) -> UsageStoreConfig {
        let url = raw.redis_url.get_ref().clone();
        if !["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            self.problem(
                raw.redis_url.span(),
                "usage_store.redis_url",
                "expected redis://HOST:PORT/DB, rediss://... or redis+unix:///PATH",
            );
        }
        let fail_open = match raw.on_error.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("allow") => true,
            Some("deny") => false,
            Some(other) => {
                if let Some(s) = &raw.on_error {
                    self.problem(
                        s.span(),
                        "usage_store.on_error",
                        format!("`{other}` is not `allow` (fail open) or `deny` (fail closed)"),
                    );
                }
                true
            }
        };
        let timeout = self.duration(
            raw.timeout,
            "usage_store.timeout",
            DEFAULT_USAGE_STORE_TIMEOUT,
        );
        let key_prefix = raw
            .key_prefix
            .map_or_else(|| "turnpike".to_owned(), |p| p.into_inner());
        UsageStoreConfig {
            url,
            fail_open,
            timeout,
            key_prefix,
        }
    }

    fn api_keys(&mut self, raw: &BTreeMap<String, Spanned<raw::RawApiKey>>) -> Vec<ApiKeyConfig> {
        let mut out: Vec<ApiKeyConfig> = Vec::new();
        for (name, key) in raw {
            let path = format!("api_keys.{name}");
            if !is_identifier(name) {
                self.problem(
                    key.span(),
                    path.clone(),
                    format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
                );
            }
            let key = key.get_ref();
            let value = key.value.get_ref();
            if !is_api_key_value(value) {
                self.problem(
                    key.value.span(),
                    format!("{path}.value"),
                    "an API key is 20 to 128 printable ASCII characters without spaces",
                );
            } else if let Some(other) = out.iter().find(|k| k.value == *value) {
                self.problem(
                    key.value.span(),
                    format!("{path}.value"),
                    format!("API key `{}` has the same value", other.name),
                );
            }
            out.push(ApiKeyConfig {
                name: name.clone(),
                value: value.clone(),
                enabled: key.enabled.unwrap_or(true),
            });
        }
        out
    }

    /// The `jwt` settings of an authorizer; `None` (with problems recorded)
    /// if they are unusable.
    fn jwt(
        &mut self,
        raw: &raw::RawAuthorizer,
        span: &Range<usize>,
        key: &str,
    ) -> Option<JwtConfig> {
        if let Some(plugin) = &raw.plugin {
            self.problem(
                plugin.span(),
                format!("{key}.plugin"),
                "a `jwt` authorizer is built in and takes no `plugin`",
            );
        }
        let Some(issuer) = &raw.issuer else {
            self.problem(span.clone(), key, "a `jwt` authorizer needs an `issuer`");
            return None;
        };
        let audiences: Vec<String> = raw
            .audiences
            .iter()
            .flatten()
            .map(|a| a.get_ref().clone())
            .collect();
        if audiences.is_empty() {
            self.problem(
                span.clone(),
                format!("{key}.audiences"),
                "a `jwt` authorizer needs at least one audience",
            );
        }
        let jwks = match (&raw.jwks_uri, &raw.jwks_file) {
            (Some(uri), None) => match uri.get_ref().parse::<http::Uri>() {
                Ok(parsed)
                    if matches!(parsed.scheme_str(), Some("http" | "https"))
                        && parsed.host().is_some() =>
                {
                    JwksSource::Url(parsed)
                }
                _ => {
                    self.problem(
                        uri.span(),
                        format!("{key}.jwks_uri"),
                        format!("`{}` is not an http:// or https:// URL", uri.get_ref()),
                    );
                    return None;
                }
            },
            (None, Some(file)) => {
                let path = self.base_dir.join(file.get_ref());
                if !path.is_file() {
                    self.problem(
                        file.span(),
                        format!("{key}.jwks_file"),
                        format!("{} does not exist", path.display()),
                    );
                    return None;
                }
                JwksSource::File(path)
            }
            _ => {
                self.problem(
                    span.clone(),
                    key,
                    "a `jwt` authorizer needs exactly one of `jwks_uri` and `jwks_file`",
                );
                return None;
            }
        };
        let mut algorithms = Vec::new();
        for (i, alg) in raw.algorithms.iter().flatten().enumerate() {
            match alg.get_ref().parse::<jsonwebtoken::Algorithm>() {
                Ok(a) => algorithms.push(a),
                Err(_) => self.problem(
                    alg.span(),
                    format!("{key}.algorithms[{i}]"),
                    format!(
                        "`{}` is not a JWT algorithm: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384 or HS512",
                        alg.get_ref()
                    ),
                ),
            }
        }
        let leeway = self.duration(
            raw.leeway.clone(),
            &format!("{key}.leeway"),
            DEFAULT_JWT_LEEWAY,
        );
        let jwks_refresh = self.duration(
            raw.jwks_refresh.clone(),
            &format!("{key}.jwks_refresh"),
            DEFAULT_JWKS_REFRESH,
        );
        Some(JwtConfig {
            issuer: issuer.get_ref().clone(),
            audiences,
            jwks,
            algorithms,
            leeway,
            jwks_refresh,
        })
    }

    /// The `sigv4` settings of an authorizer.
    fn sigv4(
        &mut self,
        raw: &raw::RawAuthorizer,
        span: &Range<usize>,
        key: &str,
    ) -> Option<SigV4Config> {
        let mut credentials = Vec::new();
        for (i, credential) in raw.credentials.iter().flatten().enumerate() {
            let path = format!("{key}.credentials[{i}]");
            let c = credential.get_ref();
            let id = c.access_key_id.get_ref();
            if id.len() < 16 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                self.problem(
                    c.access_key_id.span(),
                    format!("{path}.access_key_id"),
                    "an access key id is at least 16 letters and digits, e.g. AKIAIOSFODNN7EXAMPLE",
                );
            }
            let secret = match (&c.secret_access_key, &c.secret_access_key_env) {
                (Some(secret), None) => Some(secret.get_ref().clone()),
                (None, Some(var)) => match std::env::var(var.get_ref()) {
                    Ok(secret) if !secret.is_empty() => Some(secret),
                    _ => {
                        self.problem(
                            var.span(),
                            format!("{path}.secret_access_key_env"),
                            format!("environment variable `{}` is not set", var.get_ref()),
                        );
                        None
                    }
                },
                _ => {
                    self.problem(
                        credential.span(),
                        path.clone(),
                        "set exactly one of `secret_access_key` and `secret_access_key_env`",
                    );
                    None
                }
            };
            if let Some(secret) = secret {
                credentials.push(SigV4Credential {
                    access_key_id: id.clone(),
                    secret_access_key: secret,
                    principal: c
                        .principal
                        .as_ref()
                        .map_or_else(|| id.clone(), |p| p.get_ref().clone()),
                });
            }
        }
        if raw.credentials.as_ref().is_none_or(Vec::is_empty) {
            self.problem(
                span.clone(),
                format!("{key}.credentials"),
                "a `sigv4` authorizer needs at least one entry in `credentials`",
            );
            return None;
        }
        Some(SigV4Config {
            region: raw.region.as_ref().map(|r| r.get_ref().clone()),
            service: raw
                .service
                .as_ref()
                .map_or_else(|| DEFAULT_SIGV4_SERVICE.to_owned(), |s| s.get_ref().clone()),
            credentials,
        })
    }

    fn throttle(&mut self, raw: &Spanned<raw::RawThrottle>, key: &str) -> ThrottleConfig {
        let throttle = raw.get_ref();
        let rate = throttle.rate.get_ref().as_f64();
        if !(rate.is_finite() && rate > 0.0) {
            self.problem(
                throttle.rate.span(),
                format!("{key}.rate"),
                "the rate is requests per second, more than 0",
            );
        }
        let burst = *throttle.burst.get_ref();
        if !(1..=i64::from(u32::MAX)).contains(&burst) {
            self.problem(
                throttle.burst.span(),
                format!("{key}.burst"),
                "the burst is the number of requests admitted at once, from 1 to 4294967295",
            );
        }
        ThrottleConfig {
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                1.0
            },
            burst: u32::try_from(burst).unwrap_or(1).max(1),
        }
    }

    fn usage_plans(
        &mut self,
        raw: &BTreeMap<String, Spanned<raw::RawUsagePlan>>,
        keys: &[ApiKeyConfig],
        apis: &[ApiConfig],
    ) -> Vec<UsagePlanConfig> {
        let mut out: Vec<UsagePlanConfig> = Vec::new();
        // (api, stage, key) -> plan: API Gateway lets a key be in one plan per stage.
        let mut bound: HashMap<(String, String, usize), String> = HashMap::new();
        for (name, plan) in raw {
            let path = format!("usage_plans.{name}");
            if !is_identifier(name) {
                self.problem(
                    plan.span(),
                    path.clone(),
                    format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
                );
            }
            let plan = plan.get_ref();
            let mut key_ids = Vec::new();
            for (i, key) in plan.api_keys.iter().enumerate() {
                match keys.iter().position(|k| k.name == *key.get_ref()) {
                    Some(id) => key_ids.push(id),
                    None => self.problem(
                        key.span(),
                        format!("{path}.api_keys[{i}]"),
                        format!("no [api_keys.{}] is defined", key.get_ref()),
                    ),
                }
            }
            let mut stages = Vec::new();
            for (i, entry) in plan.stages.iter().enumerate() {
                let (api, stage) = (
                    entry.get_ref().api.get_ref(),
                    entry.get_ref().stage.get_ref(),
                );
                let exists = apis
                    .iter()
                    .any(|a| a.name == *api && a.stages.iter().any(|s| s.name.as_str() == stage));
                if !exists {
                    self.problem(
                        entry.span(),
                        format!("{path}.stages[{i}]"),
                        format!("API `{api}` has no stage `{stage}`"),
                    );
                    continue;
                }
                for &k in &key_ids {
                    if let Some(other) = bound.insert((api.clone(), stage.clone(), k), name.clone())
                    {
                        self.problem(
                            entry.span(),
                            format!("{path}.stages[{i}]"),
                            format!(
                                "API key `{}` is already in usage plan `{other}` for stage `{stage}` of API `{api}`; a key can be in one plan per stage",
                                keys[k].name
                            ),
                        );
                    }
                }
                stages.push((api.clone(), stage.clone()));
            }
            let throttle = plan
                .throttle
                .as_ref()
                .map(|t| self.throttle(t, &format!("{path}.throttle")));
            let quota = plan.quota.as_ref().map(|q| {
                let raw = q.get_ref();
                let limit = *raw.limit.get_ref();
                if limit < 1 {
                    self.problem(
                        raw.limit.span(),
                        format!("{path}.quota.limit"),
                        "the quota is a number of requests, at least 1",
                    );
                }
                let period = match raw.period.get_ref().to_ascii_lowercase().as_str() {
                    "day" => QuotaPeriod::Day,
                    "week" => QuotaPeriod::Week,
                    "month" => QuotaPeriod::Month,
                    other => {
                        self.problem(
                            raw.period.span(),
                            format!("{path}.quota.period"),
                            format!(
                                "`{other}` is not a quota period: \"day\", \"week\" or \"month\""
                            ),
                        );
                        QuotaPeriod::Day
                    }
                };
                QuotaConfig {
                    limit: u64::try_from(limit).unwrap_or(1).max(1),
                    period,
                }
            });
            out.push(UsagePlanConfig {
                name: name.clone(),
                api_keys: key_ids,
                stages,
                throttle,
                quota,
            });
        }
        out
    }

    fn admin(&mut self, raw: raw::RawAdmin) -> AdminConfig {
        let address = match &raw.address {
            None => DEFAULT_ADMIN_ADDRESS,
            Some(a) => a.get_ref().parse::<SocketAddr>().unwrap_or_else(|_| {
                self.problem(
                    a.span(),
                    "admin.address",
                    format!(
                        "`{}` is not an IP address with a port, e.g. \"127.0.0.1:9901\"",
                        a.get_ref()
                    ),
                );
                DEFAULT_ADMIN_ADDRESS
            }),
        };
        let token_problems = self.problems.len();
        let token = match (raw.token_file, raw.token_env) {
            (Some(_), Some(env)) => {
                self.problem(
                    env.span(),
                    "admin.token_env",
                    "set either token_file or token_env, not both",
                );
                None
            }
            (Some(file), None) => {
                let path = self.base_dir.join(file.get_ref());
                match std::fs::read_to_string(&path) {
                    Ok(text) if !text.trim().is_empty() => Some(text.trim().into()),
                    Ok(_) => {
                        self.problem(
                            file.span(),
                            "admin.token_file",
                            format!("{} is empty", path.display()),
                        );
                        None
                    }
                    Err(e) => {
                        self.problem(
                            file.span(),
                            "admin.token_file",
                            format!("cannot read {}: {e}", path.display()),
                        );
                        None
                    }
                }
            }
            (None, Some(env)) => match std::env::var(env.get_ref()) {
                Ok(value) if !value.trim().is_empty() => Some(value.trim().into()),
                _ => {
                    self.problem(
                        env.span(),
                        "admin.token_env",
                        format!(
                            "the environment variable `{}` is not set or empty",
                            env.get_ref()
                        ),
                    );
                    None
                }
            },
            (None, None) => None,
        };
        if token.is_none() && !address.ip().is_loopback() && self.problems.len() == token_problems {
            let span = raw.address.as_ref().map(|a| a.span());
            self.problems.push((
                span,
                "admin.address".into(),
                format!(
                    "the admin API on {address}, which is not a loopback address, needs a token: set token_file or token_env"
                ),
            ));
        }
        let max_upload_bytes = match raw.max_upload_size {
            None => DEFAULT_MAX_UPLOAD_BYTES,
            Some(size) => units::parse_size(size.get_ref()).unwrap_or_else(|why| {
                self.problem(size.span(), "admin.max_upload_size", why);
                DEFAULT_MAX_UPLOAD_BYTES
            }),
        };
        AdminConfig {
            address,
            token,
            max_upload_bytes,
        }
    }

    fn duration(&mut self, value: Option<SpannedStr>, key: &str, default: Duration) -> Duration {
        let Some(value) = value else { return default };
        match units::parse_duration(value.get_ref()) {
            Ok(d) => d,
            Err(why) => {
                self.problem(value.span(), key, why);
                default
            }
        }
    }

    fn server(&mut self, raw: raw::RawServer) -> ServerSettings {
        let shutdown_grace = self.duration(
            raw.shutdown_grace,
            "server.shutdown_grace",
            DEFAULT_SHUTDOWN_GRACE,
        );
        let access_log = match raw.access_log.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("stdout") => AccessLogTarget::Stdout,
            Some("stderr") => AccessLogTarget::Stderr,
            Some("off") => AccessLogTarget::Off,
            Some("") => {
                if let Some(s) = &raw.access_log {
                    self.problem(
                        s.span(),
                        "server.access_log",
                        "empty; use \"stdout\", \"stderr\", \"off\" or a file path",
                    );
                }
                AccessLogTarget::Off
            }
            Some(path) => AccessLogTarget::File(PathBuf::from(path)),
        };
        let workers = match raw.workers {
            None => None,
            Some(w) if *w.get_ref() == 0 => None,
            Some(w) => match usize::try_from(*w.get_ref())
                .ok()
                .and_then(NonZeroUsize::new)
            {
                Some(n) if n.get() <= 1024 => Some(n),
                _ => {
                    self.problem(
                        w.span(),
                        "server.workers",
                        format!(
                            "{} is not a worker count between 0 (one per core) and 1024",
                            w.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let request_id_header = match raw.request_id_header {
            None => HeaderName::from_static("x-request-id"),
            Some(h) => match HeaderName::try_from(h.get_ref().as_str()) {
                Ok(name) => name,
                Err(_) => {
                    self.problem(
                        h.span(),
                        "server.request_id_header",
                        format!("`{}` is not a valid header name", h.get_ref()),
                    );
                    HeaderName::from_static("x-request-id")
                }
            },
        };
        let cache_dir = match raw.cache_dir {
            Some(dir) if dir.get_ref() == "off" => None,
            Some(dir) => Some(self.base_dir.join(dir.get_ref())),
            None => default_cache_dir(),
        };
        let data_dir = raw.data_dir.map(|dir| self.base_dir.join(dir.get_ref()));
        ServerSettings {
            shutdown_grace,
            access_log,
            workers,
            request_id_header,
            cache_dir,
            data_dir,
        }
    }

    fn limits(&mut self, raw: raw::RawLimits) -> Limits {
        let mut size = |value: Option<Spanned<units::SizeValue>>, key: &str, default: u64| {
            let Some(value) = value else { return default };
            match units::parse_size(value.get_ref()) {
                Ok(n) => n,
                Err(why) => {
                    self.problem(value.span(), key, why);
                    default
                }
            }
        };
        let max_body_bytes = size(
            raw.max_body_size,
            "limits.max_body_size",
            DEFAULT_MAX_BODY_BYTES,
        );
        let max_header_bytes = size(
            raw.max_header_size,
            "limits.max_header_size",
            DEFAULT_MAX_HEADER_BYTES,
        );
        let integration_timeout = self.duration(
            raw.integration_timeout,
            "limits.integration_timeout",
            DEFAULT_INTEGRATION_TIMEOUT,
        );
        Limits {
            max_body_bytes,
            max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            integration_timeout,
        }
    }

    fn listeners(&mut self, raw: Vec<Spanned<RawListener>>) -> Vec<ListenerConfig> {
        let mut out: Vec<ListenerConfig> = Vec::new();
        for (i, listener) in raw.into_iter().enumerate() {
            let listener = listener.into_inner();
            let key = format!("listeners[{i}]");
            let name = listener.name.get_ref().clone();
            if !is_identifier(&name) {
                self.problem(
                    listener.name.span(),
                    format!("{key}.name"),
                    format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
                );
            } else if out.iter().any(|l| l.name == name) {
                self.problem(
                    listener.name.span(),
                    format!("{key}.name"),
                    format!("listener `{name}` is defined twice"),
                );
            }
            let address = match listener.address.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    self.problem(
                        listener.address.span(),
                        format!("{key}.address"),
                        format!(
                            "`{}` is not an IP address with a port, e.g. \"127.0.0.1:8080\" or \"[::]:0\"",
                            listener.address.get_ref()
                        ),
                    );
                    SocketAddr::from(([127, 0, 0, 1], 0))
                }
            };
            if let Some(other) = out
                .iter()
                .find(|l| l.address == address && address.port() != 0)
            {
                self.problem(
                    listener.address.span(),
                    format!("{key}.address"),
                    format!("listener `{}` already binds {address}", other.name),
                );
            }
            out.push(ListenerConfig { name, address });
        }
        out
    }

    fn plugins(&mut self, raw: BTreeMap<String, Spanned<raw::RawPlugin>>) -> Vec<PluginConfig> {
        let mut out = Vec::new();
        for (name, plugin) in raw {
            let span = plugin.span();
            let plugin = plugin.into_inner();
            let key = format!("plugins.{name}");
            if !is_identifier(&name) {
                self.problem(
                    span.clone(),
                    key.clone(),
                    format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
                );
            }
            let component = self.base_dir.join(plugin.component.get_ref());
            if !component.is_file() {
                self.problem(
                    plugin.component.span(),
                    format!("{key}.component"),
                    format!("`{}` is not a readable file", component.display()),
                );
            }
            let world = match plugin.world.get_ref().as_str() {
                "authorizer" => PluginWorld::Authorizer,
                "mapper" => PluginWorld::Mapper,
                "function" => PluginWorld::Function,
                other => {
                    self.problem(
                        plugin.world.span(),
                        format!("{key}.world"),
                        format!("unknown world `{other}` (expected `authorizer`, `mapper` or `function`)"),
                    );
                    PluginWorld::Authorizer
                }
            };
            let count = |me: &mut Self,
                         value: &Option<Spanned<i64>>,
                         field: &str,
                         default: u64,
                         max: u64|
             -> u64 {
                match value {
                    None => default,
                    Some(v) => match u64::try_from(*v.get_ref()) {
                        Ok(n) if n <= max => n,
                        _ => {
                            me.problem(
                                v.span(),
                                format!("{key}.{field}"),
                                format!("{} is not between 0 and {max}", v.get_ref()),
                            );
                            default
                        }
                    },
                }
            };
            let reuse_limit = count(
                self,
                &plugin.reuse_limit,
                "reuse_limit",
                1000,
                u64::from(u32::MAX),
            )
            .max(1) as u32;
            let max_idle = count(
                self,
                &plugin.max_idle_instances,
                "max_idle_instances",
                16,
                256,
            ) as usize;
            let max_outbound_calls = count(
                self,
                &plugin.max_outbound_calls,
                "max_outbound_calls",
                4,
                1000,
            ) as u32;
            let fuel = plugin
                .fuel
                .as_ref()
                .map(|_| count(self, &plugin.fuel, "fuel", 0, u64::MAX))
                .filter(|f| *f > 0);
            let instances = match plugin.instances.as_ref().map(|s| s.get_ref().as_str()) {
                None | Some("fresh") => InstancesConfig::Fresh,
                Some("reuse") => InstancesConfig::Reuse {
                    reuse_limit,
                    max_idle,
                },
                Some(other) => {
                    if let Some(s) = &plugin.instances {
                        self.problem(
                            s.span(),
                            format!("{key}.instances"),
                            format!("`{other}` is not `fresh` or `reuse`"),
                        );
                    }
                    InstancesConfig::Fresh
                }
            };
            if world == PluginWorld::Function
                && let (InstancesConfig::Reuse { .. }, Some(s)) = (instances, &plugin.instances)
            {
                self.problem(
                    s.span(),
                    format!("{key}.instances"),
                    "`function` plugins serve each request on a fresh instance; `reuse` is for authorizers and mappers",
                );
            }
            let timeout = self.duration(
                plugin.timeout,
                &format!("{key}.timeout"),
                DEFAULT_PLUGIN_TIMEOUT,
            );
            let memory_limit = match &plugin.memory_limit {
                None => DEFAULT_PLUGIN_MEMORY,
                Some(v) => match units::parse_size(v.get_ref()) {
                    Ok(n) if n <= 4 * 1024 * 1024 * 1024 => n,
                    Ok(_) => {
                        self.problem(
                            v.span(),
                            format!("{key}.memory_limit"),
                            "a plugin's memory is at most 4GiB",
                        );
                        DEFAULT_PLUGIN_MEMORY
                    }
                    Err(why) => {
                        self.problem(v.span(), format!("{key}.memory_limit"), why);
                        DEFAULT_PLUGIN_MEMORY
                    }
                },
            };
            let mut outbound_hosts = Vec::new();
            for (i, host) in plugin.outbound_hosts.iter().enumerate() {
                if http::uri::Authority::try_from(host.get_ref().as_str()).is_err()
                    || host.get_ref().contains('/')
                {
                    self.problem(
                        host.span(),
                        format!("{key}.outbound_hosts[{i}]"),
                        format!("`{}` is not `host` or `host:port`", host.get_ref()),
                    );
                }
                outbound_hosts.push(host.get_ref().to_ascii_lowercase());
            }
            out.push(PluginConfig {
                name,
                component,
                world,
                instances,
                timeout,
                memory_limit,
                fuel,
                outbound_hosts,
                max_outbound_calls,
                config: plugin
                    .config
                    .into_iter()
                    .map(|(k, v)| (k, v.into_inner()))
                    .collect(),
            });
        }
        out
    }

    /// Resolves a reference to a plugin that must be of `world`, reporting
    /// an unknown name or a plugin of another world at `key`.
    /// Adds a plugin entry `NAME@SHA256` for every reference to a pinned
    /// version of plugin `NAME`: the same settings, the component stored by
    /// an upload in `server.data_dir`. Uploads and the active version do not
    /// move a pinned reference.
    fn pinned_versions(
        &mut self,
        apis: &[Spanned<RawApi>],
        server: &ServerSettings,
        plugins: &mut Vec<PluginConfig>,
    ) {
        let mut references: Vec<(&SpannedStr, String)> = Vec::new();
        for (i, api) in apis.iter().enumerate() {
            let api = api.get_ref();
            for (name, authorizer) in &api.authorizers {
                if let Some(plugin) = &authorizer.get_ref().plugin {
                    references.push((plugin, format!("apis[{i}].authorizers.{name}.plugin")));
                }
            }
            for (j, route) in api.routes.iter().enumerate() {
                let route = route.get_ref();
                if let Some(mapper) = &route.mapper {
                    references.push((mapper, format!("apis[{i}].routes[{j}].mapper")));
                }
                if let Some(plugin) = &route.integration.get_ref().plugin {
                    references.push((plugin, format!("apis[{i}].routes[{j}].integration.plugin")));
                }
            }
        }
        for (reference, key) in references {
            let Some((name, sha256)) = reference.get_ref().split_once('@') else {
                continue;
            };
            if plugins.iter().any(|p| p.name == *reference.get_ref()) {
                continue;
            }
            let Some(base) = plugins.iter().find(|p| p.name == name) else {
                // plugin_ref reports the unknown name.
                continue;
            };
            let digest = crate::store::is_sha256(sha256);
            let stored = server.data_dir.as_ref().map(|dir| {
                dir.join("plugins")
                    .join(name)
                    .join(format!("{}.wasm", sha256.to_ascii_lowercase()))
            });
            match stored {
                Some(path) if digest && path.is_file() => {
                    let mut pinned = base.clone();
                    pinned.name = reference.get_ref().clone();
                    pinned.component = path;
                    plugins.push(pinned);
                }
                _ => {
                    let why = if !digest {
                        "a pinned version is `NAME@SHA256` with the 64 hex digits `turnpike plugin list` shows".to_owned()
                    } else if server.data_dir.is_none() {
                        "pinned versions live in server.data_dir, which is not set".to_owned()
                    } else {
                        format!(
                            "version {sha256} of plugin `{name}` was never uploaded (it is not in server.data_dir)"
                        )
                    };
                    self.problem(reference.span(), key, why);
                }
            }
        }
    }

    fn plugin_ref(
        &mut self,
        name: &SpannedStr,
        key: String,
        plugins: &[PluginConfig],
        world: PluginWorld,
    ) -> Option<usize> {
        let Some(found) = plugins.iter().position(|p| p.name == *name.get_ref()) else {
            self.problem(
                name.span(),
                key,
                format!("no plugin is named `{}`", name.get_ref()),
            );
            return None;
        };
        if plugins[found].world != world {
            self.problem(
                name.span(),
                key,
                format!(
                    "plugin `{}` is not of the `{}` world",
                    name.get_ref(),
                    world.as_str()
                ),
            );
            return None;
        }
        Some(found)
    }

    fn authorizers(
        &mut self,
        api: &RawApi,
        key: &str,
        plugins: &[PluginConfig],
    ) -> Vec<AuthorizerConfig> {
        let mut out = Vec::new();
        for (name, authorizer) in &api.authorizers {
            let span = authorizer.span();
            let authorizer = authorizer.get_ref();
            let key = format!("{key}.authorizers.{name}");
            let kind = match authorizer.kind.get_ref().as_str() {
                "wasm" => {
                    let Some(plugin_name) = &authorizer.plugin else {
                        self.problem(span, key, "a `wasm` authorizer needs a `plugin`");
                        continue;
                    };
                    let Some(plugin) = self.plugin_ref(
                        plugin_name,
                        format!("{key}.plugin"),
                        plugins,
                        PluginWorld::Authorizer,
                    ) else {
                        continue;
                    };
                    AuthorizerKind::Wasm { plugin }
                }
                "jwt" => match self.jwt(authorizer, &span, &key) {
                    Some(jwt) => AuthorizerKind::Jwt(Arc::new(jwt)),
                    None => continue,
                },
                "sigv4" => match self.sigv4(authorizer, &span, &key) {
                    Some(sigv4) => AuthorizerKind::SigV4(Arc::new(sigv4)),
                    None => continue,
                },
                other => {
                    self.problem(
                        authorizer.kind.span(),
                        format!("{key}.type"),
                        format!(
                            "unknown authorizer type `{other}` (expected `wasm`, `jwt` or `sigv4`)"
                        ),
                    );
                    continue;
                }
            };
            let payload = match authorizer.payload.as_ref().map(|p| p.get_ref().as_str()) {
                None | Some("token") => AuthorizerPayload::Token,
                Some("request") => AuthorizerPayload::Request,
                Some(other) => {
                    if let Some(p) = &authorizer.payload {
                        self.problem(
                            p.span(),
                            format!("{key}.payload"),
                            format!("`{other}` is not `token` or `request`"),
                        );
                    }
                    AuthorizerPayload::Token
                }
            };
            let mut identity_sources = Vec::new();
            match &authorizer.identity_sources {
                None => identity_sources.push(IdentitySource::Header(http::header::AUTHORIZATION)),
                Some(sources) => {
                    for (i, source) in sources.iter().enumerate() {
                        match IdentitySource::parse(source.get_ref()) {
                            Ok(s) => identity_sources.push(s),
                            Err(why) => self.problem(
                                source.span(),
                                format!("{key}.identity_sources[{i}]"),
                                why,
                            ),
                        }
                    }
                    if sources.is_empty() {
                        self.problem(
                            span.clone(),
                            format!("{key}.identity_sources"),
                            "at least one identity source is needed",
                        );
                    }
                    if payload == AuthorizerPayload::Token && sources.len() > 1 {
                        self.problem(
                            span.clone(),
                            format!("{key}.identity_sources"),
                            "a `token` authorizer takes exactly one identity source; use `payload = \"request\"` for several",
                        );
                    }
                }
            }
            let cache_ttl = match &authorizer.cache_ttl {
                None => DEFAULT_AUTHORIZER_TTL,
                Some(t) if t.get_ref().trim_end_matches(['s', 'm', 'h']).trim() == "0" => {
                    Duration::ZERO
                }
                Some(t) => match units::parse_duration(t.get_ref()) {
                    Ok(d) => d,
                    Err(why) => {
                        self.problem(t.span(), format!("{key}.cache_ttl"), why);
                        DEFAULT_AUTHORIZER_TTL
                    }
                },
            };
            let on_error = match authorizer.on_error.as_ref().map(|p| p.get_ref().as_str()) {
                None | Some("deny") => OnError::Deny,
                Some("allow") => OnError::Allow,
                Some(other) => {
                    if let Some(p) = &authorizer.on_error {
                        self.problem(
                            p.span(),
                            format!("{key}.on_error"),
                            format!("`{other}` is not `deny` or `allow`"),
                        );
                    }
                    OnError::Deny
                }
            };
            out.push(AuthorizerConfig {
                name: name.clone(),
                kind,
                payload,
                identity_sources,
                cache_ttl,
                on_error,
            });
        }
        out
    }

    fn apis(
        &mut self,
        raw: Vec<Spanned<RawApi>>,
        listeners: &[ListenerConfig],
        limits: &Limits,
        plugins: &[PluginConfig],
    ) -> Vec<ApiConfig> {
        let mut out: Vec<ApiConfig> = Vec::new();
        // (listener, host or "" for any) -> api name, to find two APIs claiming one place.
        let mut claimed: HashMap<(usize, String), String> = HashMap::new();
        for (i, api) in raw.into_iter().enumerate() {
            let api_span = api.span();
            let api = api.into_inner();
            let key = format!("apis[{i}]");
            let name = api.name.get_ref().clone();
            if !is_identifier(&name) {
                self.problem(
                    api.name.span(),
                    format!("{key}.name"),
                    format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
                );
            } else if out.iter().any(|a| a.name == name) {
                self.problem(
                    api.name.span(),
                    format!("{key}.name"),
                    format!("API `{name}` is defined twice"),
                );
            }
            let listener_ids: Vec<usize> = match &api.listeners {
                None => (0..listeners.len()).collect(),
                Some(names) => names
                    .iter()
                    .enumerate()
                    .filter_map(|(j, n)| {
                        let found = listeners.iter().position(|l| l.name == *n.get_ref());
                        if found.is_none() {
                            self.problem(
                                n.span(),
                                format!("{key}.listeners[{j}]"),
                                format!("no listener is named `{}`", n.get_ref()),
                            );
                        }
                        found
                    })
                    .collect(),
            };
            if listeners.is_empty() {
                self.problem(
                    api_span.clone(),
                    key.clone(),
                    "there is no [[listeners]] entry to serve this API on",
                );
            }
            let mut hosts = Vec::new();
            for (j, h) in api.hosts.iter().enumerate() {
                let host = h.get_ref().to_ascii_lowercase();
                if host.is_empty()
                    || host.contains(['/', ':', ' '])
                    || http::uri::Authority::try_from(host.as_str()).is_err()
                {
                    self.problem(
                        h.span(),
                        format!("{key}.hosts[{j}]"),
                        format!(
                            "`{}` is not a host name (no scheme, port or path)",
                            h.get_ref()
                        ),
                    );
                }
                hosts.push(host);
            }
            let places: Vec<String> = if hosts.is_empty() {
                vec![String::new()]
            } else {
                hosts.clone()
            };
            for &l in &listener_ids {
                for host in &places {
                    if let Some(other) = claimed.insert((l, host.clone()), name.clone()) {
                        let which = if host.is_empty() {
                            "every host".to_owned()
                        } else {
                            format!("host `{host}`")
                        };
                        self.problem(
                            api.name.span(),
                            format!("{key}.hosts"),
                            format!(
                                "API `{other}` already serves {which} on listener `{}`; give the APIs distinct `hosts`",
                                listeners[l].name
                            ),
                        );
                    }
                }
            }
            let stages = self.stages(&api, &key);
            let authorizers = self.authorizers(&api, &key, plugins);
            let models = self.models(&api, &key);
            let routes = self.routes(&api, &key, &stages, limits, &authorizers, plugins, &models);
            let policy = api
                .policy
                .as_ref()
                .map(|p| self.policy(p, &format!("{key}.policy")));
            let cors = api
                .cors
                .as_ref()
                .map(|c| self.cors(c, &format!("{key}.cors")));
            let api_key_source = match api
                .api_key_source
                .as_ref()
                .map(|s| (s, s.get_ref().to_ascii_lowercase()))
            {
                None => ApiKeySource::Header,
                Some((_, s)) if s == "header" => ApiKeySource::Header,
                Some((_, s)) if s == "authorizer" => ApiKeySource::Authorizer,
                Some((raw, _)) => {
                    self.problem(
                        raw.span(),
                        format!("{key}.api_key_source"),
                        format!(
                            "`{}` is not a key source: \"header\" (x-api-key) or \"authorizer\"",
                            raw.get_ref()
                        ),
                    );
                    ApiKeySource::Header
                }
            };
            out.push(ApiConfig {
                name,
                listeners: listener_ids,
                hosts,
                stages,
                routes,
                authorizers,
                policy,
                cors,
                api_key_source,
            });
        }
        out
    }

    fn cors(&mut self, raw: &Spanned<raw::RawCors>, key: &str) -> CorsConfig {
        let span = raw.span();
        let raw = raw.get_ref();
        let mut allow_origins = Vec::new();
        for (i, origin) in raw.allow_origins.iter().enumerate() {
            let text = origin.get_ref().trim().to_ascii_lowercase();
            let pattern = if text == "*" {
                Some(OriginPattern::Any)
            } else {
                text.split_once("://").and_then(|(scheme, rest)| {
                    let well_formed = matches!(scheme, "http" | "https")
                        && !rest.is_empty()
                        && !rest.contains(['/', '?', '#', ' ']);
                    if !well_formed {
                        None
                    } else if let Some(domain) = rest.strip_prefix("*.") {
                        (!domain.is_empty() && !domain.contains('*')).then(|| {
                            OriginPattern::Subdomains(format!("{scheme}://"), format!(".{domain}"))
                        })
                    } else {
                        (!rest.contains('*')).then(|| OriginPattern::Exact(text.clone()))
                    }
                })
            };
            match pattern {
                Some(p) => allow_origins.push(p),
                None => self.problem(
                    origin.span(),
                    format!("{key}.allow_origins[{i}]"),
                    format!(
                        "`{}` is not an origin: use \"*\", \"https://app.example.com\" (scheme, host, optional port) or \"https://*.example.com\"",
                        origin.get_ref()
                    ),
                ),
            }
        }
        let mut token_list = |list: &[SpannedStr], which: &str, upper: bool| -> CorsList {
            if list.iter().any(|v| v.get_ref().trim() == "*") {
                return CorsList::Any;
            }
            let mut names = Vec::new();
            for (i, value) in list.iter().enumerate() {
                let name = value.get_ref().trim();
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    self.problem(
                        value.span(),
                        format!("{key}.{which}[{i}]"),
                        format!("`{name}` is not a method or header name"),
                    );
                    continue;
                }
                names.push(if upper {
                    name.to_ascii_uppercase()
                } else {
                    name.to_ascii_lowercase()
                });
            }
            // Every name was checked to be a header name, so they join
            // into a valid header value.
            let value = HeaderValue::from_str(&names.join(", "))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            CorsList::Only { names, value }
        };
        let allow_methods = if raw.allow_methods.is_empty() {
            // API Gateway's default when methods are left out: every method.
            CorsList::Any
        } else {
            token_list(&raw.allow_methods, "allow_methods", true)
        };
        let allow_headers = (!raw.allow_headers.is_empty())
            .then(|| token_list(&raw.allow_headers, "allow_headers", false));
        let expose_headers = (!raw.expose_headers.is_empty()).then(|| {
            match token_list(&raw.expose_headers, "expose_headers", false) {
                CorsList::Any => HeaderValue::from_static("*"),
                CorsList::Only { value, .. } => value,
            }
        });
        let allow_credentials = raw.allow_credentials.as_ref().is_some_and(|c| *c.get_ref());
        if allow_credentials && allow_origins.contains(&OriginPattern::Any) {
            let at = raw
                .allow_credentials
                .as_ref()
                .map(|c| c.span())
                .unwrap_or(span.clone());
            self.problem(
                at,
                format!("{key}.allow_credentials"),
                "browsers refuse credentials with `Access-Control-Allow-Origin: *`; list the origins instead of \"*\"",
            );
        }
        if raw.allow_origins.is_empty() {
            self.problem(
                span,
                format!("{key}.allow_origins"),
                "list the origins that may call, or \"*\"",
            );
        }
        let max_age = raw
            .max_age
            .as_ref()
            .and_then(|m| match units::parse_duration(m.get_ref()) {
                Ok(d) if d.as_secs() <= 86_400 => Some(HeaderValue::from(d.as_secs())),
                Ok(_) => {
                    self.problem(
                        m.span(),
                        format!("{key}.max_age"),
                        "at most 86400s (a day), as in API Gateway",
                    );
                    None
                }
                Err(why) => {
                    self.problem(m.span(), format!("{key}.max_age"), why);
                    None
                }
            });
        CorsConfig {
            allow_origins,
            allow_methods,
            allow_headers,
            expose_headers,
            allow_credentials,
            max_age,
        }
    }

    fn policy(&mut self, raw: &raw::RawPolicy, key: &str) -> SourcePolicy {
        let mut networks = |list: &[SpannedStr], which: &str| -> Vec<ipnet::IpNet> {
            list.iter()
                .enumerate()
                .filter_map(|(i, entry)| {
                    let text = entry.get_ref().trim();
                    let parsed = text.parse::<ipnet::IpNet>().or_else(|_| {
                        text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)
                    });
                    match parsed {
                        Ok(net) => Some(net.trunc()),
                        Err(_) => {
                            self.problem(
                                entry.span(),
                                format!("{key}.{which}[{i}]"),
                                format!(
                                    "`{text}` is not an IP address or CIDR block, e.g. \"10.0.0.0/8\", \"192.0.2.7\" or \"2001:db8::/32\""
                                ),
                            );
                            None
                        }
                    }
                })
                .collect()
        };
        SourcePolicy {
            allow: networks(&raw.allow_source, "allow_source"),
            deny: networks(&raw.deny_source, "deny_source"),
        }
    }

    fn stages(&mut self, api: &RawApi, key: &str) -> Vec<StageConfig> {
        if api.stages.is_empty() {
            return vec![StageConfig {
                name: StageName::Default,
                variables: BTreeMap::new(),
                policy: None,
                throttle: None,
            }];
        }
        let mut out = Vec::new();
        for (stage_name, stage) in &api.stages {
            let stage_key = format!("{key}.stages.{stage_name}");
            let name = if stage_name == "$default" {
                StageName::Default
            } else {
                if !is_identifier(stage_name) || stage_name.len() > 128 {
                    self.problem(
                        stage.span(),
                        stage_key.clone(),
                        format!(
                            "`{stage_name}` is not a stage name: use `$default` or up to 128 letters, digits, `_` and `-`"
                        ),
                    );
                }
                StageName::Named(stage_name.clone())
            };
            let mut variables = BTreeMap::new();
            for (var, value) in &stage.get_ref().variables {
                if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.problem(
                        value.span(),
                        format!("{stage_key}.variables.{var}"),
                        format!("`{var}` is not a stage variable name (letters, digits and `_`)"),
                    );
                }
                if value.get_ref().chars().any(|c| c.is_control()) {
                    self.problem(
                        value.span(),
                        format!("{stage_key}.variables.{var}"),
                        "stage variable values may not contain control characters",
                    );
                }
                variables.insert(var.clone(), value.get_ref().clone());
            }
            let policy = stage
                .get_ref()
                .policy
                .as_ref()
                .map(|p| self.policy(p, &format!("{stage_key}.policy")));
            let throttle = stage
                .get_ref()
                .throttle
                .as_ref()
                .map(|t| self.throttle(t, &format!("{stage_key}.throttle")));
            out.push(StageConfig {
                name,
                variables,
                policy,
                throttle,
            });
        }
        out
    }

    /// The API's models, each schema compiled.
    fn models(&mut self, api: &RawApi, key: &str) -> Vec<Arc<Model>> {
        let mut out = Vec::new();
        for (name, model) in &api.models {
            let path = format!("{key}.models.{name}");
            let raw = model.get_ref();
            let schema: serde_json::Value = match (&raw.schema, &raw.schema_file) {
                (Some(schema), None) => match serde_json::to_value(schema.get_ref()) {
                    Ok(v) => v,
                    Err(e) => {
                        self.problem(schema.span(), format!("{path}.schema"), e.to_string());
                        continue;
                    }
                },
                (None, Some(file)) => {
                    let file_path = self.base_dir.join(file.get_ref());
                    let parsed = std::fs::read(&file_path)
                        .map_err(|e| format!("cannot read {}: {e}", file_path.display()))
                        .and_then(|bytes| {
                            serde_json::from_slice(&bytes)
                                .map_err(|e| format!("{} is not JSON: {e}", file_path.display()))
                        });
                    match parsed {
                        Ok(v) => v,
                        Err(why) => {
                            self.problem(file.span(), format!("{path}.schema_file"), why);
                            continue;
                        }
                    }
                }
                _ => {
                    self.problem(
                        model.span(),
                        path,
                        "a model needs exactly one of `schema` (a table) and `schema_file` (a JSON file)",
                    );
                    continue;
                }
            };
            match jsonschema::validator_for(&schema) {
                Ok(validator) => out.push(Arc::new(Model {
                    name: name.clone(),
                    validator,
                })),
                Err(e) => self.problem(model.span(), path, format!("not a valid JSON Schema: {e}")),
            }
        }
        out
    }

    /// A route's validation settings, if it has any.
    fn validation(
        &mut self,
        route: &raw::RawRoute,
        key: &str,
        models: &[Arc<Model>],
    ) -> Option<Arc<RequestValidation>> {
        let mut validation = RequestValidation::default();
        if let Some(by_type) = &route.request_models {
            for (media_type, name) in by_type.get_ref() {
                match models.iter().find(|m| m.name == *name.get_ref()) {
                    Some(model) => validation
                        .models
                        .push((media_type.to_ascii_lowercase(), model.clone())),
                    None => self.problem(
                        name.span(),
                        format!("{key}.request_models.{media_type}"),
                        format!("no model `{}` in this API's [apis.models]", name.get_ref()),
                    ),
                }
            }
        }
        validation.required_query = route
            .required_query
            .iter()
            .map(|q| q.get_ref().clone())
            .collect();
        for (i, header) in route.required_headers.iter().enumerate() {
            match HeaderName::try_from(header.get_ref().as_str()) {
                Ok(name) => validation.required_headers.push(name),
                Err(_) => self.problem(
                    header.span(),
                    format!("{key}.required_headers[{i}]"),
                    format!("`{}` is not a header name", header.get_ref()),
                ),
            }
        }
        let empty = validation.models.is_empty()
            && validation.required_query.is_empty()
            && validation.required_headers.is_empty();
        (!empty).then(|| Arc::new(validation))
    }

    #[allow(clippy::too_many_arguments)]
    fn routes(
        &mut self,
        api: &RawApi,
        key: &str,
        stages: &[StageConfig],
        limits: &Limits,
        authorizers: &[AuthorizerConfig],
        plugins: &[PluginConfig],
        models: &[Arc<Model>],
    ) -> Vec<RouteConfig> {
        let mut parsed: Vec<(RouteConfig, Range<usize>)> = Vec::new();
        for (i, route) in api.routes.iter().enumerate() {
            let route_key_path = format!("{key}.routes[{i}]");
            let route = route.get_ref();
            let route_key = match RouteKey::parse(route.key.get_ref()) {
                Ok(k) => k,
                Err(why) => {
                    self.problem(route.key.span(), format!("{route_key_path}.key"), why);
                    continue;
                }
            };
            let Some(integration) = self.integration(
                &route.integration,
                &format!("{route_key_path}.integration"),
                &route_key,
                stages,
                limits,
                plugins,
            ) else {
                continue;
            };
            let authorizer = match &route.authorizer {
                None => None,
                Some(name) => {
                    let found = authorizers.iter().position(|a| a.name == *name.get_ref());
                    if found.is_none() {
                        self.problem(
                            name.span(),
                            format!("{route_key_path}.authorizer"),
                            format!(
                                "no authorizer named `{}` in this API's [apis.authorizers]",
                                name.get_ref()
                            ),
                        );
                    }
                    found
                }
            };
            let jwt =
                authorizer.is_some_and(|a| matches!(authorizers[a].kind, AuthorizerKind::Jwt(_)));
            if let Some(first) = route.authorization_scopes.first()
                && !jwt
            {
                self.problem(
                    first.span(),
                    format!("{route_key_path}.authorization_scopes"),
                    "authorization scopes need a `jwt` authorizer on the route",
                );
            }
            let mapper = route.mapper.as_ref().and_then(|name| {
                self.plugin_ref(
                    name,
                    format!("{route_key_path}.mapper"),
                    plugins,
                    PluginWorld::Mapper,
                )
            });
            let policy = route
                .policy
                .as_ref()
                .map(|p| self.policy(p, &format!("{route_key_path}.policy")));
            let throttle = route
                .throttle
                .as_ref()
                .map(|t| self.throttle(t, &format!("{route_key_path}.throttle")));
            parsed.push((
                RouteConfig {
                    key: route_key,
                    integration,
                    authorizer,
                    mapper,
                    policy,
                    api_key_required: route.api_key_required.unwrap_or(false),
                    authorization_scopes: route
                        .authorization_scopes
                        .iter()
                        .map(|s| s.get_ref().clone())
                        .collect(),
                    validation: self.validation(route, &route_key_path, models),
                    throttle,
                },
                route.key.span(),
            ));
        }
        if let Err(conflicts) = Router::build(parsed.iter().map(|(r, _)| &r.key)) {
            for c in conflicts {
                let (route, span) = &parsed[c.route];
                let (existing, _) = &parsed[c.existing];
                self.problem(
                    span.clone(),
                    format!("{key}.routes"),
                    format!(
                        "route `{}` conflicts with route `{}`: {}",
                        route.key, existing.key, c.reason
                    ),
                );
            }
        }
        parsed.into_iter().map(|(r, _)| r).collect()
    }

    fn integration(
        &mut self,
        raw: &Spanned<RawIntegration>,
        key: &str,
        route_key: &RouteKey,
        stages: &[StageConfig],
        limits: &Limits,
        plugins: &[PluginConfig],
    ) -> Option<IntegrationConfig> {
        let span = raw.span();
        let raw = raw.get_ref();
        let kind = raw.kind.get_ref().as_str();
        let reject_keys = |me: &mut Self, allowed: &[&str]| {
            let present = [
                ("url", raw.url.as_ref().map(|s| s.span())),
                ("timeout", raw.timeout.as_ref().map(|s| s.span())),
                (
                    "request_headers",
                    raw.request_headers.as_ref().map(|s| s.span()),
                ),
                ("status", raw.status.as_ref().map(|s| s.span())),
                ("headers", raw.headers.as_ref().map(|s| s.span())),
                ("body", raw.body.as_ref().map(|s| s.span())),
                ("plugin", raw.plugin.as_ref().map(|s| s.span())),
            ];
            for (name, at) in present {
                if let Some(at) = at
                    && !allowed.contains(&name)
                {
                    me.problem(
                        at,
                        format!("{key}.{name}"),
                        format!("`{name}` does not apply to integrations of type `{kind}`"),
                    );
                }
            }
        };
        let param_names = || match route_key {
            RouteKey::Route { path, .. } => path.param_names().collect::<Vec<_>>(),
            RouteKey::Default => Vec::new(),
        };
        match kind {
            "http_proxy" => {
                reject_keys(self, &["url", "timeout", "request_headers"]);
                let Some(url) = &raw.url else {
                    self.problem(
                        span,
                        key.to_owned(),
                        "an `http_proxy` integration needs a `url`",
                    );
                    return None;
                };
                let url_key = format!("{key}.url");
                let template = match Template::parse(url.get_ref(), BraceParams::Allowed) {
                    Ok(t) => t,
                    Err(why) => {
                        self.problem(url.span(), url_key, why);
                        return None;
                    }
                };
                let names = param_names();
                for stage in stages {
                    match template.resolve(&stage.variables, names.iter().copied()) {
                        Ok(resolved) => {
                            if let Err(why) = check_upstream_url(&resolved) {
                                self.problem(
                                    url.span(),
                                    url_key.clone(),
                                    stage_context(stages, stage, why),
                                );
                                break;
                            }
                        }
                        Err(why) => {
                            self.problem(
                                url.span(),
                                url_key.clone(),
                                stage_context(stages, stage, why),
                            );
                            break;
                        }
                    }
                }
                let timeout = self.duration(
                    raw.timeout.clone(),
                    &format!("{key}.timeout"),
                    limits.integration_timeout,
                );
                let request_headers = self.header_templates(
                    raw.request_headers.as_ref(),
                    &format!("{key}.request_headers"),
                    stages,
                    &names,
                    true,
                );
                Some(IntegrationConfig::HttpProxy(HttpProxyConfig {
                    url: template,
                    timeout,
                    request_headers,
                }))
            }
            "mock" => {
                reject_keys(self, &["status", "headers", "body"]);
                let status = match &raw.status {
                    None => StatusCode::OK,
                    Some(s) => match u16::try_from(*s.get_ref())
                        .ok()
                        .filter(|c| (200..=599).contains(c))
                        .and_then(|c| StatusCode::from_u16(c).ok())
                    {
                        Some(code) => code,
                        None => {
                            self.problem(
                                s.span(),
                                format!("{key}.status"),
                                format!(
                                    "{} is not an HTTP status between 200 and 599",
                                    s.get_ref()
                                ),
                            );
                            StatusCode::OK
                        }
                    },
                };
                let names = param_names();
                let headers = self.header_templates(
                    raw.headers.as_ref(),
                    &format!("{key}.headers"),
                    stages,
                    &names,
                    false,
                );
                let body = match &raw.body {
                    None => Template::literal(""),
                    Some(b) => match Template::parse(b.get_ref(), BraceParams::Literal) {
                        Ok(t) => {
                            for stage in stages {
                                if let Err(why) = t.resolve(&stage.variables, names.iter().copied())
                                {
                                    self.problem(
                                        b.span(),
                                        format!("{key}.body"),
                                        stage_context(stages, stage, why),
                                    );
                                    break;
                                }
                            }
                            t
                        }
                        Err(why) => {
                            self.problem(b.span(), format!("{key}.body"), why);
                            Template::literal("")
                        }
                    },
                };
                Some(IntegrationConfig::Mock(MockConfig {
                    status,
                    headers,
                    body,
                }))
            }
            "function" => {
                reject_keys(self, &["plugin", "timeout"]);
                let Some(name) = &raw.plugin else {
                    self.problem(
                        span,
                        key.to_owned(),
                        "a `function` integration needs a `plugin`",
                    );
                    return None;
                };
                self.plugin_ref(
                    name,
                    format!("{key}.plugin"),
                    plugins,
                    PluginWorld::Function,
                )
                .map(|plugin| IntegrationConfig::Function { plugin })
            }
            other => {
                self.problem(
                    raw.kind.span(),
                    format!("{key}.type"),
                    format!("unknown integration type `{other}` (expected `http_proxy`, `mock` or `function`)"),
                );
                None
            }
        }
    }

    fn header_templates(
        &mut self,
        raw: Option<&Spanned<BTreeMap<String, SpannedStr>>>,
        key: &str,
        stages: &[StageConfig],
        param_names: &[&str],
        upstream: bool,
    ) -> Vec<(HeaderName, Template)> {
        let Some(raw) = raw else { return Vec::new() };
        let mut out = Vec::new();
        for (name, value) in raw.get_ref() {
            let header_key = format!("{key}.{name}");
            let Ok(header) = HeaderName::try_from(name.as_str()) else {
                self.problem(
                    value.span(),
                    header_key,
                    format!("`{name}` is not a valid header name"),
                );
                continue;
            };
            if upstream && (is_hop_by_hop(&header) || header == http::header::CONTENT_LENGTH) {
                self.problem(
                    value.span(),
                    header_key,
                    format!("`{name}` is managed by the gateway and cannot be set"),
                );
                continue;
            }
            let template = match Template::parse(value.get_ref(), BraceParams::Literal) {
                Ok(t) => t,
                Err(why) => {
                    self.problem(value.span(), header_key, why);
                    continue;
                }
            };
            for stage in stages {
                match template.resolve(&stage.variables, param_names.iter().copied()) {
                    Ok(resolved) => {
                        let text: String = resolved
                            .iter()
                            .map(|r| match r {
                                template::Resolved::Text(t) => t.as_str(),
                                template::Resolved::Param(_) => "x",
                            })
                            .collect();
                        if HeaderValue::try_from(text).is_err() {
                            self.problem(
                                value.span(),
                                header_key.clone(),
                                stage_context(stages, stage, "is not a valid header value".into()),
                            );
                            break;
                        }
                    }
                    Err(why) => {
                        self.problem(
                            value.span(),
                            header_key.clone(),
                            stage_context(stages, stage, why),
                        );
                        break;
                    }
                }
            }
            out.push((header, template));
        }
        out
    }
}

fn stage_context(stages: &[StageConfig], stage: &StageConfig, why: String) -> String {
    if stages.len() == 1 && stage.name == StageName::Default {
        why
    } else {
        format!("in stage `{}`: {why}", stage.name.as_str())
    }
}

/// Checks that a resolved integration URL is an absolute http(s) URL, with
/// sample values standing in for path parameters.
fn check_upstream_url(resolved: &[template::Resolved]) -> Result<(), String> {
    let sample: String = resolved
        .iter()
        .map(|r| match r {
            template::Resolved::Text(t) => t.as_str(),
            template::Resolved::Param(_) => "p",
        })
        .collect();
    let uri: http::Uri = sample
        .parse()
        .map_err(|e| format!("`{sample}` is not a valid URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("`{sample}` must start with http:// or https://")),
    }
    match uri.authority() {
        Some(a) if !a.host().is_empty() && !a.as_str().contains('@') => {}
        _ => return Err(format!("`{sample}` needs a host (and no user info)")),
    }
    if let Some(Resolved::Param(_)) = resolved.first() {
        return Err("the URL must not start with a path parameter".into());
    }
    if !uri.path().starts_with('/') && !uri.path().is_empty() {
        return Err(format!("`{sample}` has no valid path"));
    }
    if sample.contains('#') {
        return Err(format!("`{sample}` must not contain a fragment"));
    }
    Ok(())
}

use template::Resolved;

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded by a proxy.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    use http::header::*;
    *name == CONNECTION
        || *name == TE
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
        || *name == TRAILER
        || *name == PROXY_AUTHORIZATION
        || *name == PROXY_AUTHENTICATE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// `$XDG_CACHE_HOME/turnpike/compiled`, else `~/.cache/turnpike/compiled`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("turnpike").join("compiled"))
}

/// Whether `value` may be an API key: 20 to 128 printable ASCII
/// characters without spaces, as API Gateway's.
pub(crate) fn is_api_key_value(value: &str) -> bool {
    (20..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `name` is a name the configuration accepts for APIs, keys,
/// plans and the like: letters, digits, `_` and `-`.
pub(crate) fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
