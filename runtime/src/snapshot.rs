//! The immutable, compiled form of a configuration: routers built, stage
//! variables filled in. Requests read it through an atomic pointer and keep
//! the one they started with; a reload swaps the pointer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::HeaderName;

use crate::config::IntegrationConfig;
use crate::config::{
    ApiConfig, ApiKeySource, AuthorizerConfig, AuthorizerKind, Config, CorsConfig, InstancesConfig,
    Limits, PluginConfig, PluginWorld, RequestValidation, SourcePolicy, StageConfig, StageName,
};
use crate::integrations::{Function, Integration};
use crate::jwt::JwtVerifier;
use crate::limits::{Bucket, Quota, Registry};
use crate::pipeline::authorize::DecisionCache;
use crate::plugin::{
    AuthorizerPlugin, FunctionPlugin, InstanceMode, MapperPlugin, PluginEngine, PluginSettings,
};
use crate::release::Releases;
use crate::router::{RouteKey, Router};
use crate::sigv4::SigV4Verifier;

/// Everything a request needs to be served, compiled once.
#[derive(Debug)]
pub struct Snapshot {
    /// Request limits.
    pub limits: Limits,
    /// Header carrying the request id.
    pub request_id_header: HeaderName,
    hosts: Vec<HostTable>,
    /// APIs with their stages, in config order.
    pub apis: Vec<ApiEntry>,
    /// Enabled API keys: value → index into the configuration's keys.
    pub api_keys: HashMap<Box<[u8]>, usize>,
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
}

/// Which API a listener serves for a `Host`.
#[derive(Debug, Default)]
struct HostTable {
    exact: HashMap<String, usize>,
    any: Option<usize>,
}

/// An API as served: its stages, each serving a compiled definition.
#[derive(Debug)]
pub struct ApiEntry {
    /// The API's name.
    pub name: String,
    default_stage: Option<usize>,
    named_stages: HashMap<String, usize>,
    /// The stages, in config order.
    pub stages: Vec<StageEntry>,
    /// CORS as the configuration file defines it, for answers given before
    /// a stage is known (a path no stage serves).
    pub cors: Option<CorsConfig>,
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
    /// requests, chosen once per request. Returns whether it is the canary.
    pub fn pick(&self) -> (&Version, bool) {
        match &self.canary {
            Some(canary) if fastrand::f64() * 100.0 < canary.percent => (&canary.version, true),
            _ => (&self.main, false),
        }
    }

    /// The version a request was given by [`StageEntry::pick`].
    pub fn version(&self, canary: bool) -> &Version {
        match &self.canary {
            Some(c) if canary => &c.version,
            _ => &self.main,
        }
    }
}

/// One API definition served on one stage.
#[derive(Debug)]
pub struct Version {
    /// The deployment (`None`: the configuration file).
    pub deployment: Option<String>,
    /// Routes, authorizers, mappers, policy and CORS.
    pub api: Arc<CompiledApi>,
    /// Integrations with the stage's variables filled in.
    pub stage: CompiledStage,
}

/// An API definition ready to serve: routes, authorizers, mappers, policy
/// and CORS. Shared by the stages serving the same definition.
#[derive(Debug)]
pub struct CompiledApi {
    /// The API's name.
    pub name: String,
    router: Router,
    /// Route keys as text, for logs; indexed by route id.
    pub route_keys: Vec<String>,
    /// Path parameter names per route, for plugins.
    pub param_names: Vec<Vec<String>>,
    /// The authorizer of each route, if any (index into `authorizers`).
    pub route_authorizers: Vec<Option<usize>>,
    /// The mapper of each route, if any.
    pub route_mappers: Vec<Option<Arc<MapperPlugin>>>,
    /// Authorizers with their plugins and decision caches.
    pub authorizers: Vec<CompiledAuthorizer>,
    /// The API's resource policy.
    pub policy: Option<SourcePolicy>,
    /// Each route's resource policy, indexed by route id.
    pub route_policies: Vec<Option<SourcePolicy>>,
    /// CORS, answered by the gateway.
    pub cors: Option<CorsConfig>,
    /// Whether each route needs an API key, indexed by route id.
    pub route_key_required: Vec<bool>,
    /// Each route's authorization scopes (one must be granted), by route id.
    pub route_scopes: Vec<Vec<String>>,
    /// Each route's request validation, by route id.
    pub route_validation: Vec<Option<Arc<RequestValidation>>>,
    /// Where the key is found.
    pub api_key_source: ApiKeySource,
}

