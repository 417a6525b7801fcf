//! The `http_proxy` integration against a real origin: what the origin
//! receives, what the client gets back, over HTTP/1.1 and HTTP/2.

use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::harness::{Gateway, client, h2c_client};
use crate::upstream::{Upstream, body_hash};

fn proxy_config(origin: &Upstream, extra_limits: &str) -> String {
    format!(
        r#"
[limits]
{extra_limits}

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "proxy"

[[apis.routes]]
key = "ANY /{{proxy+}}"
integration = {{ type = "http_proxy", url = "{origin}/{{proxy}}", timeout = "500ms" }}
"#,
        origin = origin.base()
    )
}

#[tokio::test]
async fn method_headers_query_and_body_reach_the_origin() {
    let origin = Upstream::start();
    let gw = Gateway::start(&proxy_config(&origin, ""));
    let http = client();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let body = format!("payload for {method}");
        let response = http
            .request(
                method.parse().expect("method"),
                gw.url("main", "/things/1?color=red&size=10&x=a%20b"),
            )
            .header("x-custom", "one")
            .header("x-forwarded-for", "203.0.113.9")
            .header("connection", "keep-alive, x-drop-me")
            .header("x-drop-me", "must not pass")
            .header("te", "trailers")
            .body(body.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{method}");
        assert_eq!(response.headers()["x-upstream"], "yes");
        assert!(
            response.headers().get("x-hop").is_none(),
            "hop-by-hop response header leaked"
        );
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let seen: Value = response.json().await.expect("json");
        assert_eq!(seen["method"], method);
        assert_eq!(seen["path"], "/things/1");
        assert_eq!(seen["query"], "color=red&size=10&x=a%20b");
        assert_eq!(seen["version"], "HTTP/1.1");
        let headers = &seen["headers"];
        assert_eq!(headers["x-custom"][0], "one");
        assert_eq!(headers["x-forwarded-for"][0], "203.0.113.9, 127.0.0.1");
        assert_eq!(headers["x-forwarded-proto"][0], "http");
        assert_eq!(headers["x-forwarded-host"][0], gw.addr("main").to_string());
        assert_eq!(headers["host"][0], origin.addr.to_string());
        assert_eq!(headers["x-request-id"][0], request_id.as_str());
        assert!(
            headers.get("x-drop-me").is_none(),
            "header named by Connection was forwarded"
        );
        assert!(headers.get("te").is_none(), "TE was forwarded");
        assert_eq!(seen["body_len"], body.len());
        assert_eq!(seen["body_hash"], body_hash(body.as_bytes()));

        let entry = gw.access_log_entry(&request_id);
        assert_eq!(entry["httpMethod"], method);
        assert_eq!(entry["path"], "/things/1");
        assert_eq!(entry["status"], 200);
        assert_eq!(entry["routeKey"], "ANY /{proxy+}");
        assert_eq!(entry["stage"], "$default");
        assert_eq!(entry["integrationStatus"], 200);
        assert!(entry["integrationLatency"].as_f64().expect("number") > 0.0);
        assert!(
            entry["responseLatency"].as_f64().expect("number")
                >= entry["integrationLatency"].as_f64().expect("number")
        );
    }
}

