//! Phase 4: resource policies by source address, after routing and before
//! authorization. The API's, the stage's and the route's policies must all
//! admit the caller; a deny anywhere wins, as in an IAM policy.

use std::net::IpAddr;

use crate::config::{PolicyRefusal, SourcePolicy};
use crate::error::{ErrorKind, GatewayError};
use crate::snapshot::{CompiledApi, CompiledStage};

/// Refuses the request with API Gateway's 403 `Forbidden` unless every
/// policy that applies admits `client`.
pub fn check(
    api: &CompiledApi,
    stage: &CompiledStage,
    route: usize,
    client: IpAddr,
) -> Result<(), GatewayError> {
    let route_policy = api.route_policies.get(route).and_then(Option::as_ref);
    let levels: [(&str, Option<&SourcePolicy>); 3] = [
        ("API", api.policy.as_ref()),
        ("stage", stage.policy.as_ref()),
        ("route", route_policy),
    ];
    for (level, policy) in levels {
        let Some(policy) = policy else { continue };
        if let Err(refusal) = policy.check(client) {
            let why = match refusal {
                PolicyRefusal::Denied => "is in deny_source",
                PolicyRefusal::NotAllowed => "is not in allow_source",
            };
            return Err(GatewayError::with_source(
                ErrorKind::Forbidden,
                format!(
                    "resource policy: {} {why} of the {level}",
                    client.to_canonical()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{PolicyRefusal, SourcePolicy};

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
}
