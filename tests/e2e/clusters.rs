//! Named upstreams (`[upstreams.NAME]`) against real origins: HTTPS
//! verified against a private CA (and refused when the name or the issuer
//! is wrong), client certificates to origins that ask for one, HTTP/2 by
//! ALPN and by prior knowledge, round-robin balancing, retries of connect
//! failures and of chosen statuses, outlier ejection, active health checks,
//! and the connection and request limits.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Gateway, client, eventually};
use crate::pki::{Key, Pki};
use crate::upstream::{Serving, Upstream};

/// A gateway with one route per upstream: `/NAME/...` goes to
/// `https://NAME/...` or `http://NAME/...`.
fn gateway(upstreams: &str, routes: &[(&str, &str)]) -> Gateway {
    let mut config = format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

{upstreams}

[[apis]]
name = "clusters"
"#
    );
    for (name, scheme) in routes {
        config.push_str(&format!(
            r#"
[[apis.routes]]
key = "ANY /{name}/{{proxy+}}"
integration = {{ type = "http_proxy", url = "{scheme}://{name}/{{proxy}}", timeout = "5s" }}
"#
        ));
    }
    Gateway::start(&config)
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn https_upstreams_are_verified_against_the_configured_ca() {
    let pki = Pki::new("upstream-ca");
    let cert = pki.server("origin", Key::Ecdsa, &["origin.internal"]);
    let origin = Upstream::start_with(Serving {
        tls: Some((cert.cert.clone(), cert.key.clone())),
        ..Serving::default()
    });
    let port = origin.addr.port();
    let ca = pki.ca_file();
    let gw = gateway(
        &format!(
            r#"
[upstreams.trusted]
targets = ["127.0.0.1:{port}"]
tls = {{ ca = "{ca}", server_name = "origin.internal" }}

[upstreams.wrong_name]
targets = ["127.0.0.1:{port}"]
tls = {{ ca = "{ca}", server_name = "other.internal" }}

[upstreams.system_roots]
targets = ["127.0.0.1:{port}"]
tls = {{ server_name = "origin.internal" }}

[upstreams.unverified]
targets = ["127.0.0.1:{port}"]
tls = {{ verify = false }}
"#
        ),
        &[
            ("trusted", "https"),
            ("wrong_name", "https"),
            ("system_roots", "https"),
            ("unverified", "https"),
        ],
    );
    let http = client();
    let (status, body, log) = gw
        .send_logged(http.get(gw.url("main", "/trusted/orders?id=7")))
        .await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).expect("origin json");
    assert_eq!(seen["path"], "/orders");
    assert_eq!(seen["query"], "id=7");
    assert_eq!(seen["version"], "HTTP/1.1");
    assert_eq!(log["upstreamAddress"], format!("127.0.0.1:{port}"));
    assert_eq!(log["upstreamAttempts"], 1);
    // Verification off (warned about at load) accepts any certificate.
    let (status, body, _) = gw
        .send_logged(http.get(gw.url("main", "/unverified/x")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        gw.stderr().contains("certificate verification is off"),
        "{}",
        gw.stderr()
    );

    for (path, why) in [
        ("/wrong_name/x", "not valid for name \"other.internal\""),
        ("/system_roots/x", "UnknownIssuer"),
    ] {
        let (status, body, log) = gw.send_logged(http.get(gw.url("main", path))).await;
        assert_eq!(status, 502, "{path}: {body}");
        let message = log["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("invalid peer certificate") && message.contains(why),
            "{path}: the log says why the upstream was refused: {log}"
        );
        assert_eq!(log["errorBlame"], "upstream", "{log}");
    }
}

#[tokio::test]
async fn a_client_certificate_goes_to_origins_that_ask_for_one() {
    let pki = Pki::new("mtls-upstream-ca");
    let server = pki.server("origin", Key::Ecdsa, &["origin.internal"]);
    let client_cert = pki.client("gateway", "turnpike-gateway", 7, false);
    let origin = Upstream::start_with(Serving {
        tls: Some((server.cert.clone(), server.key.clone())),
        client_ca: Some(pki.ca_file()),
        ..Serving::default()
    });
    let port = origin.addr.port();
    let ca = pki.ca_file();
    let gw = gateway(
        &format!(
            r#"
[upstreams.with_cert]
targets = ["127.0.0.1:{port}"]
[upstreams.with_cert.tls]
ca = "{ca}"
server_name = "origin.internal"
client_cert = {{ cert = "{cert}", key = "{key}" }}

[upstreams.without_cert]
targets = ["127.0.0.1:{port}"]
tls = {{ ca = "{ca}", server_name = "origin.internal" }}
"#,
            cert = client_cert.cert,
            key = client_cert.key,
        ),
        &[("with_cert", "https"), ("without_cert", "https")],
    );
    let http = client();
    let (status, body, _) = gw
        .send_logged(http.get(gw.url("main", "/with_cert/x")))
        .await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).expect("origin json");
    assert_eq!(seen["client_cert"], true);
    // Kept apart from `with_cert`'s pooled connections to the same target.
    let (status, body, _) = gw
        .send_logged(http.get(gw.url("main", "/without_cert/x")))
        .await;
    assert_eq!(status, 502, "{body}");
}

