//! The built-in JWT authorizer, as API Gateway's HTTP API JWT authorizers:
//! a bearer token signed by a key of the issuer's JSON Web Key Set, with the
//! configured issuer, one of the audiences (`aud`, else `client_id`), not
//! expired and not before its `nbf` (both with leeway), and — per route —
//! one of the route's authorization scopes in `scope` or `scp`.
//!
//! Keys are looked up by `kid`. A set from a URL is fetched on first use,
//! again after `jwks_refresh`, and at once (at most every
//! [`MIN_REFETCH`]) when a token names a key id the set does not have, which
//! is how an issuer's key rotation is followed. Reads of the current set
//! take no lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::{JwksSource, JwtConfig};

/// Shortest time between two fetches of a key set for unknown key ids, so
/// that tokens with made-up `kid`s cannot make the gateway hammer the issuer.
pub const MIN_REFETCH: Duration = Duration::from_secs(1);
/// Largest key set accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How long a key set fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum JwtRefusal {
    /// The token is malformed, badly signed, expired, or for someone else: 401.
    #[error("{0}")]
    Invalid(String),
    /// The key set could not be fetched or read: 500.
    #[error("{0}")]
    Keys(String),
}

/// A verified token's claims and when it expires.
#[derive(Debug)]
pub struct Verified {
    /// Every claim of the payload.
    pub claims: Map<String, Value>,
    /// `exp`, seconds since the epoch.
    pub expires_at: u64,
}

impl Verified {
    /// What the token says about the caller, as API Gateway passes it on:
    /// `sub` as the principal, every claim as `claims.NAME` context.
    pub fn authorized(&self) -> super::Authorized {
        super::Authorized {
            principal_id: self
                .claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            context: self
                .claims
                .iter()
                .map(|(name, value)| {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (format!("claims.{name}"), text)
                })
                .collect(),
            usage_identifier: None,
            scopes: granted_scopes(&self.claims),
            via: super::Via::Jwt,
            typed_context: None,
        }
    }
}

/// Keys by id, and the keys without one.
#[derive(Default)]
struct KeySet {
    by_id: HashMap<String, Arc<DecodingKey>>,
    anonymous: Vec<Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

impl KeySet {
    fn parse(json: &[u8]) -> Result<KeySet, String> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| format!("not a JSON Web Key Set: {e}"))?;
        let mut keys = KeySet::default();
        for jwk in &set.keys {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                // A key of a type this gateway cannot use; others may do.
                continue;
            };
            let key = Arc::new(key);
            match &jwk.common.key_id {
                Some(id) => {
                    keys.by_id.insert(id.clone(), key);
                }
                None => keys.anonymous.push(key),
            }
        }
        if keys.by_id.is_empty() && keys.anonymous.is_empty() {
            return Err("the key set has no usable key".into());
        }
        Ok(keys)
    }

    /// Keys a token with `kid` may be signed with.
    fn candidates(&self, kid: Option<&str>) -> Vec<Arc<DecodingKey>> {
        match kid {
            Some(kid) => self.by_id.get(kid).cloned().into_iter().collect(),
            None => self
                .anonymous
                .iter()
                .chain(self.by_id.values())
                .cloned()
                .collect(),
        }
    }
}