/// An authorizer ready to run.
pub struct CompiledAuthorizer {
    /// Its configuration.
    pub config: AuthorizerConfig,
    /// What decides.
    pub decider: Decider,
    /// Cached decisions, unless the TTL is zero.
    pub cache: Option<DecisionCache>,
}

/// What decides for an authorizer.
pub enum Decider {
    /// A plugin of the `authorizer` world.
    Wasm(Arc<AuthorizerPlugin>),
    /// The built-in JWT check.
    Jwt(Arc<JwtVerifier>),
    /// The built-in SigV4 check.
    SigV4(Arc<SigV4Verifier>),
}

impl std::fmt::Debug for CompiledAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let decider = match &self.decider {
            Decider::Wasm(plugin) => plugin.name().to_owned(),
            Decider::Jwt(_) => "jwt".to_owned(),
            Decider::SigV4(_) => "sigv4".to_owned(),
        };
        f.debug_struct("CompiledAuthorizer")
            .field("name", &self.config.name)
            .field("decider", &decider)
            .finish()
    }
}

/// A stage with its integrations, one per route.
#[derive(Debug)]
pub struct CompiledStage {
    /// The stage's name.
    pub name: String,
    /// Indexed by route id.
    pub integrations: Vec<Integration>,
    /// The stage's variables, for plugins and identity sources.
    pub variables: BTreeMap<String, String>,
    /// The stage's resource policy.
    pub policy: Option<SourcePolicy>,
    /// Throttle per route (the route's, else the stage's), all callers.
    pub throttles: Vec<Option<Arc<Bucket>>>,
    /// Usage-plan limits by API key index, for the keys of plans covering
    /// this stage (shared by the stage's versions).
    pub plans: Arc<HashMap<usize, Arc<PlanLimits>>>,
}

/// A configuration (the file's or a deployment's) with its plugins loaded.
struct Loaded<'c> {
    config: &'c Config,
    plugins: Vec<LoadedPlugin>,
}

impl Snapshot {
    /// Compiles a validated configuration with no deployments; `engine`
    /// runs its plugins (needed only if it has any).
    pub fn build(config: &Config, engine: Option<&PluginEngine>) -> Result<Snapshot, String> {
        let limits = Registry::new(None, None);
        Snapshot::build_with(config, &Releases::default(), &limits, engine)
    }