#[tokio::test]
async fn http2_to_upstreams_by_alpn_and_by_prior_knowledge() {
    let pki = Pki::new("h2-upstream-ca");
    let cert = pki.server("origin", Key::Ecdsa, &["origin.internal"]);
    let tls_origin = Upstream::start_with(Serving {
        tls: Some((cert.cert.clone(), cert.key.clone())),
        http2: true,
        ..Serving::default()
    });
    let cleartext_origin = Upstream::start_with(Serving {
        http2: true,
        ..Serving::default()
    });
    let ca = pki.ca_file();
    let gw = gateway(
        &format!(
            r#"
[upstreams.h2]
targets = ["127.0.0.1:{tls_port}"]
http2 = true
tls = {{ ca = "{ca}", server_name = "origin.internal" }}

[upstreams.h1_over_tls]
targets = ["127.0.0.1:{tls_port}"]
tls = {{ ca = "{ca}", server_name = "origin.internal" }}

[upstreams.h2c]
targets = ["127.0.0.1:{plain_port}"]
http2 = true
"#,
            tls_port = tls_origin.addr.port(),
            plain_port = cleartext_origin.addr.port(),
        ),
        &[("h2", "https"), ("h1_over_tls", "https"), ("h2c", "http")],
    );
    let http = client();
    for (path, version) in [
        ("/h2/a", "HTTP/2.0"),
        ("/h1_over_tls/a", "HTTP/1.1"),
        ("/h2c/a", "HTTP/2.0"),
    ] {
        // Several requests, some at once: HTTP/2 multiplexes them.
        let requests = (0..8).map(|i| {
            let http = http.clone();
            let url = gw.url("main", &format!("{path}?n={i}"));
            async move {
                let response = http
                    .post(url)
                    .body(format!("body {i}"))
                    .send()
                    .await
                    .expect("request");
                (response.status(), response.text().await.expect("body"))
            }
        });
        for (status, body) in futures_util::future::join_all(requests).await {
            assert_eq!(status, 200, "{path}: {body}");
            let seen: Value = serde_json::from_str(&body).expect("origin json");
            assert_eq!(seen["version"], version, "{path}");
            assert_eq!(seen["method"], "POST");
            assert_eq!(seen["body_len"], 6);
            assert_eq!(
                seen["headers"]["host"][0],
                format!(
                    "127.0.0.1:{}",
                    if path.starts_with("/h2c") {
                        cleartext_origin.addr.port()
                    } else {
                        tls_origin.addr.port()
                    }
                ),
                "{path}: {body}"
            );
        }
    }
    // Eight requests over HTTP/2: no more connections than workers.
    assert!(
        cleartext_origin.stats.connections.load(Ordering::SeqCst) <= 2,
        "h2c used {} connections",
        cleartext_origin.stats.connections.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn requests_are_balanced_and_a_dead_target_is_retried_then_ejected() {
    let a = Upstream::start();
    let b = Upstream::start();
    let dead = dead_port();
    let gw = gateway(
        &format!(
            r#"
[upstreams.pool]
targets = ["127.0.0.1:{a}", "127.0.0.1:{b}", "127.0.0.1:{dead}"]
retries = {{ attempts = 2 }}
outlier = {{ consecutive_failures = 1, ejection_time = "1m" }}
"#,
            a = a.addr.port(),
            b = b.addr.port(),
        ),
        &[("pool", "http")],
    );
    let http = client();
    let mut retried = 0;
    for i in 0..30 {
        let (status, body, log) = gw
            .send_logged(http.get(gw.url("main", &format!("/pool/n{i}"))))
            .await;
        assert_eq!(status, 200, "request {i}: {body}");
        let attempts = log["upstreamAttempts"].as_u64().expect("attempts logged");
        if attempts > 1 {
            retried += 1;
            assert_eq!(attempts, 2, "{log}");
        }
        assert_ne!(log["upstreamAddress"], format!("127.0.0.1:{dead}"));
    }
    // The dead target failed once, was retried elsewhere, and then left out.
    assert_eq!(retried, 1, "one connect failure before the ejection");
    let (sa, sb) = (
        a.stats.started.load(Ordering::SeqCst),
        b.stats.started.load(Ordering::SeqCst),
    );
    assert_eq!(sa + sb, 30);
    assert!(
        sa.abs_diff(sb) <= 2,
        "round robin spreads the load: {sa} and {sb}"
    );
    assert!(
        gw.stderr().contains("target ejected"),
        "the ejection is logged: {}",
        gw.stderr()
    );
}

#[tokio::test]
async fn chosen_statuses_are_retried_for_idempotent_requests_only() {
    let a = Upstream::start();
    let b = Upstream::start();
    let gw = gateway(
        &format!(
            r#"
[upstreams.flaky]
targets = ["127.0.0.1:{a}", "127.0.0.1:{b}"]
retries = {{ attempts = 1, statuses = [503] }}
outlier = {{ consecutive_failures = 0 }}
"#,
            a = a.addr.port(),
            b = b.addr.port(),
        ),
        &[("flaky", "http")],
    );
    let http = client();
    let (status, _, log) = gw
        .send_logged(http.get(gw.url("main", "/flaky/status/503")))
        .await;
    assert_eq!(status, 503);
    assert_eq!(log["upstreamAttempts"], 2, "{log}");
    assert_eq!(a.stats.started.load(Ordering::SeqCst), 1);
    assert_eq!(b.stats.started.load(Ordering::SeqCst), 1);
    // Not retried: a POST, a status not listed.
    let (status, _, log) = gw
        .send_logged(http.post(gw.url("main", "/flaky/status/503")).body("x"))
        .await;
    assert_eq!(status, 503);
    assert_eq!(log["upstreamAttempts"], 1, "{log}");
    let (status, _, log) = gw
        .send_logged(http.get(gw.url("main", "/flaky/status/500")))
        .await;
    assert_eq!(status, 500);
    assert_eq!(log["upstreamAttempts"], 1, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_checks_take_a_target_out_until_it_recovers() {
    let a = Upstream::start();
    let b = Upstream::start();
    a.publish("health", "{}");
    let gw = gateway(
        &format!(
            r#"
[upstreams.checked]
targets = ["127.0.0.1:{a}", "127.0.0.1:{b}"]
[upstreams.checked.health_check]
path = "/doc/health"
interval = "100ms"
timeout = "1s"
healthy_threshold = 1
unhealthy_threshold = 2
"#,
            a = a.addr.port(),
            b = b.addr.port(),
        ),
        &[("checked", "http")],
    );
    // b answers its health checks with 404.
    eventually(Duration::from_secs(10), "b marked unhealthy", || {
        gw.stderr().contains("target unhealthy")
    });
    let http = client();
    let before = b.stats.started.load(Ordering::SeqCst);
    for _ in 0..10 {
        let response = http
            .get(gw.url("main", "/checked/x"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
    }
    // b saw health checks only (they do not go through the route).
    let to_b = b.stats.started.load(Ordering::SeqCst) - before;
    let checks_to_b = b.stats.document_fetches.load(Ordering::SeqCst);
    assert!(
        to_b <= checks_to_b,
        "no request went to the unhealthy target ({to_b} requests, {checks_to_b} checks)"
    );
    b.publish("health", "{}");
    eventually(Duration::from_secs(10), "b healthy again", || {
        gw.stderr().contains("target healthy again")
    });
    let served_before =
        b.stats.started.load(Ordering::SeqCst) - b.stats.document_fetches.load(Ordering::SeqCst);
    for _ in 0..10 {
        let response = http
            .get(gw.url("main", "/checked/x"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
    }
    let served_after =
        b.stats.started.load(Ordering::SeqCst) - b.stats.document_fetches.load(Ordering::SeqCst);
    assert!(served_after - served_before >= 4, "b takes requests again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_pending_requests_get_503_at_once() {
    let origin = Upstream::start();
    let gw = gateway(
        &format!(
            r#"
[upstreams.small]
targets = ["127.0.0.1:{port}"]
max_pending = 2
"#,
            port = origin.addr.port()
        ),
        &[("small", "http")],
    );
    let http = client();
    let slow = (0..2).map(|_| {
        let http = http.clone();
        let url = gw.url("main", "/small/slow/1500");
        tokio::spawn(async move { http.get(url).send().await.expect("request").status() })
    });
    let slow: Vec<_> = slow.collect();
    eventually(
        Duration::from_secs(5),
        "both slow requests at the origin",
        || origin.stats.started.load(Ordering::SeqCst) == 2,
    );
    let started = std::time::Instant::now();
    let (status, body, log) = gw.send_logged(http.get(gw.url("main", "/small/x"))).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "refused at once"
    );
    assert!(
        log["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("max_pending")),
        "{log}"
    );
    for task in slow {
        assert_eq!(task.await.expect("task"), 200);
    }
    // Room again once they finished.
    let response = http
        .get(gw.url("main", "/small/x"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_requests_get_503() {
    let origin = Upstream::start();
    let gw = gateway(
        &format!(
            r#"
[upstreams.one]
targets = ["127.0.0.1:{port}"]
max_connections = 1
"#,
            port = origin.addr.port()
        ),
        &[("one", "http")],
    );
    let http = client();
    let url = gw.url("main", "/one/slow/1500");
    let first = tokio::spawn({
        let http = http.clone();
        async move { http.get(url).send().await.expect("request").status() }
    });
    eventually(
        Duration::from_secs(5),
        "the slow request at the origin",
        || origin.stats.started.load(Ordering::SeqCst) == 1,
    );
    // The one connection is busy: a second one would pass the limit.
    let (status, _, log) = gw.send_logged(http.get(gw.url("main", "/one/x"))).await;
    assert_eq!(status, 503);
    assert!(
        log["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("max_connections")),
        "{log}"
    );
    assert_eq!(first.await.expect("task"), 200);
    assert_eq!(origin.stats.connections.load(Ordering::SeqCst), 1);
}
