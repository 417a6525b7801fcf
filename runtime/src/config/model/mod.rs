//! The typed configuration: what validation produces and everything else
//! reads. Every value here has been checked; durations and sizes are
//! parsed, names resolved to indexes, header names and values prepared.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

use super::template::Template;
use crate::router::RouteKey;

mod access;
mod cache;
mod log_format;
mod responses;
mod tracing;
mod websocket;

pub use access::*;
pub use cache::*;
pub use log_format::*;
pub use responses::*;
pub use tracing::*;
pub use websocket::*;

/// Amazon API Gateway's payload limit: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Amazon API Gateway's limit on the total size of request headers.
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 10 * 1024;
/// Amazon API Gateway's default integration timeout.
pub const DEFAULT_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// Default `limits.header_read_timeout`.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `limits.body_read_timeout` (between two reads, as nginx's
/// `client_body_timeout`).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `limits.idle_timeout` (nginx's `keepalive_timeout` is 75 s).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
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
    /// Custom domain names with their certificates and base path mappings.
    pub domains: Vec<DomainConfig>,
    /// What is not wrong but worth saying (a certificate past its date).
    pub warnings: Vec<super::Problem>,
    /// Named sets of targets `http_proxy` URLs can use as their host.
    pub upstreams: Vec<Arc<UpstreamConfig>>,
    /// Where OpenTelemetry spans go, if `[tracing]` is present (without it
    /// the W3C trace context is still passed on, nothing is exported).
    pub tracing: Option<TracingConfig>,
    /// The fleet this node belongs to, if `[cluster]` is present: its
    /// control-plane state is then shared through Redis.
    pub cluster: Option<ClusterConfig>,
    /// The developer portal, if `[portal]` is present.
    pub portal: Option<PortalConfig>,
}

/// `[portal]`: where API consumers find the published APIs, read their
/// documentation and manage their own keys.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalConfig {
    /// Address of the portal's own listener.
    pub address: SocketAddr,
    /// The portal's name, shown on every page.
    pub title: String,
    /// Who may create an account.
    pub signup: Signup,
    /// How long a session lasts after sign-in.
    pub session_ttl: Duration,
    /// The listener "try it" requests are sent to (index into
    /// `listeners`).
    pub listener: usize,
}

/// Who may create a portal account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signup {
    /// Anyone; the account is usable at once.
    Open,
    /// Anyone; an operator approves the account before it is usable.
    Approval,
    /// Only with an invitation an operator made.
    Invite,
}

/// Default life of a portal session.
pub const DEFAULT_PORTAL_SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// `[cluster]`: Redis shares the control plane's records between nodes.
#[derive(Clone, PartialEq)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT/DB`, `rediss://...` or `redis+unix:///PATH`; may
    /// hold a user and password.
    pub url: String,
    /// The fleet's name: the prefix of every Redis key it uses.
    pub name: String,
    /// This node's id, unique in the fleet (default: the host name).
    pub node_id: String,
    /// How often the node reports itself alive; it counts as gone after
    /// three missed reports.
    pub heartbeat: Duration,
    /// How long one Redis call may take.
    pub timeout: Duration,
    /// How many changes the shared log keeps; a node further behind reads
    /// the whole state instead.
    pub log_length: u64,
    /// For `rediss://`: the CA that signed Redis's certificate (PEM; else
    /// the system's roots) and this node's client certificate and key.
    pub tls: RedisTls,
}

/// TLS settings for a `rediss://` connection, read at validation.
#[derive(Clone, Default, PartialEq)]
pub struct RedisTls {
    /// PEM certificates to trust instead of the system's roots.
    pub root_cert: Option<Vec<u8>>,
    /// PEM client certificate chain and private key, for Redis's
    /// `tls-auth-clients`.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl RedisTls {
    /// A Redis client for `url` with these certificates (none: the
    /// system's roots for `rediss://`, plain for the rest).
    pub fn client_for(&self, url: &str) -> redis::RedisResult<redis::Client> {
        if self.root_cert.is_none() && self.client.is_none() {
            return redis::Client::open(url);
        }
        redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: self
                    .client
                    .as_ref()
                    .map(|(cert, key)| redis::ClientTlsConfig {
                        client_cert: cert.clone(),
                        client_key: key.clone(),
                    }),
                root_cert: self.root_cert.clone(),
            },
        )
    }
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        f.debug_struct("ClusterConfig")
            .field("name", &self.name)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// Default interval of a cluster node's heartbeat.