#[tokio::test]
async fn a_five_megabyte_body_is_proxied_intact() {
    let origin = Upstream::start();
    let gw = Gateway::start(&proxy_config(&origin, ""));
    let body: Vec<u8> = (0..5 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let seen: Value = client()
        .post(gw.url("main", "/upload"))
        .body(body.clone())
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["body_len"], body.len());
    assert_eq!(seen["body_hash"], body_hash(&body));

    // The same through a streamed (chunked) request body.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let seen: Value = client()
        .put(gw.url("main", "/upload"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["body_len"], body.len());
    assert_eq!(seen["body_hash"], body_hash(&body));
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let origin = Upstream::start();
    let gw = Gateway::start(&proxy_config(&origin, ""));
    let http = client();
    for i in 0..20 {
        let response = http
            .get(gw.url("main", &format!("/n/{i}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body");
    }
    let connections = origin.stats.connections.load(Ordering::SeqCst);
    assert_eq!(
        connections, 1,
        "20 sequential requests opened {connections} upstream connections"
    );
}

#[tokio::test]
async fn http2_prior_knowledge_is_served_and_proxied_as_http1() {
    let origin = Upstream::start();
    let gw = Gateway::start(&proxy_config(&origin, ""));
    let http = h2c_client();
    let response = http
        .post(gw.url("main", "/h2/path?q=1"))
        .header("x-h2", "yes")
        .body("over h2")
        .send()
        .await
        .expect("request");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let seen: Value = response.json().await.expect("json");
    assert_eq!(seen["version"], "HTTP/1.1");
    assert_eq!(seen["path"], "/h2/path");
    assert_eq!(seen["query"], "q=1");
    assert_eq!(seen["headers"]["x-h2"][0], "yes");
    assert_eq!(
        seen["headers"]["x-forwarded-host"][0],
        gw.addr("main").to_string()
    );
    assert_eq!(seen["body_hash"], body_hash(b"over h2"));

    // Several concurrent streams on the one connection.
    let mut requests = Vec::new();
    for i in 0..16 {
        let http = http.clone();
        let url = gw.url("main", &format!("/stream/{i}"));
        requests.push(tokio::spawn(async move {
            let seen: Value = http
                .get(url)
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            seen["path"].as_str().expect("path").to_owned()
        }));
    }
    for (i, request) in requests.into_iter().enumerate() {
        assert_eq!(request.await.expect("task"), format!("/stream/{i}"));
    }

    // curl, an independent client, with --http2-prior-knowledge.
    let (code, out, err) = crate::harness::run(
        std::process::Command::new("curl")
            .args([
                "-sS",
                "--http2-prior-knowledge",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
            ])
            .arg(gw.url("main", "/curl")),
    );
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, "2 200");
}

#[tokio::test]
async fn upstream_status_codes_pass_through() {
    let origin = Upstream::start();
    let gw = Gateway::start(&proxy_config(&origin, ""));
    let http = client();
    for code in [201u16, 302, 404, 500, 503] {
        let response = http
            .get(gw.url("main", &format!("/status/{code}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), code);
        assert_eq!(response.text().await.expect("body"), "custom status");
    }
}

/// An origin that speaks HTTP/1.0 and closes after each answer: a
/// keep-alive HTTP/1.1 client of the gateway still gets HTTP/1.1 answers
/// and keeps its connection for the next request.
#[tokio::test]
async fn an_http_1_0_origin_does_not_end_the_clients_keep_alive() {
    use std::io::{BufRead, BufReader, Read, Write};
    let origin = std::net::TcpListener::bind("127.0.0.1:0").expect("bind origin");
    let origin_addr = origin.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in origin.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nold ok");
        }
    });
    let gw = Gateway::start(&format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[apis]]
name = "old"
[[apis.routes]]
key = "GET /old"
integration = {{ type = "http_proxy", url = "http://{origin_addr}/old" }}
"#
    ));
    let mut client = std::net::TcpStream::connect(gw.addr("main")).expect("connect");
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    for round in 0..2 {
        client
            .write_all(b"GET /old HTTP/1.1\r\nHost: gw\r\n\r\n")
            .unwrap_or_else(|e| panic!("request {round} on the same connection: {e}"));
        let mut reader = BufReader::new(&client);
        let mut status = String::new();
        reader.read_line(&mut status).expect("status line");
        assert_eq!(status, "HTTP/1.1 200 OK\r\n", "round {round}");
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).expect("header");
            if header == "\r\n" {
                break;
            }
            let lower = header.to_ascii_lowercase();
            assert!(
                !lower.starts_with("connection: close"),
                "round {round}: {header}"
            );
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        assert_eq!(body, b"old ok", "round {round}");
    }
}
