//! `[apis.stages.NAME.cache]` and a route's `cache`: API Gateway's stage
//! cache, bounded in bytes, with its cache key parameters and its policy
//! for clients that ask to invalidate (`Cache-Control: max-age=0`).

use std::time::Duration;

use http::HeaderName;

/// API Gateway's default time to live of a cached response.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
/// API Gateway's longest time to live.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(3600);
/// Responses with larger bodies are served without being stored (API
/// Gateway's limit is 1 MB).
pub const DEFAULT_CACHE_MAX_ENTRY_BYTES: u64 = 1024 * 1024;
/// How long concurrent misses of one key wait for the first one's fetch
/// before going to the integration themselves.
pub const DEFAULT_CACHE_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// A stage's response cache.
#[derive(Debug, Clone, PartialEq)]
pub struct StageCacheConfig {
    /// Bytes the stage's cached responses may take (keys, headers and
    /// bodies), not a count of entries.
    pub capacity: u64,
    /// Time to live of an entry, unless its route sets its own.
    pub ttl: Duration,
    /// Responses with a larger body pass through without being stored.
    pub max_entry_bytes: u64,
    /// Statuses whose responses are stored.
    pub statuses: Vec<u16>,
    /// Whether `Cache-Control: max-age=0` needs a caller named in
    /// `invalidators` (API Gateway's "require authorization").
    pub require_authorization: bool,
    /// Principal ids (from the route's authorizer) and API key names whose
    /// `max-age=0` is honoured.
    pub invalidators: Vec<String>,
    /// What a `max-age=0` from anyone else gets.
    pub unauthorized: UnauthorizedInvalidation,
    /// How long a miss waits for a concurrent miss of the same key.
    pub lock_timeout: Duration,
}

/// API Gateway's `unauthorizedCacheControlHeaderStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnauthorizedInvalidation {
    /// `FAIL_WITH_403`: the request is refused.
    FailWith403,
    /// `SUCCEED_WITH_RESPONSE_HEADER`: the header is ignored and the answer
    /// says so in a `Warning` header.
    SucceedWithResponseHeader,
    /// `SUCCEED_WITHOUT_RESPONSE_HEADER`: the header is ignored.
    SucceedWithoutResponseHeader,
}

impl UnauthorizedInvalidation {
    /// The value as API Gateway and the configuration spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            UnauthorizedInvalidation::FailWith403 => "FAIL_WITH_403",
            UnauthorizedInvalidation::SucceedWithResponseHeader => "SUCCEED_WITH_RESPONSE_HEADER",
            UnauthorizedInvalidation::SucceedWithoutResponseHeader => {
                "SUCCEED_WITHOUT_RESPONSE_HEADER"
            }
        }
    }

    /// Parses API Gateway's name (any case, `-` or `_`).
    pub fn parse(text: &str) -> Option<UnauthorizedInvalidation> {
        match text.to_ascii_uppercase().replace('-', "_").as_str() {
            "FAIL_WITH_403" => Some(UnauthorizedInvalidation::FailWith403),
            "SUCCEED_WITH_RESPONSE_HEADER" => {
                Some(UnauthorizedInvalidation::SucceedWithResponseHeader)
            }
            "SUCCEED_WITHOUT_RESPONSE_HEADER" => {
                Some(UnauthorizedInvalidation::SucceedWithoutResponseHeader)
            }
            _ => None,
        }
    }
}

/// A route's cache settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteCacheConfig {
    /// `Some(true)`: every method of the route is cached; `Some(false)`:
    /// none; `None`: `GET` only, as API Gateway.
    pub enabled: Option<bool>,
    /// Overrides the stage's time to live.
    pub ttl: Option<Duration>,
    /// What besides stage, method and resource path tells entries apart.
    pub key_parameters: Vec<CacheKeyParameter>,
}

/// A request parameter in the cache key (API Gateway's
/// `method.request.querystring.NAME` and the like).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKeyParameter {
    /// Every value of a query string parameter.
    Query(String),
    /// Every value of a header.
    Header(HeaderName),
    /// A path parameter of the route key.
    Path(String),
}

impl CacheKeyParameter {
    /// Parses `method.request.{querystring,header,path}.NAME` or the short
    /// `{query,header,path}.NAME`.
    pub fn parse(text: &str) -> Result<CacheKeyParameter, String> {
        let rest = text.strip_prefix("method.request.").unwrap_or(text);
        let (kind, name) = rest.split_once('.').ok_or_else(|| {
            format!(
                "`{text}` is not a cache key parameter: use `method.request.querystring.NAME`, `method.request.header.NAME` or `method.request.path.NAME`"
            )
        })?;
        if name.is_empty() {
            return Err(format!("`{text}` names no parameter"));
        }
        match kind {
            "querystring" | "query" => Ok(CacheKeyParameter::Query(name.to_owned())),
            "header" => HeaderName::from_bytes(name.as_bytes())
                .map(CacheKeyParameter::Header)
                .map_err(|_| format!("`{name}` is not a header name")),
            "path" => Ok(CacheKeyParameter::Path(name.to_owned())),
            _ => Err(format!(
                "`{kind}` is not a parameter location: `querystring`, `header` or `path`"
            )),
        }
    }
}