pub const DEFAULT_CLUSTER_HEARTBEAT: Duration = Duration::from_secs(1);
/// Default wait for Redis on a cluster call.
pub const DEFAULT_CLUSTER_TIMEOUT: Duration = Duration::from_secs(2);

/// `[upstreams.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// The name an `http_proxy` URL uses as its host.
    pub name: String,
    /// `host:port` of each target.
    pub targets: Vec<String>,
    /// How a request's target is chosen.
    pub balance: Balance,
    /// HTTP/2 to the targets (ALPN over TLS, prior knowledge without).
    pub http2: bool,
    /// TLS to the targets.
    pub tls: Option<UpstreamTls>,
    /// Connections open to all targets together, from every worker.
    pub max_connections: usize,
    /// Requests in flight to all targets together.
    pub max_pending: usize,
    /// Time allowed to connect (and finish a TLS handshake).
    pub connect_timeout: Duration,
    /// What is tried again, and how often.
    pub retries: RetryPolicy,
    /// Passive health: targets failing in a row are left out for a while.
    pub outlier: Option<OutlierPolicy>,
    /// Active health: a request to each target now and then.
    pub health_check: Option<HealthCheck>,
}

/// How an upstream's target is chosen for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// In turn.
    RoundRobin,
    /// The one of two random targets with fewer requests in flight.
    LeastRequest,
}

/// TLS to an upstream's targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// A PEM bundle trusted besides the system's roots.
    pub ca: Option<PathBuf>,
    /// The name sent in SNI and verified (default: the target's host).
    pub server_name: Option<String>,
    /// Whether the certificate is verified (turning this off is loud).
    pub verify: bool,
    /// A client certificate for the targets that ask for one.
    pub client_cert: Option<crate::tls::CertificateFiles>,
}

/// Retries of an upstream's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub attempts: u32,
    /// Statuses that make an idempotent request without a body go to
    /// another target.
    pub statuses: Vec<u16>,
}

/// Passive outlier ejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierPolicy {
    /// Connect failures or 5xx answers in a row that eject a target.
    pub consecutive_failures: u32,
    /// How long an ejected target is left out.
    pub ejection_time: Duration,
    /// The most targets (percent) ejected at once.
    pub max_ejected_percent: u8,
}

/// Active health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Path requested with GET; a 2xx answer is healthy.
    pub path: String,
    /// Time between checks.
    pub interval: Duration,
    /// Time allowed for an answer.
    pub timeout: Duration,
    /// Successes in a row that make an unhealthy target healthy.
    pub healthy_threshold: u32,
    /// Failures in a row that make a healthy target unhealthy.
    pub unhealthy_threshold: u32,
}

/// `[[domains]]`: a custom domain name, as API Gateway's: its certificate,
/// optional mutual TLS, and base paths mapped to API stages.
#[derive(Debug, Clone)]
pub struct DomainConfig {
    /// The name (lower case; `*.example.com` for a wildcard), certificate
    /// and mutual TLS.
    pub tls: crate::tls::DomainTlsSettings,
    /// Indexes into [`Config::listeners`] of the listeners serving it.
    pub listeners: Vec<usize>,
    /// Base paths, longest first.
    pub mappings: Vec<BasePathMapping>,
}

/// A base path of a custom domain mapped to an API stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasePathMapping {
    /// Path segments joined with `/`, no leading or trailing slash; empty
    /// maps the root.
    pub base_path: String,
    /// Index into [`Config::apis`].
    pub api: usize,
    /// The stage's name as written (`$default` or a name).
    pub stage: String,
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
    /// The component serving: the file the configuration names (resolved
    /// against its folder), or an uploaded version in `server.data_dir`.
    pub component: PathBuf,
    /// The component the configuration file names, whatever serves now.
    pub declared: PathBuf,
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
    /// `turnpike:gateway/lambda`: a Lambda-style handler, as a `function`
    /// integration with a `payload_format` or a `format = "lambda"`
    /// authorizer.
    Lambda,
}

