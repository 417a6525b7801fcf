//! Phase 3, CORS as API Gateway's HTTP APIs do it: preflight requests are
//! answered by the gateway as soon as the API is known, before any policy,
//! authorizer or integration; every other response of an API with CORS —
//! errors included — gets the CORS headers ([`decorate`], at the end of the
//! request path), and the integration's own `Access-Control-*` headers are
//! replaced by the configured ones.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::body::ResponseBody;
use crate::config::{CorsConfig, CorsList};
use crate::proxy::{Cx, Flow, Verdict};

/// Answers a CORS preflight for an API with CORS: with the served
/// version's settings once the stage is known, else with the API's as the
/// configuration file defines them (a path no stage serves).
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let cors = match cx.version {
        Some(version) => version.api.cors.as_ref(),
        None => cx.api.and_then(|a| a.cors.as_ref()),
    };
    match cors {
        Some(cors) if is_preflight(&cx.parts.method, &cx.parts.headers) => {
            cx.preflight = true;
            Ok(Flow::Respond(preflight(cors, &cx.parts.headers)))
        }
        _ => Ok(Flow::Continue),
    }
}

/// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The gateway's answer to a preflight: 204, with the CORS headers when the
/// origin and the requested method are allowed, without them otherwise (the
/// browser then refuses the real request).
pub fn preflight(cors: &CorsConfig, headers: &HeaderMap) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let requested = headers.get(ACCESS_CONTROL_REQUEST_METHOD);
    let method_allowed = match &cors.allow_methods {
        CorsList::Any => true,
        CorsList::Only { names, .. } => requested
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| names.iter().any(|allowed| allowed == m)),
    };
    let out = response.headers_mut();
    if !cors.any_origin() {
        out.append(VARY, HeaderValue::from_static("Origin"));
    }
    let Some(origin) = headers
        .get(ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| cors.allows(o)))
    else {
        return response;
    };
    if !method_allowed {
        return response;
    }
    allow_origin(cors, origin, out);
    if let Some(value) = answer(&cors.allow_methods, requested) {
        out.insert(ACCESS_CONTROL_ALLOW_METHODS, value);
    }
    let requested_headers = headers.get(ACCESS_CONTROL_REQUEST_HEADERS);
    if let Some(value) = cors
        .allow_headers
        .as_ref()
        .and_then(|list| answer(list, requested_headers))
    {
        out.insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
    if let Some(max_age) = &cors.max_age {
        out.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
    }
    response
}

/// Adds the CORS headers for a request that came with `origin` to a
/// response of an API with CORS (not a preflight), replacing any the
/// integration sent.
pub fn decorate(
    cors: &CorsConfig,
    origin: Option<&HeaderValue>,
    response: &mut Response<ResponseBody>,
) {
    let out = response.headers_mut();
    for name in [
        ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_ALLOW_METHODS,
        ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_MAX_AGE,
    ] {
        out.remove(name);
    }
    if !cors.any_origin() {
        out.append(VARY, HeaderValue::from_static("Origin"));
    }
    let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| cors.allows(o))) else {
        return;
    };
    allow_origin(cors, origin, out);
    if let Some(expose) = &cors.expose_headers {
        out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
    }
}

/// What to answer for `list` when the preflight asked for `requested`: the
/// configured names, or for `*` what was asked.
fn answer(list: &CorsList, requested: Option<&HeaderValue>) -> Option<HeaderValue> {
    match list {
        CorsList::Only { value, .. } => Some(value.clone()),
        CorsList::Any => requested.cloned(),
    }
}

fn allow_origin(cors: &CorsConfig, origin: &HeaderValue, out: &mut HeaderMap) {
    if cors.any_origin() && !cors.allow_credentials {
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    } else {
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    if cors.allow_credentials {
        out.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::proxy::testing::{Harness, request};

    const CONFIG: &str = r#"
[[apis]]
name = "a"
[apis.cors]
allow_origins = ["https://app.example", "https://*.tools.example"]
allow_methods = ["GET", "PUT"]
allow_headers = ["authorization"]
max_age = "10m"
[apis.policy]
deny_source = ["192.0.2.10"]
[[apis.routes]]
key = "PUT /items/{id}"
integration = { type = "mock", body = "ok" }
"#;

    fn preflight(origin: &str, method: &str) -> http::Request<crate::body::RequestBody> {
        request("OPTIONS", "/items/1")
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "authorization")
            .body("")
    }

    #[tokio::test]
    async fn preflights_are_answered_before_policies() {
        let harness = Harness::new(CONFIG);
        // The caller's address is denied, yet its preflight is answered.
        let (status, headers, _) = harness
            .exchange("192.0.2.10", preflight("https://app.example", "PUT"))
            .await;
        assert_eq!(status, 204);
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example"
        );
        assert_eq!(headers["access-control-allow-methods"], "GET, PUT");
        assert_eq!(headers["access-control-allow-headers"], "authorization");
        assert_eq!(headers["access-control-max-age"], "600");
        let cases = [
            ("https://x.tools.example", "PUT", true),
            ("https://tools.example", "PUT", false),
            ("https://evil.example", "PUT", false),
            ("https://app.example", "DELETE", false),
        ];
        for (origin, method, allowed) in cases {
            let (status, headers, _) = harness
                .exchange("192.0.2.11", preflight(origin, method))
                .await;
            assert_eq!(status, 204);
            assert_eq!(
                headers.contains_key("access-control-allow-origin"),
                allowed,
                "{origin} {method}"
            );
        }
        // Other answers carry the headers, errors too.
        let (status, headers, _) = harness
            .exchange(
                "192.0.2.10",
                request("PUT", "/items/1")
                    .header("origin", "https://app.example")
                    .body(""),
            )
            .await;
        assert_eq!(status, 403);
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example"
        );
    }
}
