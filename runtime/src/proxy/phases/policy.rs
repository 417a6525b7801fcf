//! Phase 4: resource policies by source address. The API's and the stage's
//! policies are checked before the route is looked up, so that a caller
//! they refuse gets 403 for every path and learns nothing of which routes
//! exist, as API Gateway answers; the route's own policy follows in phase 5
//! ([`check_route`]). Every level that has a policy must admit the caller;
//! a deny anywhere wins, as in an IAM policy.

use std::net::IpAddr;

use crate::config::{PolicyRefusal, SourcePolicy};
use crate::control::snapshot::CompiledRoute;
use crate::error::{ErrorKind, GatewayError};
use crate::proxy::{Cx, Flow, Verdict};

/// Refuses the caller with 403 unless the API's and the stage's policies
/// admit it; then refuses a path no stage serves with 404.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let client = cx.conn.client.ip();
    let api_policy = match cx.version {
        Some(version) => version.api.policy.as_ref(),
        None => cx.api.and_then(|a| a.policy.as_ref()),
    };
    check(api_policy, "API", client)?;
    let Some(version) = cx.version else {
        return Err(GatewayError::new(ErrorKind::NotFound));
    };
    check(version.stage.policy.as_ref(), "stage", client)?;
    Ok(Flow::Continue)
}

/// The route's own policy, once the route is known.
pub fn check_route(route: &CompiledRoute, client: IpAddr) -> Result<(), GatewayError> {
    check(route.policy.as_ref(), "route", client)
}

/// API Gateway's 403 `Forbidden` unless `policy` (of `level`) admits `client`.
fn check(policy: Option<&SourcePolicy>, level: &str, client: IpAddr) -> Result<(), GatewayError> {
    let Some(policy) = policy else {
        return Ok(());
    };
    policy.check(client).map_err(|refusal| {
        let why = match refusal {
            PolicyRefusal::Denied => "is in deny_source",
            PolicyRefusal::NotAllowed => "is not in allow_source",
        };
        GatewayError::with_source(
            ErrorKind::Forbidden,
            format!(
                "resource policy: {} {why} of the {level}",
                client.to_canonical()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{PolicyRefusal, SourcePolicy};
    use crate::proxy::testing::{Harness, request};

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().expect("network")).collect()
    }

    #[test]
    fn deny_wins_and_allow_lists_are_exclusive() {
        let policy = SourcePolicy {
            allow: nets(&["10.0.0.0/8", "2001:db8::/32"]),
            deny: nets(&["10.9.0.0/16"]),
        };
        let check = |ip: &str| policy.check(ip.parse().expect("ip"));
        assert_eq!(check("10.1.2.3"), Ok(()));
        assert_eq!(check("2001:db8::7"), Ok(()));
        assert_eq!(check("10.9.1.1"), Err(PolicyRefusal::Denied));
        assert_eq!(check("192.0.2.1"), Err(PolicyRefusal::NotAllowed));
        // An IPv4 client on a dual-stack socket arrives IPv4-mapped.
        assert_eq!(check("::ffff:10.1.2.3"), Ok(()));
        assert_eq!(check("::ffff:10.9.0.1"), Err(PolicyRefusal::Denied));
        assert_eq!(
            SourcePolicy::default().check("192.0.2.1".parse().expect("ip")),
            Ok(())
        );
    }

    const CONFIG: &str = r#"
[[apis]]
name = "a"
[apis.policy]
allow_source = ["10.0.0.0/8"]
[apis.stages."$default"]
[apis.stages.beta]
policy = { deny_source = ["10.0.0.2"] }
[[apis.routes]]
key = "GET /open"
integration = { type = "mock", body = "open" }
[[apis.routes]]
key = "GET /admin"
policy = { allow_source = ["10.0.0.1"] }
integration = { type = "mock", body = "admin" }
"#;

    #[tokio::test]
    async fn a_refused_caller_learns_nothing_about_routes() {
        let harness = Harness::new(CONFIG);
        let cases = [
            ("10.0.0.1", "GET", "/open", 200),
            ("10.0.0.1", "GET", "/admin", 200),
            ("10.0.0.2", "GET", "/admin", 403),
            ("10.0.0.2", "GET", "/nothing-here", 404),
            ("10.0.0.2", "POST", "/open", 405),
            ("10.0.0.2", "GET", "/beta/open", 403),
            ("10.0.0.3", "GET", "/beta/open", 200),
            // Outside the API's allow list: 403 whatever the path or method.
            ("192.0.2.7", "GET", "/open", 403),
            ("192.0.2.7", "GET", "/nothing-here", 403),
            ("192.0.2.7", "DELETE", "/open", 403),
            ("192.0.2.7", "GET", "/beta/nothing-here", 403),
        ];
        for (ip, method, path, status) in cases {
            let (got, body) = harness.send_from(ip, request(method, path).body("")).await;
            assert_eq!(got, status, "{ip} {method} {path}: {body}");
        }
    }
}
