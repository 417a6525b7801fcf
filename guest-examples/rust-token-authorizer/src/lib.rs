//! A `token` authorizer: admits requests whose bearer token is on a list from
//! the plugin's configuration.
//!
//! Configuration (`[plugins.NAME.config]`):
//! - `tokens`: comma-separated `token:principal` pairs, e.g. `"s3cret:alice, t0ken:bob"`.
//!
//! Allowed requests carry the principal and a `tokenSource` context entry.

use turnpike_sdk::authorizer::{Allow, AuthorizationRequest, Authorizer, Decision};
use turnpike_sdk::{config, log};

/// The plugin.
pub struct TokenList;

impl Authorizer for TokenList {
    fn authorize(request: AuthorizationRequest) -> Result<Decision, String> {
        let Some(token) = request.bearer_token() else {
            return Ok(Decision::Unauthorized);
        };
        let tokens = config::get("tokens").ok_or("the `tokens` setting is missing")?;
        for pair in tokens.split(',') {
            let (known, principal) = pair
                .trim()
                .split_once(':')
                .unwrap_or((pair.trim(), "anonymous"));
            if !known.is_empty() && known == token {
                return Ok(Decision::Allow(
                    Allow::principal(principal).with_context("tokenSource", "static-list"),
                ));
            }
        }
        log::info(&format!("unknown token for {}", request.request.path));
        Ok(Decision::Deny)
    }
}

turnpike_sdk::export_authorizer!(TokenList);

#[cfg(test)]
mod tests {
    use super::*;
    use turnpike_sdk::testing;

    fn request(token: Option<&str>) -> AuthorizationRequest {
        AuthorizationRequest {
            token: token.map(str::to_owned),
            identity: Vec::new(),
            request: testing::request_info("GET", "/pets", &[]),
        }
    }

    #[test]
    fn allows_listed_tokens_and_denies_others() {
        testing::set_config(&[("tokens", "s3cret:alice, other:bob")]);
        match TokenList::authorize(request(Some("Bearer s3cret"))) {
            Ok(Decision::Allow(allow)) => assert_eq!(allow.principal_id, "alice"),
            other => panic!("expected allow, got {other:?}"),
        }
        assert!(matches!(
            TokenList::authorize(request(Some("Bearer nope"))),
            Ok(Decision::Deny)
        ));
        assert!(matches!(
            TokenList::authorize(request(None)),
            Ok(Decision::Unauthorized)
        ));
    }
}
