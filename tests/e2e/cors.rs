//! CORS answered by the gateway: preflights for any path of an API with
//! CORS, headers on every response (errors included), the integration's own
//! CORS headers replaced, wildcard and subdomain origins.

use reqwest::Method;

use crate::harness::{Gateway, client};

const CONFIG: &str = r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[listeners]]
name = "open"
address = "127.0.0.1:0"

[[apis]]
name = "shop"
listeners = ["main"]

[apis.cors]
allow_origins = ["https://app.example.com", "https://*.example.org"]
allow_methods = ["GET", "POST"]
allow_headers = ["Content-Type", "Authorization"]
expose_headers = ["x-request-id"]
allow_credentials = true
max_age = "10m"

[[apis.routes]]
key = "GET /pets"
integration = { type = "mock", body = "pets", headers = { access-control-allow-origin = "*" } }

[[apis.routes]]
key = "GET /office"
policy = { allow_source = ["10.0.0.0/8"] }
integration = { type = "mock", body = "office" }

[[apis]]
name = "public"
listeners = ["open"]

[apis.cors]
allow_origins = ["*"]

[[apis.routes]]
key = "GET /news"
integration = { type = "mock", body = "news" }
"#;

async fn send(
    gw: &Gateway,
    listener: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client().request(method, gw.url(listener, path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn preflight<'a>(origin: &'a str, method: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", "content-type"),
    ]
}

#[tokio::test]
async fn preflights_are_answered_and_every_response_carries_cors_headers() {
    let gw = Gateway::start(CONFIG);

    // A preflight for a path with no OPTIONS route, answered by the gateway.
    let response = send(
        &gw,
        "main",
        Method::OPTIONS,
        "/pets",
        &preflight("https://app.example.com", "POST"),
    )
    .await;
    assert_eq!(response.status(), 204);
    for (name, value) in [
        ("access-control-allow-origin", "https://app.example.com"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, POST"),
        (
            "access-control-allow-headers",
            "content-type, authorization",
        ),
        ("access-control-max-age", "600"),
        ("vary", "Origin"),
    ] {
        assert_eq!(header(&response, name), Some(value), "{name}");
    }

    // Subdomain patterns match subdomains only.
    let response = send(
        &gw,
        "main",
        Method::OPTIONS,
        "/anything",
        &preflight("https://shop.example.org", "GET"),
    )
    .await;
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some("https://shop.example.org")
    );

    // Not allowed: the preflight gets no CORS headers, so the browser stops.
    for (origin, method) in [
        ("https://evil.example", "GET"),
        ("https://example.org", "GET"),
        ("https://app.example.com", "DELETE"),
    ] {
        let response = send(
            &gw,
            "main",
            Method::OPTIONS,
            "/pets",
            &preflight(origin, method),
        )
        .await;
        assert_eq!(response.status(), 204, "{origin} {method}");
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            None,
            "{origin} {method}"
        );
    }

    // A real request: the configured headers replace the integration's.
    let response = send(
        &gw,
        "main",
        Method::GET,
        "/pets",
        &[("origin", "https://app.example.com")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&response, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        header(&response, "access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_eq!(header(&response, "access-control-allow-methods"), None);

    // Errors carry them too: a missing route, a refused address.
    for path in ["/missing", "/office"] {
        let response = send(
            &gw,
            "main",
            Method::GET,
            path,
            &[("origin", "https://app.example.com")],
        )
        .await;
        assert!(response.status().is_client_error(), "{path}");
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some("https://app.example.com"),
            "{path}"
        );
    }

    // No Origin, or another origin: no CORS headers, and the integration's
    // own one is gone all the same.
    let response = send(&gw, "main", Method::GET, "/pets", &[]).await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    let response = send(
        &gw,
        "main",
        Method::GET,
        "/pets",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);

    // `*` without credentials answers `*` (and needs no Vary).
    let response = send(
        &gw,
        "open",
        Method::GET,
        "/news",
        &[("origin", "https://anyone.test")],
    )
    .await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&response, "vary"), None);
    let response = send(
        &gw,
        "open",
        Method::OPTIONS,
        "/news",
        &preflight("https://anyone.test", "PATCH"),
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&response, "access-control-allow-methods"),
        Some("PATCH")
    );
}
