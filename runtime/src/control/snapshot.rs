//! The immutable, compiled form of a configuration that the request path
//! reads: routers built, plugins loaded, stage variables filled in, every
//! route holding what it needs in one [`CompiledRoute`]. Requests read it
//! through an atomic pointer and keep the one they started with; a reload,
//! upload or deploy swaps the pointer. [`super::compile`] builds it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::HeaderName;

use crate::auth::CompiledAuthorizer;
use crate::config::{
    ApiKeySource, CorsConfig, GatewayResponses, Limits, MappingTemplates, RequestValidation,
    SourcePolicy,
};
use crate::integrations::Integration;
use crate::plugin::MapperPlugin;
use crate::router::Router;
use crate::usage::{Bucket, Quota};

/// Everything a request needs to be served, compiled once.
#[derive(Debug)]
pub struct Snapshot {
    /// Request limits.
    pub limits: Limits,
    /// Header carrying the request id.
    pub request_id_header: HeaderName,
    pub(super) hosts: Vec<HostTable>,
    /// Per listener: the custom domains it serves.
    pub(super) domains: Vec<DomainTable>,
    /// Per listener: its TLS server side, if it has `tls`.
    pub tls: Vec<Option<Arc<crate::tls::ServerTls>>>,
    /// Per listener: the TLS listener a plain one redirects every request
    /// to.
    pub redirects: Vec<Option<usize>>,
    /// Per listener: its `max_connections`.
    pub max_connections: Vec<Option<usize>>,
    /// APIs with their stages, in config order.
    pub apis: Vec<ApiEntry>,
    /// Enabled API keys: value → index into the configuration's keys.
    pub api_keys: HashMap<Box<[u8]>, usize>,
    /// Every named upstream the routes send to: the file's `[upstreams]`,
    /// then those only a deployment defines.
    pub upstreams: Vec<Arc<crate::upstream::Cluster>>,
}

/// Which API a listener serves for a `Host`.
#[derive(Debug, Default)]
pub(super) struct HostTable {
    pub(super) exact: HashMap<String, usize>,
    pub(super) any: Option<usize>,
}

/// The custom domains a listener serves, by name.
#[derive(Debug, Default)]
pub(super) struct DomainTable {
    pub(super) exact: HashMap<String, Arc<DomainEntry>>,
    /// `*.example.com`, stored as `example.com`.
    pub(super) wildcard: HashMap<String, Arc<DomainEntry>>,
}

/// A custom domain as served: its base path mappings.
#[derive(Debug)]
pub struct DomainEntry {
    /// Its index among the configuration's domains (also the TLS domain
    /// index a handshake selected).
    pub index: usize,
    /// Its name, as configured.
    pub name: String,
    /// Whether a client certificate is required: such a domain is served
    /// only on connections whose handshake was for it.
    pub mtls_required: bool,
    /// Base path mappings, longest first.
    pub mappings: Vec<Mapping>,
}

/// A base path mapped to an API stage.
#[derive(Debug)]
pub struct Mapping {
    /// Segments of the base path; empty for the root.
    pub segments: Vec<String>,
    /// Index into [`Snapshot::apis`].
    pub api: usize,
    /// Index into that API's stages.
    pub stage: usize,
}

impl DomainEntry {
    /// The mapping serving `path`, and the path within it (the base path
    /// stripped).
    pub fn map<'p>(&self, path: &'p str) -> Option<(&Mapping, &'p str)> {
        self.mappings.iter().find_map(|m| {
            let mut rest = path;
            for segment in &m.segments {
                rest = rest.strip_prefix('/')?.strip_prefix(segment.as_str())?;
                if !(rest.is_empty() || rest.starts_with('/')) {
                    return None;
                }
            }
            Some((m, if rest.is_empty() { "/" } else { rest }))
        })
    }
}

impl Snapshot {
    /// Whether `listener` tells APIs apart by `Host` (so the host must be
    /// looked at).
    pub fn listener_uses_hosts(&self, listener: usize) -> bool {
        self.hosts
            .get(listener)
            .is_some_and(|t| !t.exact.is_empty())
            || self.serves_domains(listener)
    }

