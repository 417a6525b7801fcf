//! Request validation through the real binary: JSON Schema models per
//! content type (inline and from a file), required query strings and
//! headers, and 400 answers that say what failed.

use serde_json::Value;

use crate::harness::{Gateway, client};
use crate::upstream::{Upstream, body_hash};

fn config(origin: &Upstream, schema_file: &str) -> String {
    format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "shop"

[apis.models.Order]
schema = {{ type = "object", required = ["sku", "count"], additionalProperties = false, properties = {{ sku = {{ type = "string", pattern = "^[A-Z]-[0-9]+$" }}, count = {{ type = "integer", minimum = 1 }}, note = {{ type = "string" }} }} }}

[apis.models.Refund]
schema_file = "{schema_file}"

[[apis.routes]]
key = "POST /orders"
request_models = {{ "application/json" = "Order" }}
integration = {{ type = "http_proxy", url = "{origin}/orders" }}

[[apis.routes]]
key = "POST /refunds"
request_models = {{ "$default" = "Refund" }}
integration = {{ type = "mock", body = "refunded" }}

[[apis.routes]]
key = "GET /search"
required_query = ["q"]
required_headers = ["x-tenant"]
integration = {{ type = "mock", body = "found" }}
"#,
        origin = origin.base()
    )
}

async fn post(gw: &Gateway, path: &str, content_type: Option<&str>, body: &str) -> (u16, String) {
    let mut request = client().post(gw.url("main", path)).body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("request");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

fn message(body: &str) -> String {
    let json: Value = serde_json::from_str(body).expect("JSON error body");
    json["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_queries_and_headers_are_validated() {
    let origin = Upstream::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let schema_file = dir.path().join("refund.json");
    std::fs::write(
        &schema_file,
        r#"{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","required":["order"],"properties":{"order":{"type":"string","minLength":3}}}"#,
    )
    .expect("schema");
    let gw = Gateway::start(&config(&origin, &schema_file.display().to_string()));

    // A valid body reaches the integration unchanged.
    let order = r#"{"sku":"A-1","count":2,"note":"gift"}"#;
    let (status, echo) = post(
        &gw,
        "/orders",
        Some("application/json; charset=utf-8"),
        order,
    )
    .await;
    assert_eq!(status, 200, "{echo}");
    let echo: Value = serde_json::from_str(&echo).expect("echo");
    assert_eq!(echo["body_hash"], body_hash(order.as_bytes()));

    // Each problem is named.
    let (status, body) = post(&gw, "/orders", Some("application/json"), r#"{"count":2}"#).await;
    assert_eq!(status, 400);
    let why = message(&body);
    assert!(why.starts_with("Invalid request body: "), "{why}");
    assert!(why.contains("sku") && why.contains("model Order"), "{why}");
    let (status, body) = post(
        &gw,
        "/orders",
        Some("application/json"),
        r#"{"sku":"A-1","count":"two"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("/count"), "{body}");
    let (_, body) = post(
        &gw,
        "/orders",
        Some("application/json"),
        r#"{"sku":"nope","count":0,"x":1}"#,
    )
    .await;
    let why = message(&body);
    for part in ["/sku", "/count", "x"] {
        assert!(why.contains(part), "{part} in {why}");
    }
    let (status, body) = post(&gw, "/orders", Some("application/json"), "{not json").await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("not JSON"), "{body}");
    // No Content-Type counts as JSON; another type has no model here.
    assert_eq!(post(&gw, "/orders", None, r#"{"count":2}"#).await.0, 400);
    assert_eq!(
        post(&gw, "/orders", Some("text/plain"), "anything").await.0,
        200
    );

    // A draft-04 schema from a file, for every content type.
    assert_eq!(
        post(
            &gw,
            "/refunds",
            Some("application/vnd.shop+json"),
            r#"{"order":"o-123"}"#
        )
        .await,
        (200, "refunded".to_owned())
    );
    let (status, body) = post(&gw, "/refunds", Some("text/plain"), r#"{"order":"o"}"#).await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("/order"), "{body}");

    // Required query strings and headers: all missing ones in one answer.
    let get = |query: &'static str, tenant: bool| {
        let mut request = client().get(gw.url("main", &format!("/search{query}")));
        if tenant {
            request = request.header("x-tenant", "acme");
        }
        request.send()
    };
    let response = get("", false).await.expect("request");
    assert_eq!(response.status(), 400);
    assert_eq!(
        message(&response.text().await.expect("body")),
        "Missing required request parameters: [q, x-tenant]"
    );
    let response = get("?q=shoes", false).await.expect("request");
    assert_eq!(
        message(&response.text().await.expect("body")),
        "Missing required request parameters: [x-tenant]"
    );
    let response = get("?page=2&q=", true).await.expect("request");
    assert_eq!(response.status(), 200);
}
