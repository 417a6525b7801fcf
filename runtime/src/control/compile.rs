//! Building a [`Snapshot`] from a validated configuration and the release
//! state: plugins loaded (compiled once, cached on disk), each API
//! definition compiled once (router, authorizers, mappers), then each stage
//! — the file's definition or the deployment its pointer names, and its
//! canary — gets its routes with the stage's integrations and throttles.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::releases::Releases;
use super::snapshot::{
    ApiEntry, Canary, CompiledApi, CompiledRoute, CompiledStage, DomainEntry, DomainTable,
    HostTable, Mapping, PlanLimits, RouteCache, Snapshot, StageEntry, Version,
};
use crate::auth::jwt::JwtVerifier;
use crate::auth::sigv4::SigV4Verifier;
use crate::auth::{CompiledAuthorizer, Decider};
use crate::cache::{Caches, StageCache};
use crate::config::{
    ApiConfig, AuthorizerKind, Config, InstancesConfig, IntegrationConfig, PluginConfig,
    PluginWorld, RouteConfig, StageConfig, StageName, UpstreamConfig,
};
use crate::integrations::{Clusters, Function, Integration, LambdaApi, LambdaFunction};
use crate::observe::Metrics;
use crate::plugin::{
    AuthorizerPlugin, FunctionPlugin, InstanceMode, LambdaPlugin, MapperPlugin, PluginEngine,
    PluginSettings,
};
use crate::router::{RouteKey, Router};
use crate::upstream::Cluster;
use crate::usage::Registry;

/// What outlives snapshots and the compiled routes refer to: rate-limit
/// buckets and quotas, and the stages' response caches.
#[derive(Debug)]
pub struct Retained {
    /// Buckets and quotas.
    pub limits: Registry,
    /// The stages' response caches.
    pub caches: Caches,
}

impl Retained {
    /// Nothing retained yet; limits as [`Registry::new`] makes them.
    pub fn new(limits: Registry) -> Retained {
        Retained {
            limits,
            caches: Caches::default(),
        }
    }
}

/// Compiles a validated configuration; stages with a deployment pointer in
/// `releases` serve their deployment (and canary) instead of the file's
/// definition. `engine` runs the plugins (needed only if there are any).
pub fn build(
    config: &Config,
    releases: &Releases,
    retained: &Retained,
    engine: Option<&PluginEngine>,
    sessions: &[crate::tls::Sessions],
    previous: &[Arc<Cluster>],
) -> Result<Snapshot, String> {
    let limits = &retained.limits;
    let mut cached_stages = HashSet::new();
    let cache_dir = config.server.cache_dir.as_deref();
    let mut live = Loaded::new(config, engine, cache_dir)?;
    let mut upstreams = Vec::new();
    live.clusters = clusters(
        &config.upstreams,
        &Clusters::new(),
        previous,
        &mut upstreams,
    )?;
    let mut deployed: HashMap<String, (Loaded<'_>, Definition)> = HashMap::new();
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
        let definition = Definition::compile(&live, api)?;
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
            let stage_cache = stage.cache.as_ref().map(|settings| {
                cached_stages.insert((api.name.clone(), stage.name.as_str().to_owned()));
                retained
                    .caches
                    .stage(&api.name, stage.name.as_str(), settings)
            });
            let shared = StageShared {
                plans: &plans,
                limits,
                cache: stage_cache.as_ref(),
            };
            let mut version = |deployment: Option<&str>,
                               overrides: &BTreeMap<String, String>|
             -> Result<Version, String> {
                let mut stage = stage.clone();
                stage
                    .variables
                    .extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
                let Some(id) = deployment else {
                    return definition.version(&live, api, &stage, &shared, None);
                };
                if !deployed.contains_key(id) {
                    let d = releases.loaded(id).ok_or_else(|| {
                        format!(
                            "stage `{}` of API `{}`: deployment {id} is not loaded",
                            stage.name.as_str(),
                            api.name
                        )
                    })?;
                    let mut loaded = Loaded::new(&d.config, engine, cache_dir)?;
                    let compiled = Definition::compile(&loaded, &d.config.apis[0])
                        .map_err(|e| format!("deployment {id}: {e}"))?;
                    loaded.clusters = clusters(
                        &d.config.upstreams,
                        &live.clusters,
                        previous,
                        &mut upstreams,
                    )
                    .map_err(|e| format!("deployment {id}: {e}"))?;
                    deployed.insert(id.to_owned(), (loaded, compiled));
                }
                let (loaded, compiled) = &deployed[id];
                compiled
                    .version(loaded, &loaded.config.apis[0], &stage, &shared, Some(id))
                    .map_err(|e| format!("deployment {id}: {e}"))
            };
            let main = match state {
                Some(s) => version(s.deployment.as_deref(), &s.variables)?,
                None => version(None, &BTreeMap::new())?,
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
            policy: api.policy.clone(),
            gateway_responses: Arc::new(api.gateway_responses.clone()),
        });
    }
    retained.caches.retain(&cached_stages);
    Ok(Snapshot {
        limits: config.limits.clone(),
        request_id_header: config.server.request_id_header.clone(),
        hosts,
        domains: domain_tables(config),
        tls: server_tls(config, sessions)?,
        redirects: config.listeners.iter().map(|l| l.redirect_https).collect(),
        max_connections: config.listeners.iter().map(|l| l.max_connections).collect(),
        apis,
        api_keys: config
            .api_keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.enabled)
            .map(|(i, k)| (k.value.as_bytes().into(), i))
            .collect(),
        upstreams,
    })
}

