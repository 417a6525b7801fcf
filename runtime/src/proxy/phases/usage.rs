//! Phase 7: API keys, usage plans and throttling, after authorization.
//!
//! A route that requires a key takes it from `x-api-key` (or from its
//! authorizer's usage identifier, with `api_key_source = "authorizer"`);
//! a missing, unknown or disabled key, or one in no usage plan of the
//! stage, is API Gateway's 403 `Forbidden`. Then, in order: the key's plan
//! rate and burst, the route's (or stage's) throttle for all callers — both
//! 429 `Too Many Requests` — and last the key's quota, 429 `Limit
//! Exceeded`, so that only admitted requests count against it.

use std::sync::Arc;

use crate::config::ApiKeySource;
use crate::control::snapshot::PlanLimits;
use crate::error::{Blame, ErrorKind, GatewayError};
use crate::integrations::UsedApiKey;
use crate::proxy::{Cx, Flow, Verdict};
use crate::usage::{Bucket, QuotaRefusal, Refusal};

/// The header clients send their API key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Admits the request or refuses it with 403 or 429.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let (Some(route), Some(version)) = (cx.route, cx.version) else {
        return Ok(Flow::Continue);
    };
    let throttle = route.throttle.as_ref();
    if !route.api_key_required {
        route_throttle(throttle).await?;
        return Ok(Flow::Continue);
    }
    let presented: Option<&[u8]> = match version.api.api_key_source {
        ApiKeySource::Header => cx.parts.headers.get(API_KEY_HEADER).map(|v| v.as_bytes()),
        ApiKeySource::Authorizer => cx
            .authorized
            .as_deref()
            .and_then(|a| a.usage_identifier.as_deref())
            .map(str::as_bytes),
    };
    let Some(presented) = presented else {
        return Err(GatewayError::with_source(
            ErrorKind::ApiKeyRefused,
            "the route requires an API key and none was sent",
        ));
    };
    let Some(&key) = cx.snapshot.api_keys.get(presented) else {
        return Err(GatewayError::with_source(
            ErrorKind::ApiKeyRefused,
            "the API key is unknown or disabled",
        ));
    };
    let Some(plan) = version.stage.plans.get(&key) else {
        return Err(GatewayError::with_source(
            ErrorKind::ApiKeyRefused,
            "the API key is in no usage plan of this stage",
        ));
    };
    admit(plan, throttle).await?;
    // Lambda events show the key the request was accounted to.
    cx.api_key = Some(UsedApiKey {
        value: String::from_utf8_lossy(presented).into_owned(),
        name: plan.key.clone(),
    });
    Ok(Flow::Continue)
}

/// Admits one call of an API key in `plan`: the plan's rate, then the
/// route's throttle, then the quota (so that only admitted calls count
/// against it). A WebSocket message is admitted the same way.
pub async fn admit(plan: &PlanLimits, throttle: Option<&Arc<Bucket>>) -> Result<(), GatewayError> {
    let admitted = limit(plan, throttle).await;
    match &admitted {
        Ok(()) => plan.daily.admitted(),
        Err(e) if e.status().as_u16() == 429 => plan.daily.refused(),
        Err(_) => {}
    }
    admitted
}

async fn limit(plan: &PlanLimits, throttle: Option<&Arc<Bucket>>) -> Result<(), GatewayError> {
    if let Some(bucket) = &plan.bucket {
        bucket.admit().await.map_err(|refusal| match refusal {
            Refusal::Limited(seconds) => {
                plan.metrics.throttled.inc();
                GatewayError::with_source(
                    ErrorKind::TooManyRequests(seconds),
                    format!(
                        "API key `{}` exceeds the rate of usage plan `{}`",
                        plan.key, plan.plan
                    ),
                )
            }
            Refusal::Unavailable(why) => unavailable(why),
        })?;
    }
    route_throttle(throttle).await?;
    if let Some(quota) = &plan.quota {
        quota.admit().await.map_err(|refusal| match refusal {
            QuotaRefusal::Exceeded(seconds) => {
                plan.metrics.quota_exceeded.inc();
                GatewayError::with_source(
                    ErrorKind::LimitExceeded(seconds),
                    format!(
                        "API key `{}` used up the quota of usage plan `{}`",
                        plan.key, plan.plan
                    ),
                )
            }
            QuotaRefusal::Storage(why) => unavailable(why),
        })?;
    }
    Ok(())
}

/// The route's (or stage's) throttle, for all callers together.
pub async fn route_throttle(bucket: Option<&Arc<Bucket>>) -> Result<(), GatewayError> {
    let Some(bucket) = bucket else {
        return Ok(());
    };
    bucket.admit().await.map_err(|refusal| match refusal {
        Refusal::Limited(seconds) => GatewayError::with_source(
            ErrorKind::TooManyRequests(seconds),
            "the route's throttle is exhausted",
        ),
        Refusal::Unavailable(why) => unavailable(why),
    })
}

/// The usage store cannot answer and the policy is to fail closed.
fn unavailable(why: String) -> GatewayError {
    GatewayError::with_source(
        ErrorKind::Internal,
        format!("the usage store is unavailable: {why}"),
    )
    .blamed_on(Blame::Dependency)
}

#[cfg(test)]
mod tests {
    use crate::proxy::testing::{Harness, request};

    const CONFIG: &str = r#"
[api_keys.alice]
value = "alice-key-0123456789abcdef"
[api_keys.bob]
value = "bob-key-0123456789abcdefgh"
enabled = false
[api_keys.carol]
value = "carol-key-0123456789abcdef"

[usage_plans.basic]
api_keys = ["alice", "bob"]
stages = [{ api = "a", stage = "$default" }]
throttle = { rate = 0.001, burst = 2 }
quota = { limit = 3, period = "day" }

[[apis]]
name = "a"
[[apis.routes]]
key = "GET /keyed"
api_key_required = true
integration = { type = "mock", body = "ok" }
[[apis.routes]]
key = "GET /open"
throttle = { rate = 0.001, burst = 1 }
integration = { type = "mock", body = "open" }
"#;

    #[tokio::test]
    async fn keys_plans_rates_and_throttles() {
        let harness = Harness::new(CONFIG);
        let keyed = |key: Option<&str>| {
            let builder = request("GET", "/keyed");
            match key {
                Some(k) => builder.header("x-api-key", k).body(""),
                None => builder.body(""),
            }
        };
        let cases = [
            (None, 403),
            (Some("no-such-key-0123456789abc"), 403),
            // Disabled, and carol is in no plan of the stage.
            (Some("bob-key-0123456789abcdefgh"), 403),
            (Some("carol-key-0123456789abcdef"), 403),
            // Burst 2, then the rate (one per 1000 s) refuses.
            (Some("alice-key-0123456789abcdef"), 200),
            (Some("alice-key-0123456789abcdef"), 200),
            (Some("alice-key-0123456789abcdef"), 429),
        ];
        for (key, status) in cases {
            let (got, body) = harness.send(keyed(key)).await;
            assert_eq!(got, status, "{key:?}: {body}");
        }
        let (_, headers, body) = harness
            .exchange("192.0.2.10", keyed(Some("alice-key-0123456789abcdef")))
            .await;
        assert_eq!(body, r#"{"message":"Too Many Requests"}"#);
        assert!(headers.contains_key("retry-after"));
        // A route's throttle counts every caller together.
        assert_eq!(harness.send(request("GET", "/open").body("")).await.0, 200);
        assert_eq!(harness.send(request("GET", "/open").body("")).await.0, 429);
    }
}
