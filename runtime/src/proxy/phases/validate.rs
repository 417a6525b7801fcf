//! Phase 8: request validation, as API Gateway's request validators, after
//! API keys and before the mapper and the integration.
//!
//! Required query-string parameters and headers first — all missing ones
//! are named in one 400 `Missing required request parameters: [a, b]` —
//! then the body against the JSON Schema model for its media type (a
//! request without `Content-Type` counts as `application/json`, as in API
//! Gateway; `$default` catches other types): 400 `Invalid request body: ...`
//! naming where and why, up to five problems.

use crate::error::{ErrorKind, GatewayError};
use crate::proxy::{Cx, Flow, Verdict};

/// Problems listed in one answer at most.
const MAX_LISTED: usize = 5;

/// Checks the request against the route's validation.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let Some(validation) = cx.route.and_then(|r| r.validation.as_deref()) else {
        return Ok(Flow::Continue);
    };
    let parts = &cx.parts;
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
        return Err(GatewayError::new(ErrorKind::InvalidParameters(format!(
            "Missing required request parameters: [{}]",
            missing.join(", ")
        ))));
    }
    if validation.models.is_empty() {
        return Ok(Flow::Continue);
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
        return Ok(Flow::Continue);
    };
    let bytes = crate::proxy::read_body(cx).await?;
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
        Ok(Flow::Continue)
    } else {
        Err(invalid(format!(
            "{} (model {})",
            problems.join("; "),
            model.name
        )))
    }
}

#[cfg(test)]
mod tests {
    use crate::proxy::testing::{Harness, request};

    const CONFIG: &str = r#"
[[apis]]
name = "a"
[apis.models.Pet]
schema = { type = "object", required = ["name"], properties = { name = { type = "string" }, age = { type = "integer", minimum = 0 } } }
[[apis.routes]]
key = "POST /pets"
required_query = ["store"]
required_headers = ["x-tenant"]
request_models = { "application/json" = "Pet" }
integration = { type = "mock", status = 201, body = "created" }
"#;

    #[tokio::test]
    async fn parameters_then_the_body_model() {
        let harness = Harness::new(CONFIG);
        let post = |uri: &str, tenant: bool, body: &str| {
            let builder = request("POST", uri).header("content-type", "application/json");
            let builder = if tenant {
                builder.header("x-tenant", "t1")
            } else {
                builder
            };
            builder.body(body)
        };
        let cases = [
            (
                post("/pets", false, "{}"),
                400,
                r#"{"message":"Missing required request parameters: [store, x-tenant]"}"#,
            ),
            (
                post("/pets?store=1", true, r#"{"name":"rex"}"#),
                201,
                "created",
            ),
            (
                post("/pets?store=1", true, r#"{"age":-1}"#),
                400,
                "Invalid request body",
            ),
            (post("/pets?store=1", true, "{not json"), 400, "not JSON"),
        ];
        for (request, status, body) in cases {
            let (got, text) = harness.send(request).await;
            assert_eq!(got, status, "{text}");
            assert!(text.contains(body), "{text}");
        }
    }
}
