//! The immutable, compiled form of a configuration: routers built, stage
//! variables filled in. Requests read it through an atomic pointer and keep
//! the one they started with; a reload swaps the pointer.

use std::collections::HashMap;

use http::HeaderName;

use crate::config::{Config, Limits, StageName};
use crate::integrations::Integration;
use crate::router::{RouteKey, Router};

/// Everything a request needs to be served, compiled once.
#[derive(Debug)]
pub struct Snapshot {
    /// Request limits.
    pub limits: Limits,
    /// Header carrying the request id.
    pub request_id_header: HeaderName,
    hosts: Vec<HostTable>,
    /// Compiled APIs, in config order.
    pub apis: Vec<CompiledApi>,
}

/// Which API a listener serves for a `Host`.
#[derive(Debug, Default)]
struct HostTable {
    exact: HashMap<String, usize>,
    any: Option<usize>,
}

/// An API ready to serve.
#[derive(Debug)]
pub struct CompiledApi {
    /// The API's name.
    pub name: String,
    router: Router,
    /// Route keys as text, for logs; indexed by route id.
    pub route_keys: Vec<String>,
    default_stage: Option<usize>,
    named_stages: HashMap<String, usize>,
    /// Stages with their integrations.
    pub stages: Vec<CompiledStage>,
}

/// A stage with its integrations, one per route.
#[derive(Debug)]
pub struct CompiledStage {
    /// The stage's name.
    pub name: String,
    /// Indexed by route id.
    pub integrations: Vec<Integration>,
}

impl Snapshot {
    /// Compiles a validated configuration.
    pub fn build(config: &Config) -> Result<Snapshot, String> {
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
            let router = Router::build(api.routes.iter().map(|r| &r.key)).map_err(|conflicts| {
                conflicts
                    .iter()
                    .map(|c| c.reason.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
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
                let integrations = api
                    .routes
                    .iter()
                    .map(|route| {
                        let names: Vec<&str> = match &route.key {
                            RouteKey::Route { path, .. } => path.param_names().collect(),
                            RouteKey::Default => Vec::new(),
                        };
                        Integration::compile(&route.integration, stage, &names).map_err(|e| {
                            format!(
                                "API `{}`, stage `{}`, route `{}`: {e}",
                                api.name,
                                stage.name.as_str(),
                                route.key
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                stages.push(CompiledStage {
                    name: stage.name.as_str().to_owned(),
                    integrations,
                });
            }
            apis.push(CompiledApi {
                name: api.name.clone(),
                router,
                route_keys: api.routes.iter().map(|r| r.key.to_string()).collect(),
                default_stage,
                named_stages,
                stages,
            });
        }
        Ok(Snapshot {
            limits: config.limits.clone(),
            request_id_header: config.server.request_id_header.clone(),
            hosts,
            apis,
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

impl CompiledApi {
    /// The router.
    pub fn router(&self) -> &Router {
        &self.router
    }

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