/// The clusters of `configs` by name: `shared`'s where it has the name
/// (a deployment uses the file's upstream of that name), built otherwise,
/// carrying over the state of the same upstream in `previous`. Each one
/// built is also pushed to `all`.
fn clusters(
    configs: &[Arc<UpstreamConfig>],
    shared: &Clusters,
    previous: &[Arc<Cluster>],
    all: &mut Vec<Arc<Cluster>>,
) -> Result<Clusters, String> {
    let mut clusters = shared.clone();
    for config in configs {
        if clusters.contains_key(&config.name) {
            continue;
        }
        let mut cluster =
            Cluster::new(config).map_err(|e| format!("upstream `{}`: {e}", config.name))?;
        if let Some(old) = previous.iter().find(|c| c.name() == config.name) {
            cluster.inherit(old);
        }
        let cluster = Arc::new(cluster);
        all.push(cluster.clone());
        clusters.insert(config.name.clone(), cluster);
    }
    Ok(clusters)
}

/// Per listener, the custom domains it serves.
fn domain_tables(config: &Config) -> Vec<DomainTable> {
    let mut tables: Vec<DomainTable> = config
        .listeners
        .iter()
        .map(|_| DomainTable::default())
        .collect();
    for (index, domain) in config.domains.iter().enumerate() {
        let entry = Arc::new(DomainEntry {
            index,
            name: domain.tls.name.clone(),
            mtls_required: domain.tls.mtls.as_ref().is_some_and(|m| m.required),
            mappings: domain
                .mappings
                .iter()
                .map(|m| Mapping {
                    segments: m
                        .base_path
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    api: m.api,
                    stage: config.apis[m.api]
                        .stages
                        .iter()
                        .position(|s| s.name.as_str() == m.stage)
                        .unwrap_or(0),
                })
                .collect(),
        });
        for &listener in &domain.listeners {
            let table = &mut tables[listener];
            match domain.tls.name.strip_prefix("*.") {
                Some(suffix) => table.wildcard.insert(suffix.to_owned(), entry.clone()),
                None => table.exact.insert(domain.tls.name.clone(), entry.clone()),
            };
        }
    }
    tables
}

