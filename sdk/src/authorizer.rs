//! The authorizer role: decide whether a request may reach its integration,
//! as an API Gateway Lambda authorizer does.
//!
//! Implement [`Authorizer`] and export it with
//! [`export_authorizer!`](crate::export_authorizer).

pub use crate::authorizer_bindings::exports::turnpike::gateway::authorize::{
    Allow, AuthorizationRequest, Decision, Guest as Authorizer,
};

impl Allow {
    /// Allows the request as `principal_id`, with no context.
    pub fn principal(principal_id: impl Into<String>) -> Allow {
        Allow {
            principal_id: principal_id.into(),
            context: Vec::new(),
            usage_identifier: None,
            ttl_seconds: None,
        }
    }

    /// Adds a context entry, passed on to the integration.
    pub fn with_context(mut self, name: impl Into<String>, value: impl Into<String>) -> Allow {
        self.context.push((name.into(), value.into()));
        self
    }

    /// Sets the API key this request is accounted to.
    pub fn with_usage_identifier(mut self, key: impl Into<String>) -> Allow {
        self.usage_identifier = Some(key.into());
        self
    }

    /// Caches this decision for `seconds` instead of the configured TTL.
    pub fn with_ttl_seconds(mut self, seconds: u32) -> Allow {
        self.ttl_seconds = Some(seconds);
        self
    }
}

impl AuthorizationRequest {
    /// The token with a `Bearer ` prefix removed (any case), if there is a token.
    pub fn bearer_token(&self) -> Option<&str> {
        let token = self.token.as_deref()?.trim();
        match token.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => Some(token[7..].trim_start()),
            _ => Some(token),
        }
    }

    /// The value of an identity source, e.g. `$request.header.X-Api-Key`.
    pub fn identity(&self, source: &str) -> Option<&str> {
        crate::find(&self.identity, source, true)
    }
}

/// Exports a type implementing [`Authorizer`] as the component's `authorize`
/// function. Use it once, in the plugin crate's `lib.rs`.
#[macro_export]
macro_rules! export_authorizer {
    ($ty:ident) => {
        // Native builds (the plugin's own unit tests) export nothing: the
        // component's export names are not valid native symbol names.
        #[cfg(target_family = "wasm")]
        $crate::authorizer_bindings::export_authorizer_world!($ty);
    };
}