    /// Whether `listener` serves custom domains.
    pub fn serves_domains(&self, listener: usize) -> bool {
        self.domains
            .get(listener)
            .is_some_and(|t| !t.exact.is_empty() || !t.wildcard.is_empty())
    }

    /// The custom domain `host` (lower case, no port) names on `listener`.
    pub fn domain_for(&self, listener: usize, host: &str) -> Option<&Arc<DomainEntry>> {
        let table = self.domains.get(listener)?;
        table.exact.get(host).or_else(|| {
            let (_, suffix) = host.split_once('.')?;
            table.wildcard.get(suffix)
        })
    }

    /// The API serving `host` (lower case, no port) on `listener`.
    pub fn api_for(&self, listener: usize, host: Option<&str>) -> Option<&ApiEntry> {
        let table = self.hosts.get(listener)?;
        host.and_then(|h| table.exact.get(h).copied())
            .or(table.any)
            .and_then(|api| self.apis.get(api))
    }
}

/// An API as served: its stages, each serving a compiled definition.
#[derive(Debug)]
pub struct ApiEntry {
    /// The API's name.
    pub name: String,
    pub(super) default_stage: Option<usize>,
    pub(super) named_stages: HashMap<String, usize>,
    /// The stages, in config order.
    pub stages: Vec<StageEntry>,
    /// CORS as the configuration file defines it, for answers given before
    /// a stage is known (a path no stage serves).
    pub cors: Option<CorsConfig>,
    /// The resource policy as the configuration file defines it, likewise.
    pub policy: Option<SourcePolicy>,
    /// Gateway responses as the configuration file defines them, likewise.
    pub gateway_responses: Arc<GatewayResponses>,
}

impl ApiEntry {
    /// Splits a stage prefix off `path`: returns the stage and the path
    /// within it.
    pub fn stage_for<'p>(&self, path: &'p str) -> Option<(&StageEntry, &'p str)> {
        if !self.named_stages.is_empty() {
            let rest = path.strip_prefix('/').unwrap_or(path);
            let (first, within) = match rest.find('/') {
                Some(at) => (&rest[..at], &rest[at..]),
                None => (rest, "/"),
            };
            if let Some(&stage) = self.named_stages.get(first) {
                return Some((&self.stages[stage], within));
            }
        }
        self.default_stage.map(|s| (&self.stages[s], path))
    }
}

/// A stage: what it serves, and its canary.
#[derive(Debug)]
pub struct StageEntry {
    /// The stage's name.
    pub name: String,
    /// What the stage serves.
    pub main: Version,
    /// A second version serving a share of the requests.
    pub canary: Option<Canary>,
}

/// A canary on a stage.
#[derive(Debug)]
pub struct Canary {
    /// Share of the stage's requests, 0 to 100.
    pub percent: f64,
    /// What the canary serves.
    pub version: Version,
}

impl StageEntry {
    /// The version serving one request: the canary for its share of
    /// requests. Returns whether it is the canary.
    pub fn pick(&self) -> (&Version, bool) {
        match &self.canary {
            Some(canary) if fastrand::f64() * 100.0 < canary.percent => (&canary.version, true),
            _ => (&self.main, false),
        }
    }
}

/// One API definition served on one stage.
#[derive(Debug)]
pub struct Version {
    /// The deployment (`None`: the configuration file).
    pub deployment: Option<String>,
    /// What the definition's stages share: router, authorizers, policy, CORS.
    pub api: Arc<CompiledApi>,
    /// The stage's own settings.
    pub stage: CompiledStage,
    /// The routes, indexed by the router's route ids.
    pub routes: Vec<CompiledRoute>,
}

/// What every stage serving one API definition shares.
#[derive(Debug)]
pub struct CompiledApi {
    /// The API's name.
    pub name: String,
    /// Route key matching.
    pub router: Router,
    /// The API's resource policy.
    pub policy: Option<SourcePolicy>,
    /// CORS, answered by the gateway.
    pub cors: Option<CorsConfig>,
    /// Where routes that require an API key find it.
    pub api_key_source: ApiKeySource,
    /// How the gateway's own error answers look.
    pub gateway_responses: Arc<GatewayResponses>,
    /// The API id API Gateway would give it (`${context.apiId}`).
    pub api_id: String,
    /// A WebSocket API's selection expression and limits.
    pub websocket: Option<Arc<crate::config::WebSocketSettings>>,
    /// The `sigv4` authorizer admitting `@connections` calls on the API's
    /// own listeners.
    pub management: Option<Arc<CompiledAuthorizer>>,
}

