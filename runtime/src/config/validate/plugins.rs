//! `[plugins.NAME]`, pinned versions (`NAME@SHA256`) and references to
//! plugins from authorizers, mappers and integrations.

use std::collections::BTreeMap;

use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::*;
use crate::config::raw::{self, RawApi, SpannedStr};
use crate::config::units;
use crate::store;

impl Validator {
    pub(super) fn plugins(
        &mut self,
        raw: BTreeMap<String, Spanned<raw::RawPlugin>>,
    ) -> Vec<PluginConfig> {
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
                "lambda" => PluginWorld::Lambda,
                other => {
                    self.problem(
                        plugin.world.span(),
                        format!("{key}.world"),
                        format!("unknown world `{other}` (expected `authorizer`, `mapper`, `function` or `lambda`)"),
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
                declared: component.clone(),
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

    /// Adds a plugin entry `NAME@SHA256` for every reference to a pinned
    /// version of plugin `NAME`: the same settings, the component stored by
    /// an upload in `server.data_dir`. Uploads and the active version do not
    /// move a pinned reference.
    pub(super) fn pinned_versions(
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
            let digest = store::is_sha256(sha256);
            let stored = server.data_dir.as_ref().map(|dir| {
                store::PluginStore::new(dir).component_path(name, &sha256.to_ascii_lowercase())
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

    /// Resolves a reference to a plugin that must be of `world`, reporting
    /// an unknown name or a plugin of another world at `key`.
    /// `KEY.payload_format`: `Some(None)` when absent, `None` when it is
    /// not `"1.0"` or `"2.0"` (reported).
    pub(super) fn payload_format(
        &mut self,
        raw: Option<&SpannedStr>,
        key: &str,
    ) -> Option<Option<PayloadFormat>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        let format = PayloadFormat::parse(raw.get_ref());
        if format.is_none() {
            self.problem(
                raw.span(),
                format!("{key}.payload_format"),
                format!(
                    "`{}` is not a payload format: \"1.0\" or \"2.0\"",
                    raw.get_ref()
                ),
            );
            return None;
        }
        Some(format)
    }

    pub(super) fn plugin_ref(
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
}
