//! A `request` authorizer: decides from several identity sources at once,
//! as API Gateway's REQUEST authorizers do.
//!
//! Configured identity sources (in this order):
//! `$request.header.x-client-id`, `$request.querystring.tenant`,
//! `$stageVariables.region`.
//!
//! Configuration:
//! - `tenants`: comma-separated tenants allowed.
//! - `blocked_clients`: comma-separated client ids always denied.
//! - `usage_keys`: optional comma-separated `TENANT:API_KEY` pairs; an
//!   allowed request of such a tenant is accounted to that API key (its
//!   usage identifier), for APIs with `api_key_source = "authorizer"`.
//!
//! Allowed requests get the principal `CLIENT@TENANT` and the context
//! entries `tenant`, `region` and `routeKey`.

use turnpike_sdk::authorizer::{Allow, AuthorizationRequest, Authorizer, Decision};
use turnpike_sdk::config;

/// The plugin.
pub struct TenantGate;

impl Authorizer for TenantGate {
    fn authorize(request: AuthorizationRequest) -> Result<Decision, String> {
        let (Some(client), Some(tenant)) = (
            request.identity("$request.header.x-client-id"),
            request.identity("$request.querystring.tenant"),
        ) else {
            return Ok(Decision::Unauthorized);
        };
        let region = request
            .identity("$stageVariables.region")
            .unwrap_or("unknown");
        if config::get_list("blocked_clients")
            .iter()
            .any(|c| c == client)
        {
            return Ok(Decision::Deny);
        }
        if !config::get_list("tenants").iter().any(|t| t == tenant) {
            return Ok(Decision::Deny);
        }
        let mut allow = Allow::principal(format!("{client}@{tenant}"))
            .with_context("tenant", tenant)
            .with_context("region", region)
            .with_context("routeKey", request.request.route_key.as_str());
        let usage_key = config::get_list("usage_keys").into_iter().find_map(|pair| {
            let (for_tenant, key) = pair.split_once(':')?;
            (for_tenant == tenant).then(|| key.to_owned())
        });
        if let Some(key) = usage_key {
            allow = allow.with_usage_identifier(key);
        }
        Ok(Decision::Allow(allow))
    }
}

turnpike_sdk::export_authorizer!(TenantGate);

#[cfg(test)]
mod tests {
    use super::*;
    use turnpike_sdk::testing;

    fn request(client: &str, tenant: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            token: None,
            identity: vec![
                ("$request.header.x-client-id".into(), client.into()),
                ("$request.querystring.tenant".into(), tenant.into()),
                ("$stageVariables.region".into(), "eu-west-1".into()),
            ],
            request: testing::request_info("GET", "/reports", &[]),
        }
    }

    #[test]
    fn allows_known_tenants_unless_the_client_is_blocked() {
        testing::set_config(&[("tenants", "acme, globex"), ("blocked_clients", "mallory")]);
        match TenantGate::authorize(request("ann", "acme")) {
            Ok(Decision::Allow(allow)) => {
                assert_eq!(allow.principal_id, "ann@acme");
                assert!(
                    allow
                        .context
                        .contains(&("region".into(), "eu-west-1".into()))
                );
            }
            other => panic!("expected allow, got {other:?}"),
        }
        assert!(matches!(
            TenantGate::authorize(request("ann", "initech")),
            Ok(Decision::Deny)
        ));
        assert!(matches!(
            TenantGate::authorize(request("mallory", "acme")),
            Ok(Decision::Deny)
        ));
    }

    #[test]
    fn accounts_tenants_to_their_usage_keys() {
        testing::set_config(&[
            ("tenants", "acme, globex"),
            ("usage_keys", "acme:key-of-acme"),
        ]);
        let usage = |tenant| match TenantGate::authorize(request("ann", tenant)) {
            Ok(Decision::Allow(allow)) => allow.usage_identifier,
            other => panic!("expected allow, got {other:?}"),
        };
        assert_eq!(usage("acme").as_deref(), Some("key-of-acme"));
        assert_eq!(usage("globex"), None);
    }
}
