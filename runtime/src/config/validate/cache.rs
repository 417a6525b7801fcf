//! `[apis.stages.NAME.cache]` and a route's `cache`.

use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::*;
use crate::config::raw::{RawRouteCache, RawStageCache};
use crate::config::units;
use crate::router::RouteKey;

impl Validator {
    /// A stage's cache settings.
    pub(super) fn stage_cache(
        &mut self,
        raw: &Spanned<RawStageCache>,
        key: &str,
    ) -> StageCacheConfig {
        let at = |field: &str| format!("{key}.{field}");
        let cache = raw.get_ref();
        let capacity = match units::parse_size(cache.capacity.get_ref()) {
            Ok(n) => n,
            Err(why) => {
                self.problem(cache.capacity.span(), at("capacity"), why);
                1
            }
        };
        let ttl = self.cache_ttl(cache.ttl.as_ref(), &at("ttl"));
        let max_entry_bytes = match &cache.max_entry_size {
            None => DEFAULT_CACHE_MAX_ENTRY_BYTES.min(capacity),
            Some(size) => match units::parse_size(size.get_ref()) {
                Ok(n) if n > capacity => {
                    self.problem(
                        size.span(),
                        at("max_entry_size"),
                        "an entry cannot be larger than the cache's capacity",
                    );
                    capacity
                }
                Ok(n) => n,
                Err(why) => {
                    self.problem(size.span(), at("max_entry_size"), why);
                    1
                }
            },
        };
        let statuses = match &cache.statuses {
            None => vec![200],
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.problem(
                        list.span(),
                        at("statuses"),
                        "list at least one status to store",
                    );
                }
                list.get_ref()
                    .iter()
                    .filter_map(|s| match u16::try_from(*s.get_ref()) {
                        Ok(code) if (200..600).contains(&code) => Some(code),
                        _ => {
                            self.problem(
                                s.span(),
                                at("statuses"),
                                format!("{} is not a response status (200 to 599)", s.get_ref()),
                            );
                            None
                        }
                    })
                    .collect()
            }
        };
        let invalidators = cache
            .invalidators
            .iter()
            .map(|i| i.get_ref().clone())
            .collect();
        let unauthorized = match &cache.unauthorized_invalidation {
            None => UnauthorizedInvalidation::SucceedWithResponseHeader,
            Some(text) => UnauthorizedInvalidation::parse(text.get_ref()).unwrap_or_else(|| {
                self.problem(
                    text.span(),
                    at("unauthorized_invalidation"),
                    format!(
                        "`{}` is not a strategy: \"FAIL_WITH_403\", \"SUCCEED_WITH_RESPONSE_HEADER\" or \"SUCCEED_WITHOUT_RESPONSE_HEADER\"",
                        text.get_ref()
                    ),
                );
                UnauthorizedInvalidation::FailWith403
            }),
        };
        let lock_timeout = self.duration(
            cache.lock_timeout.clone(),
            &at("lock_timeout"),
            DEFAULT_CACHE_LOCK_TIMEOUT,
        );
        StageCacheConfig {
            capacity,
            ttl,
            max_entry_bytes,
            statuses,
            require_authorization: cache.require_authorization.unwrap_or(true),
            invalidators,
            unauthorized,
            lock_timeout,
        }
    }

    /// A route's cache settings; path parameters must be the route key's.
    pub(super) fn route_cache(
        &mut self,
        raw: &Spanned<RawRouteCache>,
        key: &str,
        route_key: &RouteKey,
    ) -> RouteCacheConfig {
        let cache = raw.get_ref();
        let ttl = cache
            .ttl
            .as_ref()
            .map(|t| self.cache_ttl(Some(t), &format!("{key}.ttl")));
        let mut key_parameters = Vec::new();
        for (i, text) in cache.key_parameters.iter().enumerate() {
            let at = format!("{key}.key_parameters[{i}]");
            match CacheKeyParameter::parse(text.get_ref()) {
                Ok(CacheKeyParameter::Path(name))
                    if !matches!(route_key, RouteKey::Route { path, .. }
                        if path.param_names().any(|p| p == name)) =>
                {
                    self.problem(
                        text.span(),
                        at,
                        format!("the route key has no path parameter `{{{name}}}`"),
                    );
                }
                Ok(parameter) => key_parameters.push(parameter),
                Err(why) => self.problem(text.span(), at, why),
            }
        }
        RouteCacheConfig {
            enabled: cache.enabled,
            ttl,
            key_parameters,
        }
    }

    fn cache_ttl(
        &mut self,
        value: Option<&crate::config::raw::SpannedStr>,
        key: &str,
    ) -> std::time::Duration {
        let Some(value) = value else {
            return DEFAULT_CACHE_TTL;
        };
        let ttl = self.duration(Some(value.clone()), key, DEFAULT_CACHE_TTL);
        if ttl > MAX_CACHE_TTL {
            self.problem(
                value.span(),
                key,
                "a cached response lives at most 3600s (0 turns caching off)",
            );
            return MAX_CACHE_TTL;
        }
        ttl
    }
}
