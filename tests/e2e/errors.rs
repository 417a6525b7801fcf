//! Errors as Amazon API Gateway returns them: JSON `{"message": ...}`, the
//! right status, a request id on every response, and a log line.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Gateway, client, h2c_client};
use crate::upstream::Upstream;

/// A port on which nothing listens: bound, read back and released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn config(origin: &Upstream) -> String {
    format!(
        r#"
[limits]
max_body_size = "64KiB"
max_header_size = "4KiB"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "errors"

[[apis.routes]]
key = "GET /pets"
integration = {{ type = "mock", body = "pets" }}

[[apis.routes]]
key = "POST /pets"
integration = {{ type = "http_proxy", url = "{origin}/pets" }}

[[apis.routes]]
key = "GET /slow/{{ms}}"
integration = {{ type = "http_proxy", url = "{origin}/slow/{{ms}}", timeout = "300ms" }}

[[apis.routes]]
key = "GET /down"
integration = {{ type = "http_proxy", url = "http://127.0.0.1:{closed}/" }}
"#,
        origin = origin.base(),
        closed = closed_port()
    )
}

async fn expect_error(response: reqwest::Response, status: u16, message: &str) -> String {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(request_id.len(), 36, "request id is a UUID");
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body, serde_json::json!({ "message": message }));
    request_id
}

#[tokio::test]
async fn each_failure_has_its_status_and_message() {
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&origin));
    let http = client();

    let id = expect_error(
        http.get(gw.url("main", "/nothing"))
            .send()
            .await
            .expect("request"),
        404,
        "Not Found",
    )
    .await;
    assert_eq!(gw.access_log_entry(&id)["status"], 404);

    let response = http
        .delete(gw.url("main", "/pets"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["allow"], "GET, POST");
    expect_error(response, 405, "Method Not Allowed").await;

    let big = vec![b'x'; 65 * 1024];
    let id = expect_error(
        http.post(gw.url("main", "/pets"))
            .body(big.clone())
            .send()
            .await
            .expect("request"),
        413,
        "Request Entity Too Large",
    )
    .await;
    assert_eq!(gw.access_log_entry(&id)["errorBlame"], "downstream");

    // Without Content-Length the limit is enforced while the body streams.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    expect_error(
        http.post(gw.url("main", "/pets"))
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
            .await
            .expect("request"),
        413,
        "Request Entity Too Large",
    )
    .await;

    expect_error(
        http.get(gw.url("main", "/pets"))
            .header("x-big", "y".repeat(5000))
            .send()
            .await
            .expect("request"),
        431,
        "Request Header Fields Too Large",
    )
    .await;

    let id = expect_error(
        http.get(gw.url("main", "/down"))
            .send()
            .await
            .expect("request"),
        502,
        "Bad Gateway",
    )
    .await;
    let entry = gw.access_log_entry(&id);
    assert_eq!(entry["errorBlame"], "upstream");
    assert!(
        entry["errorMessage"]
            .as_str()
            .expect("message")
            .starts_with("Bad Gateway")
    );

    let started = Instant::now();
    let id = expect_error(
        http.get(gw.url("main", "/slow/5000"))
            .send()
            .await
            .expect("request"),
        504,
        "Endpoint request timed out",
    )
    .await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(4),
        "504 after {waited:?}"
    );
    assert_eq!(gw.access_log_entry(&id)["status"], 504);

    // Dot segments above the root are refused.
    let (code, out, _) = crate::harness::run(
        std::process::Command::new("curl")
            .args([
                "-s",
                "--path-as-is",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg(gw.url("main", "/../etc/passwd")),
    );
    assert_eq!((code, out.as_str()), (0, "400"));

    // The gateway is still healthy after all of that.
    let ok = http
        .get(gw.url("main", "/pets"))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.text().await.expect("body"), "pets");
}

#[tokio::test]
async fn errors_over_http2_are_json_too() {
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&origin));
    let http = h2c_client();
    expect_error(
        http.get(gw.url("main", "/missing"))
            .send()
            .await
            .expect("request"),
        404,
        "Not Found",
    )
    .await;
    expect_error(
        http.post(gw.url("main", "/pets"))
            .body(vec![0u8; 70 * 1024])
            .send()
            .await
            .expect("request"),
        413,
        "Request Entity Too Large",
    )
    .await;
    expect_error(
        http.get(gw.url("main", "/pets"))
            .header("x-big", "y".repeat(5000))
            .send()
            .await
            .expect("request"),
        431,
        "Request Header Fields Too Large",
    )
    .await;
}

#[tokio::test]
async fn default_limits_are_api_gateways() {
    let gw = Gateway::start(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[apis]]
name = "defaults"
[[apis.routes]]
key = "POST /echo"
integration = { type = "mock", body = "ok" }
"#,
    );
    let http = client();
    let just_fits = http
        .post(gw.url("main", "/echo"))
        .body(vec![0u8; 10 * 1024 * 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(just_fits.status(), 200);
    let too_big = http
        .post(gw.url("main", "/echo"))
        .body(vec![0u8; 10 * 1024 * 1024 + 1])
        .send()
        .await
        .expect("request");
    assert_eq!(too_big.status(), 413);
    let headers_fit = http
        .post(gw.url("main", "/echo"))
        .header("x-a", "a".repeat(9000))
        .send()
        .await
        .expect("request");
    assert_eq!(headers_fit.status(), 200);
    let headers_too_big = http
        .post(gw.url("main", "/echo"))
        .header("x-a", "a".repeat(10 * 1024))
        .send()
        .await
        .expect("request");
    assert_eq!(headers_too_big.status(), 431);
}