    /// Compiles a validated configuration; stages with a deployment pointer
    /// in `releases` serve their deployment (and canary) instead of the
    /// file's definition.
    pub fn build_with(
        config: &Config,
        releases: &Releases,
        limits: &Registry,
        engine: Option<&PluginEngine>,
    ) -> Result<Snapshot, String> {
        let cache_dir = config.server.cache_dir.as_deref();
        let live = Loaded {
            config,
            plugins: load_plugins(config, engine, cache_dir)?,
        };
        let mut deployed: HashMap<String, (Loaded<'_>, Arc<CompiledApi>)> = HashMap::new();
        let mut hosts: Vec<HostTable> = config
            .listeners
            .iter()
            .map(|_| HostTable::default())
            .collect();
        let mut apis = Vec::with_capacity(config.apis.len());
        for (api_index, api) in config.apis.iter().enumerate() {
            for &listener in &api.listeners {
                let table = &mut hosts[listener];
                if api.hosts.is_empty() {
                    table.any = Some(api_index);
                }
                for host in &api.hosts {
                    table.exact.insert(host.clone(), api_index);
                }
            }
            let definition = Arc::new(compile_definition(&live, api)?);
            let mut stages = Vec::with_capacity(api.stages.len());
            let mut default_stage = None;
            let mut named_stages = HashMap::new();
            for (stage_index, stage) in api.stages.iter().enumerate() {
                match &stage.name {
                    StageName::Default => default_stage = Some(stage_index),
                    StageName::Named(n) => {
                        named_stages.insert(n.clone(), stage_index);
                    }
                }
                let state = releases.stage(&api.name, stage.name.as_str());
                let plans = Arc::new(plan_limits(config, &api.name, stage.name.as_str(), limits)?);
                let plans = &plans;
                let mut version = |deployment: Option<&str>,
                                   overrides: &BTreeMap<String, String>|
                 -> Result<Version, String> {
                    let mut stage = stage.clone();
                    stage
                        .variables
                        .extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
                    let Some(id) = deployment else {
                        return Ok(Version {
                            deployment: None,
                            stage: compile_stage(&live, api, &stage, &api.name, plans, limits)?,
                            api: definition.clone(),
                        });
                    };
                    if !deployed.contains_key(id) {
                        let d = releases.loaded(id).ok_or_else(|| {
                            format!(
                                "stage `{}` of API `{}`: deployment {id} is not loaded",
                                stage.name.as_str(),
                                api.name
                            )
                        })?;
                        let loaded = Loaded {
                            config: &d.config,
                            plugins: load_plugins(&d.config, engine, cache_dir)?,
                        };
                        let compiled = Arc::new(
                            compile_definition(&loaded, &d.config.apis[0])
                                .map_err(|e| format!("deployment {id}: {e}"))?,
                        );
                        deployed.insert(id.to_owned(), (loaded, compiled));
                    }
                    let (loaded, compiled) = &deployed[id];
                    Ok(Version {
                        deployment: Some(id.to_owned()),
                        stage: compile_stage(
                            loaded,
                            &loaded.config.apis[0],
                            &stage,
                            &api.name,
                            plans,
                            limits,
                        )
                        .map_err(|e| format!("deployment {id}: {e}"))?,
                        api: compiled.clone(),
                    })
                };
                let no_overrides = BTreeMap::new();
                let main = match state {
                    Some(s) => version(s.deployment.as_deref(), &s.variables)?,
                    None => version(None, &no_overrides)?,
                };
                let canary = match state.and_then(|s| s.canary.as_ref().map(|c| (s, c))) {
                    Some((s, c)) => {
                        let mut variables = s.variables.clone();
                        variables.extend(c.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
                        Some(Canary {
                            percent: c.percent,
                            version: version(Some(&c.deployment), &variables)?,
                        })
                    }
                    None => None,
                };
                stages.push(StageEntry {
                    name: stage.name.as_str().to_owned(),
                    main,
                    canary,
                });
            }
            apis.push(ApiEntry {
                name: api.name.clone(),
                default_stage,
                named_stages,
                stages,
                cors: api.cors.clone(),
            });
        }
        Ok(Snapshot {
            limits: config.limits.clone(),
            request_id_header: config.server.request_id_header.clone(),
            hosts,
            apis,
            api_keys: config
                .api_keys
                .iter()
                .enumerate()
                .filter(|(_, k)| k.enabled)
                .map(|(i, k)| (k.value.as_bytes().into(), i))
                .collect(),
        })
    }

    /// Whether `listener` tells APIs apart by `Host` (so the host must be looked at).
    pub fn listener_uses_hosts(&self, listener: usize) -> bool {
        self.hosts
            .get(listener)
            .is_some_and(|t| !t.exact.is_empty())
    }

    /// The API serving `host` (lower case, no port) on `listener`.
    pub fn api_for(&self, listener: usize, host: Option<&str>) -> Option<usize> {
        let table = self.hosts.get(listener)?;
        host.and_then(|h| table.exact.get(h).copied()).or(table.any)
    }
}

/// A loaded plugin of any world.
enum LoadedPlugin {
    Authorizer(Arc<AuthorizerPlugin>),
    Mapper(Arc<MapperPlugin>),
    Function(Arc<FunctionPlugin>),
}

impl LoadedPlugin {
    fn function(&self) -> Option<Arc<FunctionPlugin>> {
        match self {
            LoadedPlugin::Function(f) => Some(f.clone()),
            _ => None,
        }
    }

    fn authorizer(&self) -> Option<Arc<AuthorizerPlugin>> {
        match self {
            LoadedPlugin::Authorizer(a) => Some(a.clone()),
            _ => None,
        }
    }

    fn mapper(&self) -> Option<Arc<MapperPlugin>> {
        match self {
            LoadedPlugin::Mapper(m) => Some(m.clone()),
            _ => None,
        }
    }
}

/// Loads every plugin of the configuration, compiling each once.
fn load_plugins(
    config: &Config,
    engine: Option<&PluginEngine>,
    cache_dir: Option<&std::path::Path>,
) -> Result<Vec<LoadedPlugin>, String> {
    if config.plugins.is_empty() {
        return Ok(Vec::new());
    }
    let engine = engine.ok_or("plugins are configured but no WebAssembly engine was created")?;
    config
        .plugins
        .iter()
        .map(|plugin| load_plugin(plugin, engine, cache_dir))
        .collect()
}

fn load_plugin(
    plugin: &PluginConfig,
    engine: &PluginEngine,
    cache_dir: Option<&std::path::Path>,
) -> Result<LoadedPlugin, String> {
    let bytes = std::fs::read(&plugin.component).map_err(|e| {
        format!(
            "plugin `{}`: cannot read {}: {e}",
            plugin.name,
            plugin.component.display()
        )
    })?;
    let settings = PluginSettings {
        name: plugin.name.as_str().into(),
        config: plugin.config.clone(),
        timeout: plugin.timeout,
        memory_limit: usize::try_from(plugin.memory_limit).unwrap_or(usize::MAX),
        fuel: plugin.fuel,
        outbound_hosts: plugin.outbound_hosts.clone(),
        max_outbound_calls: plugin.max_outbound_calls,
    };
    let mode = match plugin.instances {
        InstancesConfig::Fresh => InstanceMode::Fresh,
        InstancesConfig::Reuse {
            reuse_limit,
            max_idle,
        } => InstanceMode::Reuse {
            max_uses: reuse_limit,
            max_idle,
        },
    };
    let started = std::time::Instant::now();
    let located = |e: crate::plugin::PluginLoadError| {
        format!("{e} (component {})", plugin.component.display())
    };
    let (loaded, digest) = match plugin.world {
        PluginWorld::Authorizer => {
            let p = AuthorizerPlugin::load(engine, settings, &bytes, cache_dir, mode)
                .map_err(located)?;
            let digest = p.digest().to_owned();
            (LoadedPlugin::Authorizer(Arc::new(p)), digest)
        }
        PluginWorld::Mapper => {
            let p =
                MapperPlugin::load(engine, settings, &bytes, cache_dir, mode).map_err(located)?;
            let digest = p.digest().to_owned();
            (LoadedPlugin::Mapper(Arc::new(p)), digest)
        }
        PluginWorld::Function => {
            // A wasi:http component serves whole requests; every request
            // gets a fresh instance.
            let p = FunctionPlugin::load(engine, settings, &bytes, cache_dir, InstanceMode::Fresh)
                .map_err(located)?;
            let digest = p.digest().to_owned();
            (LoadedPlugin::Function(Arc::new(p)), digest)
        }
    };
    tracing::info!(
        plugin = %plugin.name,
        sha256 = %digest,
        ms = started.elapsed().as_millis() as u64,
        "plugin loaded"
    );
    Ok(loaded)
}

/// Compiles the parts of `api` that do not depend on the stage.
fn compile_definition(loaded: &Loaded<'_>, api: &ApiConfig) -> Result<CompiledApi, String> {
    let config = loaded.config;
    let plugins = &loaded.plugins;
    let router = Router::build(api.routes.iter().map(|r| &r.key)).map_err(|conflicts| {
        conflicts
            .iter()
            .map(|c| c.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let authorizers = api
        .authorizers
        .iter()
        .map(|a| {
            let decider = match &a.kind {
                AuthorizerKind::Wasm { plugin } => {
                    Decider::Wasm(plugins[*plugin].authorizer().ok_or_else(|| {
                        format!(
                            "plugin `{}` is not an authorizer",
                            config.plugins[*plugin].name
                        )
                    })?)
                }
                AuthorizerKind::SigV4(sigv4) => {
                    Decider::SigV4(Arc::new(SigV4Verifier::new((**sigv4).clone())))
                }
                AuthorizerKind::Jwt(jwt) => Decider::Jwt(Arc::new(
                    JwtVerifier::new(jwt.clone())
                        .map_err(|e| format!("authorizer `{}`: {e}", a.name))?,
                )),
            };
            Ok(CompiledAuthorizer {
                config: a.clone(),
                decider,
                cache: (!a.cache_ttl.is_zero()).then(|| DecisionCache::new(a.cache_ttl)),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(CompiledApi {
        name: api.name.clone(),
        router,
        route_keys: api.routes.iter().map(|r| r.key.to_string()).collect(),
        param_names: api
            .routes
            .iter()
            .map(|r| match &r.key {
                RouteKey::Route { path, .. } => path.param_names().map(str::to_owned).collect(),
                RouteKey::Default => Vec::new(),
            })
            .collect(),
        route_authorizers: api.routes.iter().map(|r| r.authorizer).collect(),
        route_mappers: api
            .routes
            .iter()
            .map(|r| r.mapper.and_then(|m| plugins[m].mapper()))
            .collect(),
        authorizers,
        policy: api.policy.clone(),
        route_policies: api.routes.iter().map(|r| r.policy.clone()).collect(),
        cors: api.cors.clone(),
        route_key_required: api.routes.iter().map(|r| r.api_key_required).collect(),
        route_scopes: api
            .routes
            .iter()
            .map(|r| r.authorization_scopes.clone())
            .collect(),
        route_validation: api.routes.iter().map(|r| r.validation.clone()).collect(),
        api_key_source: api.api_key_source,
    })
}

/// The limits of every key of the usage plans covering `api`/`stage`.
fn plan_limits(
    config: &Config,
    api: &str,
    stage: &str,
    limits: &Registry,
) -> Result<HashMap<usize, Arc<PlanLimits>>, String> {
    let mut out = HashMap::new();
    for plan in &config.usage_plans {
        if !plan.stages.iter().any(|(a, s)| a == api && s == stage) {
            continue;
        }
        for &key in &plan.api_keys {
            let key_name = &config.api_keys[key].name;
            let bucket = plan
                .throttle
                .map(|t| limits.bucket(format!("plan:{}:{key_name}", plan.name), t));
            let quota = plan
                .quota
                .map(|q| limits.quota(&plan.name, key_name, q))
                .transpose()
                .map_err(|e| format!("usage plan `{}`: {e}", plan.name))?;
            out.insert(
                key,
                Arc::new(PlanLimits {
                    plan: plan.name.clone(),
                    key: key_name.clone(),
                    bucket,
                    quota,
                }),
            );
        }
    }
    Ok(out)
}

/// Compiles `api`'s integrations for `stage` (its variables filled in),
/// with the stage's throttles and the usage plans covering it (`plans`, of
/// API `api_name`).
fn compile_stage(
    loaded: &Loaded<'_>,
    api: &ApiConfig,
    stage: &StageConfig,
    api_name: &str,
    plans: &Arc<HashMap<usize, Arc<PlanLimits>>>,
    limits: &Registry,
) -> Result<CompiledStage, String> {
    let throttles = api
        .routes
        .iter()
        .map(|route| {
            route.throttle.or(stage.throttle).map(|t| {
                // One bucket per route of the stage, shared by the stage's
                // main version and its canary.
                limits.bucket(
                    format!("route:{api_name}:{}:{}", stage.name.as_str(), route.key),
                    t,
                )
            })
        })
        .collect();
    let integrations = api
        .routes
        .iter()
        .map(|route| {
            let names: Vec<&str> = match &route.key {
                RouteKey::Route { path, .. } => path.param_names().collect(),
                RouteKey::Default => Vec::new(),
            };
            let compiled = match &route.integration {
                IntegrationConfig::Function { plugin } => {
                    let function = loaded.plugins[*plugin].function().ok_or_else(|| {
                        format!(
                            "plugin `{}` is not a function",
                            loaded.config.plugins[*plugin].name
                        )
                    })?;
                    Function::compile(function, stage, &route.key.to_string(), &names)
                        .map(Integration::Function)
                }
                other => Integration::compile(other, stage, &names),
            };
            compiled.map_err(|e| {
                format!(
                    "API `{}`, stage `{}`, route `{}`: {e}",
                    api.name,
                    stage.name.as_str(),
                    route.key
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CompiledStage {
        name: stage.name.as_str().to_owned(),
        integrations,
        variables: stage.variables.clone(),
        policy: stage.policy.clone(),
        throttles,
        plans: plans.clone(),
    })
}

impl CompiledApi {
    /// The router.
    pub fn router(&self) -> &Router {
        &self.router
    }
}

impl ApiEntry {
    /// Splits a stage prefix off `path`: returns the stage and the path within it.
    pub fn stage_for<'p>(&self, path: &'p str) -> Option<(usize, &'p str)> {
        if !self.named_stages.is_empty() {
            let rest = path.strip_prefix('/').unwrap_or(path);
            let (first, within) = match rest.find('/') {
                Some(at) => (&rest[..at], &rest[at..]),
                None => (rest, "/"),
            };
            if let Some(&stage) = self.named_stages.get(first) {
                return Some((stage, within));
            }
        }
        self.default_stage.map(|s| (s, path))
    }
}