/// Verifies tokens for one authorizer.
pub struct JwtVerifier {
    config: Arc<JwtConfig>,
    keys: ArcSwap<KeySet>,
    /// Held while fetching, so that concurrent requests wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
    client: Option<Client<HttpsConnector<HttpConnector>, Empty<Bytes>>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier for `config`; a key file is read now.
    pub fn new(config: Arc<JwtConfig>) -> Result<JwtVerifier, String> {
        let (keys, client) = match &config.jwks {
            JwksSource::File(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let keys = KeySet::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                (keys, None)
            }
            JwksSource::Url(_) => {
                let mut http = HttpConnector::new();
                http.enforce_http(false);
                http.set_connect_timeout(Some(FETCH_TIMEOUT));
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(crate::upstream::tls::client_config())
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http);
                // No pool: fetches are rare and may come from any worker's runtime.
                let client = Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(0)
                    .build(https);
                (KeySet::default(), Some(client))
            }
        };
        Ok(JwtVerifier {
            config,
            keys: ArcSwap::from_pointee(keys),
            fetching: tokio::sync::Mutex::new(()),
            client,
        })
    }

    /// Checks `token` (without the `Bearer ` prefix).
    pub async fn verify(&self, token: &str) -> Result<Verified, JwtRefusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| JwtRefusal::Invalid(format!("malformed token: {e}")))?;
        if !self.config.algorithms.is_empty() && !self.config.algorithms.contains(&header.alg) {
            return Err(JwtRefusal::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header.kid.as_deref();
        let mut candidates = self.current_keys(kid).await?;
        if candidates.is_empty() {
            return Err(JwtRefusal::Invalid(match kid {
                Some(kid) => format!("no key `{kid}` in the issuer's key set"),
                None => "the token names no key and the key set has none".into(),
            }));
        }
        let validation = self.validation(header.alg);
        let mut last_error = None;
        for key in candidates.drain(..) {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation) {
                Ok(data) => return self.check_claims(data.claims),
                Err(e) => last_error = Some(e),
            }
        }
        Err(JwtRefusal::Invalid(match last_error {
            Some(e) => describe(&e),
            None => "no key verifies the token".into(),
        }))
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.set_issuer(&[&self.config.issuer]);
        // `aud` or, failing that, `client_id` (as API Gateway): checked below.
        validation.validate_aud = false;
        validation
    }

    fn check_claims(&self, claims: Map<String, Value>) -> Result<Verified, JwtRefusal> {
        let audiences: Vec<&str> = match claims.get("aud").or_else(|| claims.get("client_id")) {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !audiences
            .iter()
            .any(|a| self.config.audiences.iter().any(|want| want == a))
        {
            return Err(JwtRefusal::Invalid(
                "the token's audience (aud or client_id) is not accepted".into(),
            ));
        }
        let expires_at = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        Ok(Verified { claims, expires_at })
    }

    /// The keys for `kid`, fetching the set when it is missing, stale, or
    /// lacks `kid`.
    async fn current_keys(&self, kid: Option<&str>) -> Result<Vec<Arc<DecodingKey>>, JwtRefusal> {
        let Some(client) = &self.client else {
            return Ok(self.keys.load().candidates(kid));
        };
        let refresh = self.config.jwks_refresh;
        let keys = self.keys.load();
        let fresh = keys.fetched_at.is_some_and(|t| t.elapsed() < refresh);
        let found = keys.candidates(kid);
        if fresh && !found.is_empty() {
            return Ok(found);
        }
        let _one_fetch = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let keys = self.keys.load();
        let found = keys.candidates(kid);
        let since = keys.fetched_at.map(|t| t.elapsed());
        let stale = since.is_none_or(|s| s >= refresh);
        let may_refetch = since.is_none_or(|s| s >= MIN_REFETCH);
        if !(stale || (found.is_empty() && may_refetch)) {
            return Ok(found);
        }
        let JwksSource::Url(uri) = &self.config.jwks else {
            return Ok(found);
        };
        match fetch(client, uri).await {
            Ok(fetched) => {
                tracing::info!(jwks = %uri, keys = fetched.by_id.len() + fetched.anonymous.len(), "JSON Web Key Set fetched");
                let found = fetched.candidates(kid);
                self.keys.store(Arc::new(fetched));
                Ok(found)
            }
            // Keys fetched earlier keep serving while the issuer is away.
            Err(error) if keys.fetched_at.is_some() => {
                tracing::warn!(jwks = %uri, %error, "cannot refresh the JSON Web Key Set; using the keys fetched before");
                Ok(found)
            }
            Err(error) => Err(JwtRefusal::Keys(format!(
                "cannot fetch the JSON Web Key Set from {uri}: {error}"
            ))),
        }
    }
}

async fn fetch(
    client: &Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    uri: &http::Uri,
) -> Result<KeySet, String> {
    let request = http::Request::get(uri.clone())
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(FETCH_TIMEOUT, client.request(request))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the issuer answered {}", response.status()));
    }
    let body = tokio::time::timeout(
        FETCH_TIMEOUT,
        Limited::new(response.into_body(), MAX_JWKS_BYTES).collect(),
    )
    .await
    .map_err(|_| "timed out".to_owned())?
    .map_err(|e| e.to_string())?
    .to_bytes();
    let mut keys = KeySet::parse(&body)?;
    keys.fetched_at = Some(Instant::now());
    Ok(keys)
}

/// A refusal reason for logs, without echoing the token.
fn describe(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match error.kind() {
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        K::InvalidIssuer => "the token's issuer is not accepted".into(),
        K::InvalidSignature => "the signature does not verify".into(),
        K::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        K::InvalidAlgorithm => "the key does not match the token's algorithm".into(),
        other => format!("invalid token: {other:?}"),
    }
}

/// The scopes a token grants: its `scope` (space-separated) and `scp`
/// (list or space-separated) claims.
pub fn granted_scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut granted = Vec::new();
    for claim in ["scope", "scp"] {
        match claims.get(claim) {
            Some(Value::String(s)) => granted.extend(s.split_whitespace().map(str::to_owned)),
            Some(Value::Array(list)) => {
                granted.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
    }
    granted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let claims =
            |json: &str| -> Map<String, Value> { serde_json::from_str(json).expect("json") };
        assert_eq!(
            granted_scopes(&claims(r#"{"scope":"profile orders:read"}"#)),
            ["profile", "orders:read"]
        );
        assert_eq!(
            granted_scopes(&claims(r#"{"scp":["admin"], "scope":"a"}"#)),
            ["a", "admin"]
        );
        assert_eq!(granted_scopes(&claims(r#"{"scp":"x y"}"#)), ["x", "y"]);
        assert!(granted_scopes(&claims(r#"{"scope":7}"#)).is_empty());
    }

    #[test]
    fn a_key_set_without_usable_keys_is_refused() {
        assert!(KeySet::parse(br#"{"keys":[]}"#).is_err());
        assert!(KeySet::parse(b"nope").is_err());
        let set = KeySet::parse(
            br#"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}"#,
        )
        .expect("oct key");
        assert_eq!(set.candidates(Some("k1")).len(), 1);
        assert!(set.candidates(Some("k2")).is_empty());
        assert_eq!(set.candidates(None).len(), 1);
    }
}
