//! Phase 6: API keys, usage plans and throttling, after authorization.
//!
//! A route that requires a key takes it from `x-api-key` (or from its
//! authorizer's usage identifier, with `api_key_source = "authorizer"`);
//! a missing, unknown or disabled key, or one in no usage plan of the
//! stage, is API Gateway's 403 `Forbidden`. Then, in order: the key's plan
//! rate and burst, the route's (or stage's) throttle for all callers — both
//! 429 `Too Many Requests` — and last the key's quota, 429 `Limit
//! Exceeded`, so that only admitted requests count against it.

use http::request::Parts;

use crate::config::ApiKeySource;
use crate::error::{ErrorKind, GatewayError};
use std::sync::Arc;

use crate::limits::{Bucket, QuotaRefusal, Refusal};
use crate::pipeline::authorize::Authorized;
use crate::snapshot::{CompiledApi, CompiledStage, Snapshot};

/// The header clients send their API key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Admits the request or refuses it with 403 or 429.
pub async fn check(
    snapshot: &Snapshot,
    api: &CompiledApi,
    stage: &CompiledStage,
    route: usize,
    parts: &Parts,
    authorized: Option<&Authorized>,
) -> Result<(), GatewayError> {
    let throttle = stage.throttles.get(route).and_then(Option::as_ref);
    if !api.route_key_required.get(route).copied().unwrap_or(false) {
        return route_throttle(throttle).await;
    }
    let presented: Option<&[u8]> = match api.api_key_source {
        ApiKeySource::Header => parts.headers.get(API_KEY_HEADER).map(|v| v.as_bytes()),
        ApiKeySource::Authorizer => authorized
            .and_then(|a| a.usage_identifier.as_deref())
            .map(str::as_bytes),
    };
    let Some(presented) = presented else {
        return Err(GatewayError::with_source(
            ErrorKind::Forbidden,
            "the route requires an API key and none was sent",
        ));
    };
    let Some(&key) = snapshot.api_keys.get(presented) else {
        return Err(GatewayError::with_source(
            ErrorKind::Forbidden,
            "the API key is unknown or disabled",
        ));
    };
    let Some(plan) = stage.plans.get(&key) else {
        return Err(GatewayError::with_source(
            ErrorKind::Forbidden,
            "the API key is in no usage plan of this stage",
        ));
    };
    if let Some(bucket) = &plan.bucket {
        bucket.admit().await.map_err(|refusal| match refusal {
            Refusal::Limited(seconds) => GatewayError::with_source(
                ErrorKind::TooManyRequests(seconds),
                format!(
                    "API key `{}` exceeds the rate of usage plan `{}`",
                    plan.key, plan.plan
                ),
            ),
            Refusal::Unavailable(why) => unavailable(why),
        })?;
    }
    route_throttle(throttle).await?;
    if let Some(quota) = &plan.quota {
        quota.admit().await.map_err(|refusal| match refusal {
            QuotaRefusal::Exceeded(seconds) => GatewayError::with_source(
                ErrorKind::LimitExceeded(seconds),
                format!(
                    "API key `{}` used up the quota of usage plan `{}`",
                    plan.key, plan.plan
                ),
            ),
            QuotaRefusal::Storage(why) => unavailable(why),
        })?;
    }
    Ok(())
}

/// The route's (or stage's) throttle, for all callers together.
async fn route_throttle(bucket: Option<&Arc<Bucket>>) -> Result<(), GatewayError> {
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
}