impl PluginWorld {
    /// The name used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginWorld::Authorizer => "authorizer",
            PluginWorld::Mapper => "mapper",
            PluginWorld::Function => "function",
            PluginWorld::Lambda => "lambda",
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

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Time in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Where access-log lines go.
    pub access_log: AccessLogTarget,
    /// What access-log lines look like.
    pub access_log_format: AccessLogFormat,
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
    /// Time a client may take to send a request's headers (from the first
    /// byte); the connection is closed after it.
    pub header_read_timeout: Duration,
    /// Time a request body may go without a byte arriving; 408 after it.
    pub body_read_timeout: Duration,
    /// Time a connection may sit with no request in flight before it is
    /// closed (HTTP/2: GOAWAY).
    pub idle_timeout: Duration,
}

/// `[[listeners]]`.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Name that APIs refer to.
    pub name: String,
    /// Address to bind; port 0 picks a free port, reported at start-up.
    pub address: SocketAddr,
    /// TLS, for an HTTPS listener.
    pub tls: Option<ListenerTls>,
    /// For a listener that only redirects to HTTPS: the index of the TLS
    /// listener it sends clients to.
    pub redirect_https: Option<usize>,
    /// Connections open at once, all workers together; past it new ones
    /// are refused (a plain listener answers them 503 first).
    pub max_connections: Option<usize>,
}

/// `[listeners.tls]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerTls {
    /// Certificates, versions, ALPN, resumption.
    pub settings: crate::tls::ListenerTlsSettings,
    /// HTTP/3 on the same port over UDP.
    pub http3: bool,
}

/// Default size of a TLS listener's session cache, in sessions.
pub const DEFAULT_TLS_SESSION_CACHE: usize = 20_000;

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
    /// The names API Gateway would give the API (`[apis.aws]`).
    pub aws: AwsNames,
    /// Media types whose bodies Lambda-style functions receive base64
    /// encoded (`binary_media_types`, lower case; `*` wildcards allowed).
    pub binary_media_types: Vec<String>,
    /// How the gateway's own error answers look (`[apis.gateway_responses.TYPE]`).
    pub gateway_responses: GatewayResponses,
    /// `protocol = "websocket"`: the API serves WebSocket connections, its
    /// routes are `$connect`, `$disconnect`, `$default` and message route
    /// keys.
    pub websocket: Option<Arc<WebSocketSettings>>,
}

/// `[apis.aws]`: region, account and API id as API Gateway would name them,
/// for the method ARNs Lambda-style authorizers' policies are matched
/// against and the ids in Lambda events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsNames {
    /// Region, default `us-east-1`.
    pub region: String,
    /// Twelve-digit account id, default `123456789012`.
    pub account_id: String,
    /// API id, default the API's name.
    pub api_id: String,
}

/// Which of API Gateway's Lambda payload formats a Lambda-style plugin gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `1.0`: REST APIs (and HTTP APIs that ask for it).
    V1,
    /// `2.0`: HTTP APIs.
    V2,
}

impl PayloadFormat {
    /// Parses `"1.0"` or `"2.0"`.
    pub fn parse(text: &str) -> Option<PayloadFormat> {
        match text {
            "1.0" => Some(PayloadFormat::V1),
            "2.0" => Some(PayloadFormat::V2),
            _ => None,
        }
    }
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
    /// The stage's response cache, if enabled.
    pub cache: Option<StageCacheConfig>,
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
    /// VTL mapping templates around the integration.
    pub templates: Option<Arc<MappingTemplates>>,
    /// A WebSocket route whose integration's answer is sent back to the
    /// client as a message (API Gateway's two-way route).
    pub return_response: bool,
    /// How the stage cache treats the route (`None`: the defaults).
    pub cache: Option<RouteCacheConfig>,
}

/// What serves a route.
#[derive(Debug, Clone)]
pub enum IntegrationConfig {
    /// Pass the request on to an HTTP upstream.
    HttpProxy(HttpProxyConfig),
    /// Answer from config.
    Mock(MockConfig),
    /// Serve from a component; index into [`Config::plugins`].
    Function {
        /// The plugin.
        plugin: usize,
        /// `None`: a `wasi:http/proxy` component. Some: a `lambda` world
        /// handler called with API Gateway's proxy event in this format.
        payload_format: Option<PayloadFormat>,
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
/// Whether `value` may be an API key: 20 to 128 printable ASCII
/// characters without spaces, as API Gateway's.
pub fn is_api_key_value(value: &str) -> bool {
    (20..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `name` is a name the configuration accepts for APIs, keys,
/// plans and the like: letters, digits, `_` and `-`.
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
