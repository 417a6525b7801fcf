//! __NAME__: a Turnpike authorizer.
//!
//! The starting point admits a request whose bearer token equals the `token`
//! setting, as the principal named by the `principal` setting (default
//! `user`). Change `authorize` to decide the way your API needs; `cargo test`
//! runs the tests below natively.

use turnpike_sdk::authorizer::{Allow, AuthorizationRequest, Authorizer, Decision};
use turnpike_sdk::{config, log};

/// The plugin.
pub struct Plugin;

impl Authorizer for Plugin {
    fn authorize(request: AuthorizationRequest) -> Result<Decision, String> {
        let Some(token) = request.bearer_token() else {
            return Ok(Decision::Unauthorized);
        };
        // An `Err` is a plugin failure: the client gets a 500 and the gateway
        // logs this message with the plugin's name.
        let expected = config::get("token").ok_or("the `token` setting is missing")?;
        if token != expected {
            log::info(&format!("wrong token for {}", request.request.path));
            return Ok(Decision::Deny);
        }
        let principal = config::get("principal").unwrap_or_else(|| "user".into());
        // Context entries reach an HTTP integration as
        // `x-turnpike-context-<name>` headers.
        Ok(Decision::Allow(
            Allow::principal(principal).with_context("authorizer", "__NAME__"),
        ))
    }
}

turnpike_sdk::export_authorizer!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use turnpike_sdk::testing;

    fn request(token: Option<&str>) -> AuthorizationRequest {
        AuthorizationRequest {
            token: token.map(str::to_owned),
            identity: Vec::new(),
            request: testing::request_info("GET", "/hello", &[]),
        }
    }

    #[test]
    fn the_configured_token_is_allowed_and_others_are_denied() {
        testing::set_config(&[("token", "let-me-in"), ("principal", "alice")]);
        match Plugin::authorize(request(Some("Bearer let-me-in"))) {
            Ok(Decision::Allow(allow)) => assert_eq!(allow.principal_id, "alice"),
            other => panic!("expected allow, got {other:?}"),
        }
        assert!(matches!(Plugin::authorize(request(Some("Bearer nope"))), Ok(Decision::Deny)));
        assert!(matches!(Plugin::authorize(request(None)), Ok(Decision::Unauthorized)));
    }
}
