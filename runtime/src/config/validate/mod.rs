//! Validation: from the raw file to the typed [`Config`], one section per
//! file. Every problem is recorded with its span and key and validation goes
//! on, so that one run reports all of them.
//!
//! - [`server`]: `[server]`, `[limits]`, `[[listeners]]`, `[admin]`
//! - [`plugins`]: `[plugins.NAME]` and references to them
//! - [`apis`]: `[[apis]]` with their stages, policies, CORS and models
//! - [`routes`]: `[[apis.routes]]` and their request validation
//! - [`integrations`]: a route's `integration`, per type
//! - [`authorizers`]: `[apis.authorizers.NAME]`, per type
//! - [`usage`]: API keys, usage plans, throttles, `[usage_store]`
//! - [`websocket`]: `protocol = "websocket"`, `[apis.websocket]`, what its routes may have
//! - [`tracing`]: `[tracing]`, the OpenTelemetry exporter
//!
//! A section whose entries come in types (integrations, authorizers) lists
//! the keys each type accepts: a key of another type is a problem, never
//! silently ignored.

mod apis;
mod authorizers;
mod cache;
mod integrations;
mod plugins;
mod responses;
mod routes;
mod server;
mod tls;
mod tracing;
mod upstreams;
mod usage;
mod websocket;

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use super::Found;
use super::model::{Config, ListenerConfig};
use super::raw::{RawConfig, SpannedStr};
use super::units;

/// Collects problems while building the typed configuration.
pub(super) struct Validator {
    problems: Vec<Found>,
    warnings: Vec<Found>,
    /// Folder of the config file: relative paths are resolved against it.
    base_dir: PathBuf,
}

impl Validator {
    /// A validator resolving relative paths against `base_dir`.
    pub(super) fn new(base_dir: PathBuf) -> Validator {
        Validator {
            problems: Vec::new(),
            warnings: Vec::new(),
            base_dir,
        }
    }

    /// Every problem found, and every warning.
    pub(super) fn into_findings(self) -> (Vec<Found>, Vec<Found>) {
        (self.problems, self.warnings)
    }

    fn warning(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        self.warnings.push((Some(span), key.into(), message.into()));
    }

    fn problem(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push((Some(span), key.into(), message.into()));
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

    /// The listeners `names` (of the entry at `key`) refer to; every
    /// listener when the entry names none.
    fn listener_refs(
        &mut self,
        names: Option<&[SpannedStr]>,
        listeners: &[ListenerConfig],
        key: &str,
    ) -> Vec<usize> {
        let Some(names) = names else {
            return (0..listeners.len()).collect();
        };
        names
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
            .collect()
    }

    /// Records a problem for every key in `present` (name, where it stands)
    /// that an entry of type `kind` does not take.
    fn keys_of_type(
        &mut self,
        present: &[(&str, Option<Range<usize>>)],
        allowed: &[&str],
        key: &str,
        what: &str,
        kind: &str,
    ) {
        for (name, at) in present {
            if let Some(at) = at
                && !allowed.contains(name)
            {
                self.problem(
                    at.clone(),
                    format!("{key}.{name}"),
                    format!("`{name}` does not apply to {what} of type `{kind}`"),
                );
            }
        }
    }

    /// Validates the whole file.
    pub(super) fn config(&mut self, raw: RawConfig) -> Config {
        let listener_spans: Vec<(Range<usize>, usize)> = raw
            .listeners
            .iter()
            .map(|l| {
                let listed = l
                    .get_ref()
                    .tls
                    .as_ref()
                    .map_or(0, |t| t.get_ref().certificates.len());
                (l.span(), listed)
            })
            .collect();
        let domain_spans: Vec<Range<usize>> = raw.domains.iter().map(|d| d.span()).collect();
        let server = self.server(raw.server);
        let limits = self.limits(raw.limits);
        let listeners = self.listeners(raw.listeners);
        let mut plugins = self.plugins(raw.plugins);
        self.pinned_versions(&raw.apis, &server, &mut plugins);
        let upstreams = self.upstreams(&raw.upstreams);
        let apis = self.apis(raw.apis, &listeners, &limits, &plugins, &upstreams);
        let admin = raw.admin.map(|admin| self.admin(admin.into_inner()));
        let api_keys = self.api_keys(&raw.api_keys);
        let usage_plans = self.usage_plans(&raw.usage_plans, &api_keys, &apis);
        let usage_store = raw.usage_store.map(|s| self.usage_store(s.into_inner()));
        let domains = self.domains(raw.domains, &listeners, &apis);
        self.tls_coverage(&listeners, &domains, &listener_spans, &domain_spans);
        let tracing = raw.tracing.map(|t| self.tracing(t.into_inner()));
        let cluster = raw.cluster.map(|c| {
            let span = c.span();
            let cluster = self.cluster(c.into_inner());
            if server.data_dir.is_none() {
                self.problem(
                    span,
                    "cluster",
                    "cluster mode needs server.data_dir: each node keeps its copy of the shared state there",
                );
            }
            cluster
        });
        let portal = raw.portal.map(|p| {
            let span = p.span();
            let portal = self.portal(p.into_inner(), &listeners);
            if server.data_dir.is_none() {
                self.problem(
                    span,
                    "portal",
                    "the portal needs server.data_dir: consumer accounts are kept there",
                );
            }
            portal
        });
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
            domains,
            warnings: Vec::new(),
            upstreams,
            tracing,
            cluster,
            portal,
        }
    }
}
