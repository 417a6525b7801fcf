//! HTTP/3 with aioquic (an independent QUIC and HTTP/3 implementation,
//! driven by `tests/tools/h3_client.py`): the same APIs through the same
//! request path — a Wasm authorizer, a streamed body to a real origin, the
//! body limit, the access log — and `Alt-Svc` on the TCP side.

use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Gateway, guest, python_tool, run};
use crate::pki::{Key, Pki};
use crate::upstream::{Upstream, body_hash};

fn config(cert: &crate::pki::Files, origin: &Upstream) -> String {
    format!(
        r#"
[limits]
max_body_size = "1KiB"

[admin]
address = "127.0.0.1:0"

[[listeners]]
name = "https"
address = "127.0.0.1:0"
[listeners.tls]
certificates = [{{ cert = "{cert}", key = "{key}" }}]
http3 = true

[plugins.tokens]
component = "{component}"
world = "authorizer"
config = {{ tokens = "s3cret:alice" }}
timeout = "5s"

[[apis]]
name = "h3"

[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"
identity_sources = ["$request.header.Authorization"]

[[apis.routes]]
key = "ANY /private/{{proxy+}}"
authorizer = "bearer"
integration = {{ type = "http_proxy", url = "{origin}/{{proxy}}" }}

[[apis.routes]]
key = "GET /public"
integration = {{ type = "mock", body = "open" }}
"#,
        cert = cert.cert,
        key = cert.key,
        component = guest("rust_token_authorizer"),
        origin = origin.base(),
    )
}

fn h3(gw: &Gateway, ca: &str, concurrent: bool, requests: Value) -> Vec<Value> {
    let result = python_tool(
        "h3_client.py",
        &json!({
            "port": gw.addr("https").port(),
            "server_name": "api.example.com",
            "ca": ca,
            "concurrent": concurrent,
            "requests": requests,
        }),
    );
    assert!(result.get("error").is_none(), "HTTP/3 client: {result}");
    result["responses"].as_array().expect("responses").clone()
}

#[tokio::test]
async fn http3_requests_take_the_same_path_as_tcp_ones() {
    let pki = Pki::new("h3-ca");
    let cert = pki.server("gateway", Key::Ecdsa, &["api.example.com"]);
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&cert, &origin));
    let ca = pki.ca_file();
    let body = "an order sent over HTTP/3";
    let big = "x".repeat(2000);
    let responses = h3(
        &gw,
        &ca,
        false,
        json!([
            { "path": "/private/orders" },
            { "path": "/private/orders", "headers": { "authorization": "Bearer wrong" } },
            { "method": "POST", "path": "/private/orders?n=1",
              "headers": { "authorization": "Bearer s3cret", "content-type": "text/plain" },
              "body": body },
            { "method": "POST", "path": "/private/orders",
              "headers": { "authorization": "Bearer s3cret" }, "body": big },
            { "path": "/public" },
        ]),
    );
    assert_eq!(responses[0]["status"], 401, "{:?}", responses[0]);
    assert_eq!(responses[1]["status"], 403, "{:?}", responses[1]);

    let allowed = &responses[2];
    assert_eq!(allowed["status"], 200, "{allowed:?}");
    let seen: Value = serde_json::from_str(allowed["body"].as_str().expect("text")).expect("json");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/orders");
    assert_eq!(seen["query"], "n=1");
    assert_eq!(seen["body_len"], body.len());
    assert_eq!(seen["body_hash"], body_hash(body.as_bytes()));
    assert_eq!(seen["headers"]["x-turnpike-principal-id"][0], "alice");
    assert_eq!(seen["headers"]["x-forwarded-proto"][0], "https");
    let id = allowed["headers"]["x-request-id"]
        .as_str()
        .expect("request id");
    let entry = gw.access_log_entry(id);
    assert_eq!(entry["protocol"], "HTTP/3.0");
    assert_eq!(entry["tlsVersion"], "TLSv1.3");
    assert_eq!(entry["principalId"], "alice");

    assert_eq!(responses[3]["status"], 413, "{:?}", responses[3]);
    assert_eq!(responses[4]["status"], 200);
    assert_eq!(responses[4]["body"], "open");

    // Many requests at once on one connection: multiplexed.
    let many: Vec<Value> = (0..30)
        .map(|i| json!({ "path": format!("/private/item/{i}"), "headers": { "authorization": "Bearer s3cret" } }))
        .collect();
    let responses = h3(&gw, &ca, true, Value::Array(many));
    for (i, response) in responses.iter().enumerate() {
        assert_eq!(response["status"], 200, "{response:?}");
        let seen: Value =
            serde_json::from_str(response["body"].as_str().expect("text")).expect("json");
        assert_eq!(seen["path"], format!("/item/{i}"));
    }

    // A client that does not trust the certificate gets nowhere.
    let other = Pki::new("someone-else");
    let refused = python_tool(
        "h3_client.py",
        &json!({
            "port": gw.addr("https").port(),
            "server_name": "api.example.com",
            "ca": other.ca_file(),
            "requests": [{ "path": "/public" }],
        }),
    );
    assert!(refused.get("error").is_some(), "{refused}");

    // The two QUIC connections that completed their handshake are counted
    // as HTTP/3 connections of the listener (both closed by now).
    let metrics = reqwest::get(format!("http://{}/metrics", gw.addr("@admin")))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            "turnpike_accepted_connections_total{listener=\"https\",protocol=\"h3\"} 2\n"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("turnpike_open_connections{listener=\"https\",protocol=\"h3\"} 0\n"),
        "{metrics}"
    );
}

#[test]
fn tcp_responses_advertise_http3() {
    let pki = Pki::new("alt-svc-ca");
    let cert = pki.server("gateway", Key::Ecdsa, &["api.example.com"]);
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&cert, &origin));
    let port = gw.addr("https").port();
    let (code, out, err) = run(Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10", "--cacert", &pki.ca_file()])
        .arg("--resolve")
        .arg(format!("api.example.com:{port}:127.0.0.1"))
        .arg(format!("https://api.example.com:{port}/public")));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.to_ascii_lowercase()
            .contains(&format!("alt-svc: h3=\":{port}\"; ma=86400")),
        "{out}"
    );
}
