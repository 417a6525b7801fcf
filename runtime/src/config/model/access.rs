//! Who may call a route: authorizers (`wasm`, Lambda-style, JWT, SigV4),
//! where their identity comes from, and request validation.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::PayloadFormat;

/// `[apis.authorizers.NAME]`.
#[derive(Debug, Clone)]
pub struct AuthorizerConfig {
    /// Name routes refer to.
    pub name: String,
    /// What decides.
    pub kind: AuthorizerKind,
    /// What the plugin receives.
    pub payload: AuthorizerPayload,
    /// Where the identity comes from; all must be present, else 401.
    pub identity_sources: Vec<IdentitySource>,
    /// How long decisions are cached; zero disables the cache.
    pub cache_ttl: Duration,
    /// What a plugin failure means.
    pub on_error: OnError,
    /// `identity_validation_expression`: a `token` authorizer's token must
    /// match it (whole), else 401 without calling the plugin.
    pub identity_validation: Option<regex::Regex>,
}

/// What decides for an authorizer.
#[derive(Debug, Clone)]
pub enum AuthorizerKind {
    /// A plugin of the `authorizer` world; index into [`Config::plugins`].
    Wasm {
        /// The plugin.
        plugin: usize,
    },
    /// `format = "lambda"`: a plugin of the `lambda` world answering API
    /// Gateway's authorizer event with an IAM policy or a simple response.
    Lambda {
        /// The plugin.
        plugin: usize,
        /// The authorizer event's format (`1.0`: REST's TOKEN and REQUEST
        /// events; `2.0`: HTTP APIs').
        payload_format: PayloadFormat,
    },
    /// A JSON Web Token check, built in.
    Jwt(Arc<JwtConfig>),
    /// An AWS Signature Version 4 check, built in.
    SigV4(Arc<SigV4Config>),
}

/// `type = "sigv4"`: requests signed with AWS Signature Version 4.
#[derive(Clone)]
pub struct SigV4Config {
    /// The region signatures must be scoped to; `None`: any.
    pub region: Option<String>,
    /// The service signatures must be scoped to.
    pub service: String,
    /// Accepted access keys.
    pub credentials: Vec<SigV4Credential>,
}

impl fmt::Debug for SigV4Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets.
        f.debug_struct("SigV4Config")
            .field("region", &self.region)
            .field("service", &self.service)
            .field(
                "access_key_ids",
                &self
                    .credentials
                    .iter()
                    .map(|c| &c.access_key_id)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// An access key a `sigv4` authorizer accepts.
#[derive(Clone)]
pub struct SigV4Credential {
    /// The key id (`AKIA...`).
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    /// The principal id requests signed with it get.
    pub principal: String,
}

/// Default service of SigV4 signatures, as API Gateway's.
pub const DEFAULT_SIGV4_SERVICE: &str = "execute-api";

impl AuthorizerConfig {
    /// The plugin deciding, for `wasm` authorizers.
    pub fn plugin(&self) -> Option<usize> {
        match self.kind {
            AuthorizerKind::Wasm { plugin } | AuthorizerKind::Lambda { plugin, .. } => Some(plugin),
            AuthorizerKind::Jwt(_) | AuthorizerKind::SigV4(_) => None,
        }
    }
}

/// `type = "jwt"`: API Gateway's JWT authorizer.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// Accepted `aud` (or `client_id`) values; one must match.
    pub audiences: Vec<String>,
    /// Where the signing keys are.
    pub jwks: JwksSource,
    /// Accepted `alg` values; empty: any the key type allows.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    /// Clock skew allowed for `exp` and `nbf`.
    pub leeway: Duration,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_refresh: Duration,
}

/// A route's request validation, as API Gateway's request validators.
#[derive(Debug, Clone, Default)]
pub struct RequestValidation {
    /// Body schemas by media type (lower case, no parameters), `$default`
    /// for any other.
    pub models: Vec<(String, Arc<Model>)>,
    /// Query string parameters that must be present.
    pub required_query: Vec<String>,
    /// Headers that must be present.
    pub required_headers: Vec<HeaderName>,
}

/// `[apis.models.NAME]`: a JSON Schema.
#[derive(Debug)]
pub struct Model {
    /// The model's name.
    pub name: String,
    /// The schema, compiled.
    pub validator: jsonschema::Validator,
}

/// A JSON Web Key Set's location.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Read when the configuration loads.
    File(PathBuf),
    /// Fetched on first use, again after `jwks_refresh`, and when a token
    /// names a key id the set does not have.
    Url(http::Uri),
}

/// Default clock skew allowed for JWT `exp` and `nbf`.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(60);
/// Default time fetched JWKS are used before refetching.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(3600);

/// API Gateway's authorizer types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerPayload {
    /// One identity source, passed as the token.
    Token,
    /// Several identity sources and the whole request.
    Request,
}

/// What an authorizer failure (trap, timeout, error) does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Fail closed: 500.
    Deny,
    /// Fail open: let the request through without a principal.
    Allow,
}

/// An identity source, written as API Gateway writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `$request.header.NAME`.
    Header(HeaderName),
    /// `$request.querystring.NAME`.
    Query(String),
    /// `$stageVariables.NAME`.
    StageVariable(String),
    /// `$context.identity.sourceIp`.
    SourceIp,
}

impl IdentitySource {
    /// Parses `$request.header.Authorization` and friends.
    pub fn parse(text: &str) -> Result<IdentitySource, String> {
        if let Some(name) = text.strip_prefix("$request.header.") {
            return HeaderName::try_from(name)
                .map(IdentitySource::Header)
                .map_err(|_| format!("`{name}` is not a valid header name"));
        }
        if let Some(name) = text
            .strip_prefix("$request.querystring.")
            .filter(|n| !n.is_empty())
        {
            return Ok(IdentitySource::Query(name.to_owned()));
        }
        if let Some(name) = text
            .strip_prefix("$stageVariables.")
            .filter(|n| !n.is_empty())
        {
            return Ok(IdentitySource::StageVariable(name.to_owned()));
        }
        if text == "$context.identity.sourceIp" {
            return Ok(IdentitySource::SourceIp);
        }
        Err(format!(
            "`{text}` is not an identity source; use `$request.header.NAME`, `$request.querystring.NAME`, `$stageVariables.NAME` or `$context.identity.sourceIp`"
        ))
    }
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentitySource::Header(h) => write!(f, "$request.header.{h}"),
            IdentitySource::Query(q) => write!(f, "$request.querystring.{q}"),
            IdentitySource::StageVariable(v) => write!(f, "$stageVariables.{v}"),
            IdentitySource::SourceIp => f.write_str("$context.identity.sourceIp"),
        }
    }
}
