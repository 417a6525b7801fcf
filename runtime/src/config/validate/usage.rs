//! `[api_keys.NAME]`, `[usage_plans.NAME]`, throttles and `[usage_store]`.

use std::collections::{BTreeMap, HashMap};

use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::*;
use crate::config::raw;

impl Validator {
    pub(super) fn usage_store(&mut self, raw: raw::RawUsageStore) -> UsageStoreConfig {
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