/// Per listener with `tls`, its server side, certificates read now.
fn server_tls(
    config: &Config,
    sessions: &[crate::tls::Sessions],
) -> Result<Vec<Option<Arc<crate::tls::ServerTls>>>, String> {
    let provider = crate::tls::provider();
    let fresh = crate::tls::Sessions::default();
    config
        .listeners
        .iter()
        .enumerate()
        .map(|(index, listener)| {
            let Some(tls) = &listener.tls else {
                return Ok(None);
            };
            // The domains on this listener, in configuration order: a
            // handshake's domain index is the configuration's.
            let domains: Vec<crate::tls::DomainTlsSettings> = config
                .domains
                .iter()
                .map(|d| {
                    let mut settings = d.tls.clone();
                    if !d.listeners.contains(&index) {
                        // Not served here: its name selects nothing.
                        settings.certificate = None;
                        settings.mtls = None;
                        settings.name.clear();
                    }
                    settings
                })
                .collect();
            let (built, warnings) = crate::tls::ServerTls::build(
                &listener.name,
                &tls.settings,
                &domains,
                sessions.get(index).unwrap_or(&fresh),
                &provider,
            )
            .map_err(|e| format!("listener `{}`: {e}", listener.name))?;
            for warning in warnings {
                tracing::warn!(listener = %listener.name, "{}", warning.0);
            }
            Ok(Some(Arc::new(built)))
        })
        .collect()
}

/// A configuration (the file's or a deployment's) with its plugins loaded.
struct Loaded<'c> {
    config: &'c Config,
    plugins: Vec<LoadedPlugin>,
    /// The clusters its `http_proxy` URLs name.
    clusters: Clusters,
}

impl<'c> Loaded<'c> {
    /// Loads every plugin of `config`, compiling each once.
    fn new(
        config: &'c Config,
        engine: Option<&PluginEngine>,
        cache_dir: Option<&std::path::Path>,
    ) -> Result<Loaded<'c>, String> {
        let plugins = if config.plugins.is_empty() {
            Vec::new()
        } else {
            let engine =
                engine.ok_or("plugins are configured but no WebAssembly engine was created")?;
            config
                .plugins
                .iter()
                .map(|plugin| load_plugin(plugin, engine, cache_dir))
                .collect::<Result<_, _>>()?
        };
        Ok(Loaded {
            config,
            plugins,
            clusters: Clusters::new(),
        })
    }

    fn name(&self, plugin: usize) -> &str {
        &self.config.plugins[plugin].name
    }
}

