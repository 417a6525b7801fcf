//! Phase 5: the route key match within the stage's definition (most
//! specific path wins; 404, or 405 with `Allow`), then the route's own
//! resource policy. Path normalisation, which phase 0 applies, lives here
//! with the other path rules.

use std::borrow::Cow;

use crate::error::{ErrorKind, GatewayError};
use crate::proxy::{Cx, Flow, Verdict};
use crate::router::RouteMatch;

/// Matches the route and checks its policy.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let (Some(version), Some((_, within))) = (cx.version, cx.stage) else {
        return Err(GatewayError::new(ErrorKind::NotFound));
    };
    if let Some(settings) = &version.api.websocket {
        return crate::proxy::websocket::route(cx, version, within, settings).await;
    }
    match version.api.router.find(&cx.parts.method, within) {
        RouteMatch::Found { route, params } => {
            let route = &version.routes[route];
            cx.route = Some(route);
            cx.params = params;
            super::policy::check_route(route, cx.conn.client.ip())?;
            Ok(Flow::Continue)
        }
        RouteMatch::MethodNotAllowed { allow } => {
            Err(GatewayError::new(ErrorKind::MethodNotAllowed(
                http::HeaderValue::from_str(allow)
                    .unwrap_or_else(|_| http::HeaderValue::from_static("")),
            )))
        }
        RouteMatch::NotFound => Err(GatewayError::new(ErrorKind::NotFound)),
    }
}

/// Resolves `.` and `..` segments (also percent-encoded ones) so that a
/// route such as `GET /public/{proxy+}` cannot be escaped with
/// `/public/../admin`. A path that climbs above the root is refused, with
/// the reason.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, &'static str> {
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
                return Err("the path climbs above the root");
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
    use crate::proxy::testing::{Harness, request};

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

    const CONFIG: &str = r#"
[[apis]]
name = "a"
[[apis.routes]]
key = "GET /pets/{id}"
integration = { type = "mock", body = "pet ${request.path.id}" }
[[apis.routes]]
key = "ANY /pets/{id}/toys/{proxy+}"
integration = { type = "mock", body = "toys {proxy}" }
[[apis.routes]]
key = "POST /pets"
integration = { type = "mock", status = 201, body = "created" }
"#;

    #[tokio::test]
    async fn the_most_specific_route_answers_and_others_are_405_or_404() {
        let harness = Harness::new(CONFIG);
        let cases = [
            ("GET", "/pets/7", 200, "pet 7"),
            ("DELETE", "/pets/7/toys/a/b", 200, "toys {proxy}"),
            ("POST", "/pets", 201, "created"),
            ("GET", "/pets", 405, r#"{"message":"Method Not Allowed"}"#),
            ("GET", "/cats", 404, r#"{"message":"Not Found"}"#),
            ("GET", "/pets/7/../8", 200, "pet 8"),
            ("GET", "/../etc", 400, r#"{"message":"Bad Request"}"#),
        ];
        for (method, path, status, body) in cases {
            let got = harness.send(request(method, path).body("")).await;
            assert_eq!(got, (status, body.to_owned()), "{method} {path}");
        }
    }
}
