//! `[api_keys.NAME]`, `[usage_plans.NAME]`, throttles and `[usage_store]`.

use std::collections::{BTreeMap, HashMap};

use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::*;
use crate::config::raw;
use crate::config::raw::SpannedStr;

impl Validator {
    /// A Redis URL the client can open, or a problem at `key`.
    pub(super) fn redis_url(&mut self, raw: &SpannedStr, key: &str) -> String {
        let url = raw.get_ref().clone();
        let scheme_known = ["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|scheme| url.starts_with(scheme));
        if !scheme_known {
            self.problem(
                raw.span(),
                key,
                "expected redis://HOST:PORT/DB, rediss://... or redis+unix:///PATH",
            );
        } else if let Err(e) = redis::Client::open(url.as_str()) {
            self.problem(raw.span(), key, format!("not a usable Redis URL: {e}"));
        }
        url
    }

    pub(super) fn usage_store(&mut self, raw: raw::RawUsageStore) -> UsageStoreConfig {
        let url = self.redis_url(&raw.redis_url, "usage_store.redis_url");
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

    pub(super) fn cluster(&mut self, raw: raw::RawCluster) -> ClusterConfig {
        let url = self.redis_url(&raw.redis_url, "cluster.redis_url");
        let mut name_of = |value: Option<SpannedStr>, key: &str, default: String| {
            let Some(value) = value else { return default };
            let text = value.get_ref().clone();
            if text.is_empty() || text.len() > 64 || !is_identifier(&text) {
                self.problem(
                    value.span(),
                    key,
                    format!("`{text}` is not a valid name (1 to 64 letters, digits, `_` and `-`)"),
                );
            }
            text
        };
        let name = name_of(raw.name, "cluster.name", "turnpike".into());
        let node_id = name_of(raw.node_id, "cluster.node_id", default_node_id());
        let heartbeat = self.duration(
            raw.heartbeat,
            "cluster.heartbeat",
            DEFAULT_CLUSTER_HEARTBEAT,
        );
        let timeout = self.duration(raw.timeout, "cluster.timeout", DEFAULT_CLUSTER_TIMEOUT);
        let log_length = match raw.log_length {
            None => 10_000,
            Some(n) if (100..=10_000_000).contains(n.get_ref()) => *n.get_ref() as u64,
            Some(n) => {
                self.problem(
                    n.span(),
                    "cluster.log_length",
                    "expected 100 to 10000000 changes",
                );
                10_000
            }
        };
        let read = |v: &mut Validator, file: &Option<SpannedStr>, key: &str| {
            let file = file.as_ref()?;
            let path = v.base_dir.join(file.get_ref());
            match std::fs::read(&path) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    v.problem(
                        file.span(),
                        key,
                        format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        };
        let root_cert = read(self, &raw.ca_file, "cluster.ca_file");
        let cert = read(self, &raw.client_cert, "cluster.client_cert");
        let key = read(self, &raw.client_key, "cluster.client_key");
        if raw.client_cert.is_some() != raw.client_key.is_some() {
            let span = raw
                .client_cert
                .as_ref()
                .or(raw.client_key.as_ref())
                .map(|s| s.span())
                .unwrap_or_default();
            self.problem(
                span,
                "cluster.client_cert",
                "set client_cert and client_key together",
            );
        }
        let tls_keys = [&raw.ca_file, &raw.client_cert, &raw.client_key];
        if let Some(first) = tls_keys.iter().find_map(|k| k.as_ref())
            && !url.starts_with("rediss://")
        {
            self.problem(
                first.span(),
                "cluster",
                "ca_file, client_cert and client_key are for a rediss:// (TLS) redis_url",
            );
        }
        let tls = RedisTls {
            root_cert,
            client: cert.zip(key),
        };
        if url.starts_with("rediss://")
            && let Err(e) = tls.client_for(&url)
        {
            self.problem(
                raw.redis_url.span(),
                "cluster.redis_url",
                format!("cannot use these TLS settings: {e}"),
            );
        }
        ClusterConfig {
            url,
            name,
            node_id,
            heartbeat,
            timeout,
            log_length,
            tls,
        }
    }

    pub(super) fn api_keys(
        &mut self,
        raw: &BTreeMap<String, Spanned<raw::RawApiKey>>,
    ) -> Vec<ApiKeyConfig> {
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

    pub(super) fn throttle(
        &mut self,
        raw: &Spanned<raw::RawThrottle>,
        key: &str,
    ) -> ThrottleConfig {
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

    pub(super) fn usage_plans(
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
}

/// A node's id when `cluster.node_id` is not set: the host name (as the
/// kernel reports it), made a valid name.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect::<String>();
    if host.is_empty() { "node".into() } else { host }
}