/// A loaded plugin of any world.
enum LoadedPlugin {
    Authorizer(Arc<AuthorizerPlugin>),
    Mapper(Arc<MapperPlugin>),
    Function(Arc<FunctionPlugin>),
    Lambda(Arc<LambdaPlugin>),
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
        // Lambda functions read their settings from the environment, and
        // the runtime's own variables beside them.
        environment: match plugin.world {
            PluginWorld::Lambda => {
                let mut environment = plugin.config.clone();
                environment.extend([
                    ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), plugin.name.clone()),
                    (
                        "AWS_LAMBDA_FUNCTION_VERSION".to_owned(),
                        "$LATEST".to_owned(),
                    ),
                    (
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
                        (plugin.memory_limit >> 20).to_string(),
                    ),
                    ("AWS_EXECUTION_ENV".to_owned(), "turnpike".to_owned()),
                ]);
                environment
            }
            _ => Vec::new(),
        },
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
        PluginWorld::Lambda => {
            let p =
                LambdaPlugin::load(engine, settings, &bytes, cache_dir, mode).map_err(located)?;
            let digest = p.digest().to_owned();
            (LoadedPlugin::Lambda(Arc::new(p)), digest)
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

/// The stage-independent parts of one API definition: compiled once, shared
/// by every stage that serves it.
struct Definition {
    api: Arc<CompiledApi>,
    authorizers: Vec<Arc<CompiledAuthorizer>>,
    /// Each route's mapper, by route id.
    mappers: Vec<Option<Arc<MapperPlugin>>>,
}

impl Definition {
    fn compile(loaded: &Loaded<'_>, api: &ApiConfig) -> Result<Definition, String> {
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
                    AuthorizerKind::Wasm { plugin } => match &loaded.plugins[*plugin] {
                        LoadedPlugin::Authorizer(p) => Decider::Wasm(p.clone()),
                        _ => {
                            return Err(format!(
                                "plugin `{}` is not an authorizer",
                                loaded.name(*plugin)
                            ));
                        }
                    },
                    AuthorizerKind::Lambda {
                        plugin,
                        payload_format,
                    } => match &loaded.plugins[*plugin] {
                        LoadedPlugin::Lambda(p) => Decider::Lambda {
                            function_arn: crate::lambda::function_arn(&api.aws, p.name()),
                            plugin: p.clone(),
                            format: *payload_format,
                            aws: api.aws.clone(),
                        },
                        _ => {
                            return Err(format!(
                                "plugin `{}` is not a Lambda-style handler",
                                loaded.name(*plugin)
                            ));
                        }
                    },
                    AuthorizerKind::SigV4(sigv4) => {
                        Decider::SigV4(Arc::new(SigV4Verifier::new((**sigv4).clone())))
                    }
                    AuthorizerKind::Jwt(jwt) => Decider::Jwt(Arc::new(
                        JwtVerifier::new(jwt.clone())
                            .map_err(|e| format!("authorizer `{}`: {e}", a.name))?,
                    )),
                };
                Ok(Arc::new(CompiledAuthorizer::new(a.clone(), decider)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mappers = api
            .routes
            .iter()
            .map(|r| match r.mapper.map(|m| (m, &loaded.plugins[m])) {
                None => Ok(None),
                Some((_, LoadedPlugin::Mapper(m))) => Ok(Some(m.clone())),
                Some((m, _)) => Err(format!("plugin `{}` is not a mapper", loaded.name(m))),
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Definition {
            api: Arc::new(CompiledApi {
                name: api.name.clone(),
                router,
                policy: api.policy.clone(),
                cors: api.cors.clone(),
                api_key_source: api.api_key_source,
                gateway_responses: Arc::new(api.gateway_responses.clone()),
                api_id: api.aws.api_id.clone(),
                websocket: api.websocket.clone(),
                management: api
                    .websocket
                    .as_ref()
                    .and_then(|w| w.management_authorizer)
                    .map(|a| authorizers[a].clone()),
            }),
            authorizers,
            mappers,
        })
    }

    /// This definition served on `stage` (its variables filled in), with
    /// the stage's throttles and the usage plans covering it (`plans`).
    fn version(
        &self,
        loaded: &Loaded<'_>,
        api: &ApiConfig,
        stage: &StageConfig,
        shared: &StageShared<'_>,
        deployment: Option<&str>,
    ) -> Result<Version, String> {
        let StageShared {
            plans,
            limits,
            cache,
        } = *shared;
        // Entries of one version never answer another's requests: other
        // routes, integrations or stage variables may answer differently.
        let tag = cache.map(|_| version_tag(deployment, &stage.variables));
        let routes = api
            .routes
            .iter()
            .enumerate()
            .map(|(id, route)| {
                let names: Vec<&str> = match &route.key {
                    RouteKey::Route { path, .. } => path.param_names().collect(),
                    RouteKey::Default | RouteKey::Message(_) => Vec::new(),
                };
                let located = |e: String| {
                    format!(
                        "API `{}`, stage `{}`, route `{}`: {e}",
                        api.name,
                        stage.name.as_str(),
                        route.key
                    )
                };
                let integration = match &route.integration {
                    IntegrationConfig::Function {
                        plugin,
                        payload_format,
                    } => match (&loaded.plugins[*plugin], payload_format) {
                        (LoadedPlugin::Function(function), None) => Function::compile(
                            function.clone(),
                            stage,
                            &route.key.to_string(),
                            &names,
                        )
                        .map(Integration::Function),
                        (LoadedPlugin::Lambda(handler), Some(format)) => {
                            Ok(Integration::Lambda(LambdaFunction::compile(
                                handler.clone(),
                                *format,
                                LambdaApi {
                                    aws: &api.aws,
                                    binary_media_types: &api.binary_media_types,
                                },
                                stage,
                                &route.key.to_string(),
                                &names,
                            )))
                        }
                        _ => Err(format!(
                            "plugin `{}` is not a function of that kind",
                            loaded.name(*plugin)
                        )),
                    },
                    other => Integration::compile(other, stage, &names, &loaded.clusters),
                }
                .map_err(located)?;
                // One bucket per route of the stage, shared by the stage's
                // main version and its canary.
                let throttle = route.throttle.or(stage.throttle).map(|t| {
                    limits.bucket(
                        format!("route:{}:{}:{}", api.name, stage.name.as_str(), route.key),
                        t,
                    )
                });
                Ok(CompiledRoute {
                    key: route.key.to_string(),
                    param_names: names.iter().map(|n| (*n).to_owned()).collect(),
                    policy: route.policy.clone(),
                    authorizer: route.authorizer.map(|a| self.authorizers[a].clone()),
                    scopes: route.authorization_scopes.clone(),
                    api_key_required: route.api_key_required,
                    throttle,
                    validation: route.validation.clone(),
                    mapper: self.mappers[id].clone(),
                    templates: route.templates.clone(),
                    integration,
                    return_response: route.return_response,
                    cache: route_cache(cache, tag.as_ref(), stage, route, loaded),
                    metrics: Metrics::global().route(
                        &api.name,
                        stage.name.as_str(),
                        &route.key.to_string(),
                    ),
                    authorizer_metrics: route
                        .authorizer
                        .map(|a| Metrics::global().authorizer(&api.name, &api.authorizers[a].name)),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Version {
            deployment: deployment.map(str::to_owned),
            api: self.api.clone(),
            stage: CompiledStage {
                name: stage.name.as_str().to_owned(),
                variables: stage.variables.clone(),
                policy: stage.policy.clone(),
                plans: plans.clone(),
                cache: cache.cloned(),
            },
            routes,
        })
    }
}

/// What a stage's main version and canary share.
#[derive(Clone, Copy)]
struct StageShared<'a> {
    /// The usage plans covering the stage, by key.
    plans: &'a Arc<HashMap<usize, Arc<PlanLimits>>>,
    /// Buckets and quotas.
    limits: &'a Registry,
    /// The stage's response cache.
    cache: Option<&'a Arc<StageCache>>,
}

/// What a version's cache keys start with: its deployment and a digest of
/// its stage variables (a canary may override them).
fn version_tag(deployment: Option<&str>, variables: &BTreeMap<String, String>) -> Arc<str> {
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    for (name, value) in variables {
        digest.update((name.len() as u64).to_le_bytes());
        digest.update(name);
        digest.update((value.len() as u64).to_le_bytes());
        digest.update(value);
    }
    let digest = hex::encode(&digest.finalize()[..8]);
    Arc::from(format!("{}/{digest}", deployment.unwrap_or("-")))
}

/// How a route uses its stage's cache; `None` when it does not (no stage
/// cache, turned off, or a time to live of 0).
fn route_cache(
    cache: Option<&Arc<StageCache>>,
    tag: Option<&Arc<str>>,
    stage: &StageConfig,
    route: &RouteConfig,
    loaded: &Loaded<'_>,
) -> Option<RouteCache> {
    let (cache, tag, settings) = (cache?, tag?, stage.cache.as_ref()?);
    let own = route.cache.clone().unwrap_or_default();
    let ttl = own.ttl.unwrap_or(settings.ttl);
    if own.enabled == Some(false) || ttl.is_zero() {
        return None;
    }
    // What makes the route answer as it does — its integration, templates,
    // and the plugins (by file and settings) it calls — is in the tag too:
    // a reload that changes them starts afresh, one that does not keeps
    // the entries.
    let definition = {
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        digest.update(format!("{route:?}"));
        let plugins = [
            route.mapper,
            match &route.integration {
                IntegrationConfig::Function { plugin, .. } => Some(*plugin),
                _ => None,
            },
        ];
        for plugin in plugins.into_iter().flatten() {
            digest.update(format!("{:?}", loaded.config.plugins.get(plugin)));
        }
        hex::encode(&digest.finalize()[..8])
    };
    Some(RouteCache {
        stage: cache.clone(),
        all_methods: own.enabled == Some(true),
        ttl,
        key_parameters: own.key_parameters,
        tag: Arc::from(format!("{tag}/{definition}")),
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
        let metrics = Metrics::global().plan(api, stage, &plan.name);
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
                    metrics: metrics.clone(),
                    daily: limits.daily(key_name),
                }),
            );
        }
    }
    Ok(out)
}
