//! Authorizers and what they decide: the built-in JWT and SigV4 checks, the
//! `wasm` authorizer plugins, and the decision cache in front of them.
//!
//! This module decides; the authorize phase of the request path
//! (`proxy::phases::authorize`) gathers the identity from the request, asks,
//! and turns the answer into a response.

pub mod jwt;
pub mod lambda;
pub mod sigv4;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::AuthorizerConfig;
use crate::plugin::{AuthorizerPlugin, LambdaPlugin};
use jwt::JwtVerifier;
use sigv4::SigV4Verifier;

/// What an allowing authorizer said about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The principal id.
    pub principal_id: String,
    /// Context entries for the integration.
    pub context: Vec<(String, String)>,
    /// API key to account the request to.
    pub usage_identifier: Option<String>,
    /// OAuth scopes a JWT granted (`scope`, `scp`).
    pub scopes: Vec<String>,
    /// Which kind of authorizer said it (Lambda events show each
    /// differently).
    pub via: Via,
    /// A Lambda authorizer's context with its JSON types, for 2.0 events.
    pub typed_context: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
}

impl Authorized {
    /// `principalId`, or the value of a context key: what
    /// `${context.authorizer.KEY}` stands for.
    pub fn value(&self, key: &str) -> Option<&str> {
        if key == "principalId" {
            return Some(&self.principal_id);
        }
        self.context
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The kind of authorizer that allowed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A plugin of the `authorizer` world.
    Plugin,
    /// A Lambda-style authorizer.
    Lambda,
    /// The JWT authorizer.
    Jwt,
    /// The SigV4 authorizer.
    SigV4,
}

/// An authorizer ready to run, shared by every route and stage that names
/// it (so that they share its decision cache).
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
    /// A Lambda-style handler answering API Gateway's authorizer events.
    Lambda {
        /// The handler.
        plugin: Arc<LambdaPlugin>,
        /// The event format.
        format: crate::config::PayloadFormat,
        /// The API's names, for the method ARN.
        aws: crate::config::AwsNames,
        /// The ARN its context reports as the invoked function's.
        function_arn: String,
    },
    /// The built-in JWT check.
    Jwt(Arc<JwtVerifier>),
    /// The built-in SigV4 check.
    SigV4(Arc<SigV4Verifier>),
}

impl CompiledAuthorizer {
    /// An authorizer deciding with `decider`, with a cache unless its TTL is
    /// zero.
    pub fn new(config: AuthorizerConfig, decider: Decider) -> CompiledAuthorizer {
        let cache = (!config.cache_ttl.is_zero()).then(|| DecisionCache::new(config.cache_ttl));
        CompiledAuthorizer {
            config,
            decider,
            cache,
        }
    }
}

impl std::fmt::Debug for CompiledAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let decider = match &self.decider {
            Decider::Wasm(plugin) => plugin.name().to_owned(),
            Decider::Lambda { plugin, .. } => plugin.name().to_owned(),
            Decider::Jwt(_) => "jwt".to_owned(),
            Decider::SigV4(_) => "sigv4".to_owned(),
        };
        f.debug_struct("CompiledAuthorizer")
            .field("name", &self.config.name)
            .field("decider", &decider)
            .finish()
    }
}

/// A remembered decision.
#[derive(Debug, Clone)]
pub enum Cached {
    /// Allowed, with what the authorizer said.
    Allow(Arc<Authorized>),
    /// A Lambda authorizer's policy, evaluated again for each request.
    Policy(Arc<lambda::PolicyGrant>),
    /// Denied.
    Deny,
}

#[derive(Clone)]
struct CacheEntry {
    decision: Cached,
    ttl: Duration,
}

struct PerEntryTtl;

impl moka::Expiry<Box<str>, CacheEntry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Box<str>,
        value: &CacheEntry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// An authorizer's decision cache, keyed by the identity source values.
pub struct DecisionCache {
    entries: moka::sync::Cache<Box<str>, CacheEntry>,
    ttl: Duration,
}

impl DecisionCache {
    /// A cache whose entries live `ttl` unless the decider says otherwise.
    pub fn new(ttl: Duration) -> DecisionCache {
        DecisionCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .expire_after(PerEntryTtl)
                .build(),
            ttl,
        }
    }

    /// The cache's configured time to live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The cache key of a set of identity source values.
    pub fn key<'v>(values: impl IntoIterator<Item = &'v str>) -> Box<str> {
        let mut key = String::new();
        for value in values {
            key.push_str(value);
            key.push('\0');
        }
        key.into_boxed_str()
    }

    /// The decision remembered for `key`, if it has not expired.
    pub fn get(&self, key: &str) -> Option<Cached> {
        self.entries.get(key).map(|e| e.decision)
    }

    /// Remembers `decision` for `ttl` (the cache's own TTL when `None`); a
    /// zero TTL remembers nothing.
    pub fn remember(&self, key: Box<str>, decision: Cached, ttl: Option<Duration>) {
        let ttl = ttl.unwrap_or(self.ttl);
        if !ttl.is_zero() {
            self.entries.insert(key, CacheEntry { decision, ttl });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_live_their_own_ttl() {
        let cache = DecisionCache::new(Duration::from_secs(300));
        let allowed = Arc::new(Authorized {
            principal_id: "u".into(),
            context: Vec::new(),
            usage_identifier: None,
            scopes: Vec::new(),
            via: Via::Plugin,
            typed_context: None,
        });
        let key = DecisionCache::key(["Bearer a"]);
        cache.remember(key.clone(), Cached::Allow(allowed.clone()), None);
        assert!(matches!(cache.get(&key), Some(Cached::Allow(a)) if a == allowed));
        // A zero TTL (a plugin saying "do not cache") keeps nothing.
        let other = DecisionCache::key(["Bearer b"]);
        cache.remember(other.clone(), Cached::Deny, Some(Duration::ZERO));
        assert!(cache.get(&other).is_none());
        // Values are separated, so ("a", "bc") and ("ab", "c") differ.
        assert_ne!(
            DecisionCache::key(["a", "bc"]),
            DecisionCache::key(["ab", "c"])
        );
    }
}
