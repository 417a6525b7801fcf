//! Phase 7: request validation, as API Gateway's request validators, after
//! API keys and before the mapper and the integration.
//!
//! Required query-string parameters and headers first — all missing ones
//! are named in one 400 `Missing required request parameters: [a, b]` —
//! then the body against the JSON Schema model for its media type (a
//! request without `Content-Type` counts as `application/json`, as in API
//! Gateway; `$default` catches other types): 400 `Invalid request body: ...`
//! naming where and why, up to five problems.

use http::request::Parts;

use crate::body::RequestBody;
use crate::config::RequestValidation;
use crate::error::{ErrorKind, GatewayError};

/// Problems listed in one answer at most.
const MAX_LISTED: usize = 5;

/// Checks the request against the route's validation.
pub async fn check(
    validation: &RequestValidation,
    parts: &Parts,
    body: &mut Option<RequestBody>,
    max_body_bytes: u64,
) -> Result<(), GatewayError> {
    let mut missing: Vec<&str> = Vec::new();
    if !validation.required_query.is_empty() {
        let query = parts.uri.query().unwrap_or("");
        for name in &validation.required_query {
            let present = form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == name.as_str());
            if !present {
                missing.push(name);
            }
        }
    }
    for name in &validation.required_headers {
        if !parts.headers.contains_key(name) {
            missing.push(name.as_str());
        }
    }
    if !missing.is_empty() {
        return Err(GatewayError::new(ErrorKind::InvalidRequest(format!(
            "Missing required request parameters: [{}]",
            missing.join(", ")
        ))));
    }
    if validation.models.is_empty() {
        return Ok(());
    }
    let media_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "application/json".to_owned());
    let model = validation
        .models
        .iter()
        .find(|(t, _)| *t == media_type)
        .or_else(|| validation.models.iter().find(|(t, _)| t == "$default"));
    let Some((_, model)) = model else {
        return Ok(());
    };
    let bytes = super::read_body(body, max_body_bytes).await?;
    let invalid = |why: String| {
        GatewayError::new(ErrorKind::InvalidRequest(format!(
            "Invalid request body: {why}"
        )))
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not JSON ({e})")))?;
    let problems: Vec<String> = model
        .validator
        .iter_errors(&value)
        .take(MAX_LISTED)
        .map(|error| {
            let at = error.instance_path().to_string();
            let at = if at.is_empty() { "/".to_owned() } else { at };
            format!("{at}: {error}")
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid(format!(
            "{} (model {})",
            problems.join("; "),
            model.name
        )))
    }
}
