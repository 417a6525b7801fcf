//! Phase 9: the stage's response cache, after authorization, usage plans
//! and validation (so a cached answer never reaches a caller who would have
//! been refused) and before the mapping and the integration, which a hit
//! skips.
//!
//! The key is the serving version, the method, the route key and the
//! route's declared key parameters, as API Gateway builds it; everything
//! else in the request is ignored. A miss runs phases 10 to 12 itself
//! ([`crate::proxy::origin`]) and stores their answer if it may; concurrent
//! misses of one key wait for that one fetch. `Cache-Control: max-age=0`
//! fetches anew, if the caller may invalidate (API Gateway's "require
//! authorization"): otherwise 403, or the header is ignored (with a
//! `Warning` header, or silently), as the stage says.

use std::sync::Arc;

use http::HeaderValue;
use http::header::{CACHE_CONTROL, WARNING};

use crate::cache::{CacheStatus, KeyBuilder, Lookup};
use crate::config::{CacheKeyParameter, UnauthorizedInvalidation};
use crate::control::snapshot::RouteCache;
use crate::error::{ErrorKind, GatewayError};
use crate::proxy::{Cx, Flow, Verdict};

/// What an ignored `max-age=0` is answered with (as API Gateway's
/// `SUCCEED_WITH_RESPONSE_HEADER`).
const IGNORED_INVALIDATION: &str =
    "199 turnpike \"Cache-Control: max-age=0 ignored: the caller may not invalidate this cache\"";

/// Answers from the cache, or fetches and stores.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let Some(cache) = cx.route.and_then(|r| r.cache.as_ref()) else {
        return Ok(Flow::Continue);
    };
    if !cache.caches(&cx.parts.method) {
        return Ok(Flow::Continue);
    }
    let key = key(cache, cx);
    let mut ignored = false;
    let invalidate = if asks_to_invalidate(&cx.parts.headers) {
        if may_invalidate(cache, cx) {
            true
        } else {
            match cache.stage.settings.unauthorized {
                UnauthorizedInvalidation::FailWith403 => {
                    return Err(GatewayError::with_source(
                        ErrorKind::Forbidden,
                        "Cache-Control: max-age=0 from a caller who may not invalidate the cache",
                    ));
                }
                UnauthorizedInvalidation::SucceedWithResponseHeader => ignored = true,
                UnauthorizedInvalidation::SucceedWithoutResponseHeader => {}
            }
            false
        }
    } else {
        false
    };
    let lookup = if invalidate {
        cache.stage.invalidate(&key);
        Lookup::Alone
    } else {
        cache.stage.lookup(&key).await
    };
    let mut response = match lookup {
        Lookup::Hit(entry) => {
            cx.cache_status = Some(CacheStatus::Hit);
            entry.response()
        }
        Lookup::Lead(leader) => {
            let response = fetch(cx, cache, key, invalidate).await?;
            drop(leader);
            response
        }
        Lookup::Alone => fetch(cx, cache, key, invalidate).await?,
    };
    if ignored {
        response
            .headers_mut()
            .insert(WARNING, HeaderValue::from_static(IGNORED_INVALIDATION));
    }
    Ok(Flow::Respond(response))
}

/// Phases 10 to 12, then the answer stored if it may be.
async fn fetch(
    cx: &mut Cx<'_>,
    cache: &RouteCache,
    key: Arc<str>,
    invalidated: bool,
) -> Result<http::Response<crate::body::ResponseBody>, GatewayError> {
    // Not cached until it is: an error of the phases leaves "bypass".
    cx.cache_status = Some(CacheStatus::Bypass);
    let response = crate::proxy::origin(cx).await?;
    let (response, stored) = cache.stage.store(key, response, cache.ttl).await;
    cx.cache_status = Some(match (invalidated, stored) {
        (true, _) => CacheStatus::Invalidated,
        (false, true) => CacheStatus::Miss,
        (false, false) => CacheStatus::Bypass,
    });
    Ok(response)
}

/// `Cache-Control: max-age=0` in the request — only that, as API Gateway:
/// a browser's `no-cache` on a hard reload is no request to invalidate
/// (and would be refused with 403 under `FAIL_WITH_403`).
fn asks_to_invalidate(headers: &http::HeaderMap) -> bool {
    headers.get_all(CACHE_CONTROL).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value.split(',').any(|directive| {
                directive.split_once('=').is_some_and(|(name, seconds)| {
                    name.trim().eq_ignore_ascii_case("max-age")
                        && seconds.trim().trim_matches('"') == "0"
                })
            })
        })
    })
}

/// Whether the caller may invalidate: anyone when the stage does not
/// require authorization, else a principal or API key it names.
fn may_invalidate(cache: &RouteCache, cx: &Cx<'_>) -> bool {
    let settings = &cache.stage.settings;
    if !settings.require_authorization {
        return true;
    }
    let principal = cx.authorized.as_ref().map(|a| a.principal_id.as_str());
    let key = cx.api_key.as_ref().map(|k| k.name.as_str());
    settings
        .invalidators
        .iter()
        .any(|name| Some(name.as_str()) == principal || Some(name.as_str()) == key)
}

/// The request's cache key.
fn key(cache: &RouteCache, cx: &Cx<'_>) -> Arc<str> {
    let route = cx.route.map_or("", |r| r.key.as_str());
    let mut key = KeyBuilder::new(&cache.tag, cx.parts.method.as_str(), route);
    for parameter in &cache.key_parameters {
        match parameter {
            CacheKeyParameter::Query(name) => {
                key.part(name);
                let query = cx.parts.uri.query().unwrap_or("");
                let mut found = false;
                for (_, value) in
                    form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k == name.as_str())
                {
                    key.part(&value);
                    found = true;
                }
                if !found {
                    key.absent();
                }
            }
            CacheKeyParameter::Header(name) => {
                key.part(name.as_str());
                let mut found = false;
                for value in cx.parts.headers.get_all(name) {
                    key.part(&String::from_utf8_lossy(value.as_bytes()));
                    found = true;
                }
                if !found {
                    key.absent();
                }
            }
            CacheKeyParameter::Path(name) => {
                key.part(name);
                let value = cx.route.and_then(|r| {
                    let at = r.param_names.iter().position(|p| p == name)?;
                    cx.params.get(at).copied()
                });
                match value {
                    Some(value) => key.part(value),
                    None => key.absent(),
                }
            }
        }
    }
    key.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_zero_and_no_cache_ask_to_invalidate() {
        let ask = |value: &'static str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(value));
            asks_to_invalidate(&headers)
        };
        assert!(ask("max-age=0"));
        assert!(ask("no-transform, Max-Age = \"0\""));
        assert!(
            !ask("no-cache"),
            "a browser's hard reload is not an invalidation"
        );
        assert!(!ask("max-age=10"));
        assert!(!ask("max-age=00x"));
        assert!(!ask("no-store"));
        assert!(!asks_to_invalidate(&http::HeaderMap::new()));
    }
}
