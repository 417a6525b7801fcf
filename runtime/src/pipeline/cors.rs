//! CORS as API Gateway's HTTP APIs do it: preflight requests are answered by
//! the gateway right after the API is found (phase 3), before any policy,
//! authorizer or integration; every other response of an API with CORS —
//! errors included — gets the CORS headers, and the integration's own
//! `Access-Control-*` headers are replaced by the configured ones.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::body::ResponseBody;
use crate::config::{CorsConfig, CorsList};

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