/// A stage's own settings.
#[derive(Debug)]
pub struct CompiledStage {
    /// The stage's name.
    pub name: String,
    /// The stage's variables (canary overrides applied), for plugins and
    /// identity sources.
    pub variables: BTreeMap<String, String>,
    /// The stage's resource policy.
    pub policy: Option<SourcePolicy>,
    /// Usage-plan limits by API key index, for the keys of plans covering
    /// this stage (shared by the stage's versions).
    pub plans: Arc<HashMap<usize, Arc<PlanLimits>>>,
    /// The stage's response cache, if it has one (shared by its versions).
    pub cache: Option<Arc<crate::cache::StageCache>>,
}

/// A route on one stage: everything its request needs after matching.
#[derive(Debug)]
pub struct CompiledRoute {
    /// The route key as written, for logs and plugins.
    pub key: String,
    /// Path parameter names, in the route key's order.
    pub param_names: Vec<String>,
    /// Who may call this route.
    pub policy: Option<SourcePolicy>,
    /// The route's authorizer, shared with the other routes naming it.
    pub authorizer: Option<Arc<CompiledAuthorizer>>,
    /// Scopes a JWT authorizer must have granted (one of them).
    pub scopes: Vec<String>,
    /// Whether callers need an API key in a usage plan of the stage.
    pub api_key_required: bool,
    /// Throttle for all callers (the route's, else the stage's).
    pub throttle: Option<Arc<Bucket>>,
    /// What requests must carry.
    pub validation: Option<Arc<RequestValidation>>,
    /// The mapper around the integration.
    pub mapper: Option<Arc<MapperPlugin>>,
    /// VTL mapping templates around the integration.
    pub templates: Option<Arc<MappingTemplates>>,
    /// What serves the route, its stage variables filled in.
    pub integration: Integration,
    /// A WebSocket route whose integration's answer goes back to the
    /// client.
    pub return_response: bool,
    /// How the route uses its stage's response cache, if it does.
    pub cache: Option<RouteCache>,
    /// The route's series on its stage (kept across snapshots).
    pub metrics: Arc<crate::observe::metrics::RouteMetrics>,
    /// The series of the route's authorizer, if it has one.
    pub authorizer_metrics: Option<Arc<crate::observe::metrics::AuthorizerMetrics>>,
}

/// A route's use of its stage's cache.
#[derive(Debug)]
pub struct RouteCache {
    /// The stage's cache (shared by its routes and versions).
    pub stage: Arc<crate::cache::StageCache>,
    /// Every method is cached, not only `GET`.
    pub all_methods: bool,
    /// Time to live of the route's entries.
    pub ttl: std::time::Duration,
    /// Request parameters in the key besides stage, method and route.
    pub key_parameters: Vec<crate::config::CacheKeyParameter>,
    /// The serving version's tag, first in every key.
    pub tag: Arc<str>,
}

impl RouteCache {
    /// Whether requests with `method` go through the cache.
    pub fn caches(&self, method: &http::Method) -> bool {
        // HEAD has no body to store; its answer would replay as empty.
        method == http::Method::GET || (self.all_methods && method != http::Method::HEAD)
    }
}

/// A key's limits in the usage plan that covers a stage.
#[derive(Debug)]
pub struct PlanLimits {
    /// The plan's name.
    pub plan: String,
    /// The key's name.
    pub key: String,
    /// Rate and burst of this key.
    pub bucket: Option<Arc<Bucket>>,
    /// Requests of this key per period.
    pub quota: Option<Arc<Quota>>,
    /// The plan's refusals on this stage (all its keys together).
    pub metrics: Arc<crate::observe::metrics::PlanMetrics>,
    /// This key's calls per day (the portal's usage chart).
    pub daily: Arc<crate::usage::daily::DailyUsage>,
}
