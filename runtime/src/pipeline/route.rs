//! Phase 2: find the API (listener and `Host`), the stage (path prefix) and
//! the route (route key precedence) for a request.

use std::borrow::Cow;

use http::Method;
use http::request::Parts;

use crate::error::{ErrorKind, GatewayError};
use crate::router::{ParamValues, RouteId, RouteMatch};
use crate::snapshot::CompiledApi;

/// Where a request goes within its stage.
#[derive(Debug)]
pub struct RouteHit<'p> {
    /// The route.
    pub route: RouteId,
    /// Path parameter values, in the order of the route key.
    pub params: ParamValues<'p>,
}

/// Finds the route for `within` (the path with the stage prefix removed)
/// in the definition the request's stage serves.
pub fn resolve<'p>(
    api: &'p CompiledApi,
    method: &Method,
    within: &'p str,
) -> Result<RouteHit<'p>, GatewayError> {
    let not_found = || GatewayError::new(ErrorKind::NotFound);
    match api.router().find(method, within) {
        RouteMatch::Found { route, params } => Ok(RouteHit { route, params }),
        RouteMatch::MethodNotAllowed { allow } => {
            Err(GatewayError::new(ErrorKind::MethodNotAllowed(
                http::HeaderValue::from_str(allow)
                    .unwrap_or_else(|_| http::HeaderValue::from_static("")),
            )))
        }
        RouteMatch::NotFound => Err(not_found()),
    }
}

/// The host the client addressed, lower case and without port.
pub fn request_host(parts: &Parts) -> Option<String> {
    let raw = match parts.headers.get(http::header::HOST) {
        Some(h) => h.to_str().ok()?,
        None => parts.uri.host()?,
    };
    let host = if let Some(v6) = raw.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        raw.split(':').next().unwrap_or(raw)
    };
    Some(host.to_ascii_lowercase())
}

/// Resolves `.` and `..` segments (also percent-encoded ones) so that a
/// route such as `GET /public/{proxy+}` cannot be escaped with
/// `/public/../admin`. A path that climbs above the root is refused.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, GatewayError> {
    if !path.contains("/.") && !path.contains("%2e") && !path.contains("%2E") {
        return Ok(Cow::Borrowed(path));
    }
    let is_dot = |s: &str| s == "." || s.eq_ignore_ascii_case("%2e");
    let is_dot_dot = |s: &str| {
        let lower = s.to_ascii_lowercase();
        matches!(lower.as_str(), ".." | ".%2e" | "%2e." | "%2e%2e")
    };
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let last = parts.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, segment) in parts.iter().enumerate() {
        if is_dot(segment) {
            trailing_slash = i == last;
        } else if is_dot_dot(segment) {
            if segments.pop().is_none() {
                return Err(GatewayError::with_source(
                    ErrorKind::BadRequest,
                    "the path climbs above the root",
                ));
            }
            trailing_slash = i == last;
        } else {
            segments.push(segment);
            trailing_slash = false;
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dot_segments() {
        let cases = [
            ("/a/b", Some("/a/b")),
            ("/a/./b", Some("/a/b")),
            ("/a/../b", Some("/b")),
            ("/public/../admin", Some("/admin")),
            ("/a/%2e%2E/b", Some("/b")),
            ("/a/b/..", Some("/a/")),
            ("/a/.hidden", Some("/a/.hidden")),
            ("/..", None),
            ("/a/../../b", None),
            ("/", Some("/")),
        ];
        for (input, want) in cases {
            let got = normalize_path(input).ok().map(|c| c.into_owned());
            assert_eq!(got.as_deref(), want, "{input}");
        }
    }
}
