//! Metrics and the operator view through the real binary: `/metrics` parsed
//! by PyPI prometheus-client's OpenMetrics parser with values matching the
//! traffic sent, `/recent-errors`, and the operator view driven in Debian's
//! chromium by playwright-core (a screenshot saved by the run).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Gateway, client, guest, python_tool, workspace};
use crate::upstream::Upstream;

const TOKEN: &str = "observability-admin-token-0123";

fn config(upstream: &Upstream, component: &str) -> String {
    // A port nothing listens on, for 502s.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
token_file = "{token}"

[plugins.tokens]
component = "{component}"
world = "authorizer"
timeout = "5s"
config = {{ tokens = "s3cret:alice" }}

[api_keys.partner]
value = "observability-partner-key-0123"

[usage_plans.tiny]
api_keys = ["partner"]
stages = [{{ api = "shop", stage = "prod" }}]
quota = {{ limit = 1, period = "day" }}

[[apis]]
name = "shop"

[apis.stages.prod.cache]
capacity = "1 MiB"

[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"
identity_sources = ["$request.header.Authorization"]
cache_ttl = "0s"

[[apis.routes]]
key = "GET /hello"
integration = {{ type = "mock", body = "hello" }}

[[apis.routes]]
key = "GET /pets/{{id}}"
cache = {{ key_parameters = ["method.request.path.id"] }}
integration = {{ type = "http_proxy", url = "{origin}/pets/{{id}}" }}

[[apis.routes]]
key = "GET /dead"
integration = {{ type = "http_proxy", url = "http://127.0.0.1:{dead_port}/" }}

[[apis.routes]]
key = "GET /secret"
authorizer = "bearer"
integration = {{ type = "mock", body = "secret" }}

[[apis.routes]]
key = "GET /metered"
api_key_required = true
integration = {{ type = "mock", body = "metered" }}

[[apis.routes]]
key = "GET /scarce"
throttle = {{ rate = 0.001, burst = 1 }}
integration = {{ type = "mock", body = "scarce" }}
"#,
        token = crate::harness::token_file("observability-admin", TOKEN),
        origin = upstream.base(),
    )
}

/// Every sample of a parsed exposition, by name and sorted labels.
struct Samples(Vec<Value>);

impl Samples {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: HashMap<&str, &str> = labels.iter().copied().collect();
        let found: Vec<f64> = self
            .0
            .iter()
            .filter(|s| s["name"] == name)
            .filter(|s| {
                wanted
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v))
            })
            .map(|s| s["value"].as_f64().expect("a number"))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one sample {name} {labels:?}, found {found:?}"
        );
        found[0]
    }
}

async fn scrape(gw: &Gateway) -> Samples {
    let text = client()
        .get(format!("http://{}/metrics", gw.addr("@admin")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let parsed = python_tool("prom_parse.py", &json!({ "text": text }));
    Samples(parsed["samples"].as_array().expect("samples").clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_traffic_sent() {
    let upstream = Upstream::start();
    let gw = Gateway::start(&config(&upstream, &guest("rust_token_authorizer")));
    let http = client();
    let url = |p: &str| gw.url("main", &format!("/prod{p}"));
    let unauthorized = http
        .get(format!("http://{}/metrics", gw.addr("@admin")))
        .send()
        .await
        .expect("scrape");
    assert_eq!(unauthorized.status(), 401, "the metrics need the token");

    for _ in 0..5 {
        assert_eq!(
            http.get(url("/hello"))
                .send()
                .await
                .expect("hello")
                .status(),
            200
        );
    }
    for id in [1, 1, 1, 2] {
        let response = http
            .get(url(&format!("/pets/{id}")))
            .send()
            .await
            .expect("pets");
        assert_eq!(response.status(), 200);
    }
    let mut failed_id = String::new();
    for _ in 0..2 {
        let response = http.get(url("/dead")).send().await.expect("dead");
        assert_eq!(response.status(), 502);
        failed_id = response.headers()["x-request-id"]
            .to_str()
            .expect("id")
            .to_owned();
    }
    for token in ["s3cret", "s3cret", "wrong"] {
        http.get(url("/secret"))
            .header("authorization", token)
            .send()
            .await
            .expect("secret");
    }
    let scarce: Vec<u16> = futures_util::future::join_all((0..3).map(|_| async {
        http.get(url("/scarce"))
            .send()
            .await
            .expect("scarce")
            .status()
            .as_u16()
    }))
    .await;
    assert_eq!(
        scarce.iter().filter(|s| **s == 429).count(),
        2,
        "{scarce:?}"
    );
    let mut metered = Vec::new();
    for _ in 0..2 {
        let response = http
            .get(url("/metered"))
            .header("x-api-key", "observability-partner-key-0123")
            .send()
            .await
            .expect("metered");
        metered.push(response.status().as_u16());
    }
    assert_eq!(metered, [200, 429], "a quota of one call a day");
    assert_eq!(
        http.get(gw.url("main", "/nowhere"))
            .send()
            .await
            .expect("404")
            .status(),
        404
    );

    let m = scrape(&gw).await;
    let route = |r: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![("api", "shop"), ("stage", "prod"), ("route", r)]
    };
    let with = |mut labels: Vec<(&'static str, &'static str)>,
                extra: (&'static str, &'static str)| {
        labels.push(extra);
        labels
    };
    let requests = "turnpike_requests_total";
    assert_eq!(
        m.value(
            requests,
            &with(route("GET /hello"), ("status_class", "2xx"))
        ),
        5.0
    );
    assert_eq!(
        m.value(
            requests,
            &with(route("GET /pets/{id}"), ("status_class", "2xx"))
        ),
        4.0
    );
    assert_eq!(
        m.value(requests, &with(route("GET /dead"), ("status_class", "5xx"))),
        2.0
    );
    assert_eq!(
        m.value(
            requests,
            &with(route("GET /secret"), ("status_class", "4xx"))
        ),
        1.0
    );
    assert_eq!(
        m.value(
            requests,
            &with(route("GET /scarce"), ("status_class", "4xx"))
        ),
        2.0
    );
    assert_eq!(
        m.value(requests, &[("api", ""), ("status_class", "4xx")]),
        1.0,
        "unmatched"
    );
    let latency = "turnpike_request_duration_seconds_count";
    assert_eq!(m.value(latency, &route("GET /hello")), 5.0);
    assert_eq!(
        m.value(
            "turnpike_request_duration_seconds_bucket",
            &with(route("GET /hello"), ("le", "+Inf"))
        ),
        5.0
    );
    assert_eq!(
        m.value(
            "turnpike_integration_duration_seconds_count",
            &route("GET /pets/{id}")
        ),
        2.0,
        "two misses called the upstream"
    );
    assert_eq!(
        m.value("turnpike_cache_hits_total", &route("GET /pets/{id}")),
        2.0
    );
    assert_eq!(
        m.value("turnpike_cache_misses_total", &route("GET /pets/{id}")),
        2.0
    );
    assert_eq!(
        m.value("turnpike_upstream_errors_total", &route("GET /dead")),
        2.0
    );
    assert_eq!(
        m.value("turnpike_throttled_requests_total", &route("GET /scarce")),
        2.0
    );
    let tiny = [("api", "shop"), ("stage", "prod"), ("plan", "tiny")];
    assert_eq!(
        m.value("turnpike_usage_plan_quota_exceeded_requests_total", &tiny),
        1.0
    );
    assert_eq!(
        m.value("turnpike_usage_plan_throttled_requests_total", &tiny),
        0.0
    );
    assert_eq!(
        m.value(
            "turnpike_quota_exceeded_requests_total",
            &route("GET /metered")
        ),
        1.0
    );
    let decisions = "turnpike_authorizer_decisions_total";
    let bearer = [("api", "shop"), ("authorizer", "bearer")];
    assert_eq!(
        m.value(decisions, &[bearer[0], bearer[1], ("decision", "allow")]),
        2.0
    );
    assert_eq!(
        m.value(decisions, &[bearer[0], bearer[1], ("decision", "deny")]),
        1.0
    );
    assert_eq!(
        m.value("turnpike_authorizer_duration_seconds_count", &bearer),
        3.0
    );
    assert_eq!(
        m.value(
            "turnpike_plugin_invocations_total",
            &[("plugin", "tokens"), ("outcome", "ok")]
        ),
        3.0
    );
    assert_eq!(
        m.value(
            "turnpike_plugin_invocations_total",
            &[("plugin", "tokens"), ("outcome", "trap")]
        ),
        0.0
    );
    assert!(
        m.value(
            "turnpike_accepted_connections_total",
            &[("listener", "main"), ("protocol", "http1")]
        ) >= 1.0
    );
    assert_eq!(m.value("turnpike_snapshot_generation", &[]), 0.0);

    // A reload is a change: counted, and the generation moves.
    let reloaded = http
        .post(format!("http://{}/reload", gw.addr("@admin")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("reload");
    assert_eq!(reloaded.status(), 200);
    let m = scrape(&gw).await;
    assert_eq!(
        m.value("turnpike_snapshot_changes_total", &[("outcome", "applied")]),
        1.0
    );
    assert_eq!(m.value("turnpike_snapshot_generation", &[]), 1.0);
    // Counters survive the new snapshot.
    assert_eq!(
        m.value(
            requests,
            &with(route("GET /hello"), ("status_class", "2xx"))
        ),
        5.0
    );

    // The last errors name the failed request.
    let errors: Value = http
        .get(format!("http://{}/recent-errors", gw.addr("@admin")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("errors")
        .json()
        .await
        .expect("json");
    let newest = &errors["errors"][0];
    assert_eq!(newest["requestId"], failed_id.as_str());
    assert_eq!(newest["status"], 502);
    assert_eq!(newest["routeKey"], "GET /dead");
    assert_eq!(
        errors["errors"].as_array().expect("list").len(),
        2,
        "client errors are not listed"
    );
}

/// Installs nothing: `scripts/test` puts chromium and playwright-core in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_view_shows_the_gateway_in_a_browser() {
    let upstream = Upstream::start();
    let gw = Gateway::start(&config(&upstream, &guest("rust_token_authorizer")));
    let http = client();
    let failed = http
        .get(gw.url("main", "/prod/dead"))
        .send()
        .await
        .expect("dead");
    assert_eq!(failed.status(), 502);
    let failed_id = failed.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    // Traffic keeps flowing while the page polls: rates are differences
    // between two of its reads.
    let running = Arc::new(AtomicBool::new(true));
    let traffic = {
        let running = running.clone();
        let urls = [
            gw.url("main", "/prod/pets/7"),
            gw.url("main", "/prod/hello"),
        ];
        tokio::spawn(async move {
            let http = client();
            while running.load(Ordering::Relaxed) {
                for url in &urls {
                    let _ = http.get(url).send().await;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let screenshots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot folder");
    let screenshot = screenshots.join("operator-view.png");
    let _ = std::fs::remove_file(&screenshot);
    let output = tokio::process::Command::new("node")
        .arg(workspace().join("tests/browser/operator_view.mjs"))
        .env("ADMIN_URL", format!("http://{}", gw.addr("@admin")))
        .env("ADMIN_TOKEN", TOKEN)
        .env("SCREENSHOT", &screenshot)
        .env("EXPECT_ROUTE", "GET /pets/{id}")
        .env("EXPECT_ERROR_REQUEST_ID", &failed_id)
        .output()
        .await
        .expect("run node");
    running.store(false, Ordering::Relaxed);
    let _ = traffic.await;
    assert!(
        output.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_template_log_is_reopened_on_sigusr1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let gw = Gateway::start(&format!(
        r#"
[server]
access_log = "{log}"
access_log_format = '$context.requestId $context.httpMethod $context.routeKey $context.status "$context.path" $context.traceId'

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "plain"

[[apis.routes]]
key = "GET /hello"
integration = {{ type = "mock", body = "hello" }}
"#,
        log = log.display()
    ));
    let http = client();
    let send = |path: &'static str| {
        let request = http.get(gw.url("main", path));
        async move {
            let response = request.send().await.expect("request");
            response.headers()["x-request-id"]
                .to_str()
                .expect("id")
                .to_owned()
        }
    };
    let read = |path: &std::path::Path| std::fs::read_to_string(path).unwrap_or_default();
    let first = send("/hello").await;
    crate::harness::eventually(Duration::from_secs(5), "the first line", || {
        read(&log).contains(&first)
    });
    let line = read(&log);
    let fields: Vec<&str> = line.trim_end().split(' ').collect();
    assert_eq!(
        &fields[..5],
        [first.as_str(), "GET", "GET", "/hello", "200"],
        "{line}"
    );
    assert_eq!(fields[5], "\"/hello\"");
    assert_eq!(fields[6].len(), 32, "a W3C trace id in every line: {line}");

    // logrotate moves the file and sends SIGUSR1, as to nginx.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    gw.signal("USR1");
    // The signal is handled asynchronously: a line written before the
    // writer reopened still lands in the moved file. Keep sending until one
    // lands in a new file at the old path.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let id = send("/nowhere").await;
        crate::harness::eventually(Duration::from_secs(5), "the line of a request", || {
            read(&log).contains(&id) || read(&rotated).contains(&id)
        });
        if read(&log).contains(&id) {
            break id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log was never reopened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!read(&rotated).contains(&after));
    assert!(read(&rotated).contains(&first));
    assert!(read(&log).contains(" 404 "), "{}", read(&log));
}

/// `tests/tools/otlp_receiver.py`, a collector's front door decoding with
/// the OpenTelemetry project's own protobuf bindings.
struct Collector {
    child: std::process::Child,
    port: u16,
    spans: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Collector {
    fn start() -> Collector {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("tempdir");
        let spans = dir.path().join("spans.jsonl");
        let mut child = std::process::Command::new("python3")
            .arg(workspace().join("tests/tools/otlp_receiver.py"))
            .arg(&spans)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the receiver's first line");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not a listening line: {line:?}"));
        Collector {
            child,
            port,
            spans,
            _dir: dir,
        }
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.spans)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_with_the_callers_trace_and_parents() {
    let upstream = Upstream::start();
    let collector = Collector::start();
    let gw = Gateway::start(&format!(
        r#"
[tracing]
endpoint = "http://127.0.0.1:{port}/v1/traces"
sample_ratio = 1.0
service_name = "edge-gateway"
export_interval = "100ms"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.tokens]
component = "{component}"
world = "authorizer"
timeout = "5s"
config = {{ tokens = "s3cret:alice" }}

[[apis]]
name = "shop"

[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"
identity_sources = ["$request.header.Authorization"]

[plugins.json-mapper]
component = "{mapper}"
world = "mapper"
timeout = "5s"

[[apis.routes]]
key = "GET /pets/{{id}}"
authorizer = "bearer"
integration = {{ type = "http_proxy", url = "{origin}/pets/{{id}}" }}

[[apis.routes]]
key = "GET /hello"
mapper = "json-mapper"
integration = {{ type = "mock", status = 202, body = "plain words" }}
"#,
        port = collector.port,
        component = guest("rust_token_authorizer"),
        mapper = guest("rust_json_mapper"),
        origin = upstream.base(),
    ));
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = client()
        .get(gw.url("main", "/pets/7"))
        .header("authorization", "s3cret")
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .header("tracestate", "vendor=opaque")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let seen: Value = response.json().await.expect("the upstream's description");
    let upstream_parent = seen["headers"]["traceparent"][0]
        .as_str()
        .expect("traceparent upstream");
    assert_eq!(
        seen["headers"]["tracestate"][0], "vendor=opaque",
        "passed on unchanged"
    );

    let mut spans = Vec::new();
    crate::harness::eventually(Duration::from_secs(10), "three spans", || {
        spans = collector.spans();
        spans.len() >= 3
    });
    let server = spans
        .iter()
        .find(|s| s["kind"] == 2)
        .expect("a SERVER span");
    assert_eq!(server["traceId"], caller_trace);
    assert_eq!(server["parentSpanId"], caller_span);
    assert_eq!(server["name"], "GET /pets/{id}");
    assert_eq!(server["attributes"]["http.response.status_code"], 200);
    assert_eq!(server["attributes"]["http.route"], "/pets/{id}");
    assert_eq!(
        server["attributes"]["turnpike.request_id"],
        request_id.as_str()
    );
    assert_eq!(server["resource"]["service.name"], "edge-gateway");
    let server_id = server["spanId"].as_str().expect("span id");
    // The upstream's parent is the gateway's request span.
    assert_eq!(upstream_parent, format!("00-{caller_trace}-{server_id}-01"));
    for (name, kind) in [("authorizer", 1), ("integration", 3)] {
        let child = spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} span in {spans:?}"));
        assert_eq!(child["kind"], kind);
        assert_eq!(child["parentSpanId"], server_id, "{name}");
        assert_eq!(child["traceId"], caller_trace);
        let (start, end) = (
            child["startTimeUnixNano"].as_u64().expect("start"),
            child["endTimeUnixNano"].as_u64().expect("end"),
        );
        assert!(start >= server["startTimeUnixNano"].as_u64().expect("server start"));
        assert!(end <= server["endTimeUnixNano"].as_u64().expect("server end"));
        assert!(end >= start);
    }
    // The access log names the same trace.
    assert_eq!(gw.access_log_entry(&request_id)["traceId"], caller_trace);

    // Without a traceparent, the gateway starts a trace of its own.
    let response = client()
        .get(gw.url("main", "/pets/8"))
        .header("authorization", "s3cret")
        .send()
        .await
        .expect("request");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let seen: Value = response.json().await.expect("description");
    let new_trace = gw.access_log_entry(&request_id)["traceId"]
        .as_str()
        .expect("trace id")
        .to_owned();
    assert_ne!(new_trace, caller_trace);
    assert!(
        seen["headers"]["traceparent"][0]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("00-{new_trace}-")))
    );
    crate::harness::eventually(Duration::from_secs(10), "the new trace's root span", || {
        collector.spans().iter().any(|s| {
            s["traceId"] == new_trace.as_str() && s["kind"] == 2 && s["parentSpanId"] == ""
        })
    });

    // A mapper's two calls are plugin spans of their request.
    let response = client()
        .get(gw.url("main", "/hello"))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .send()
        .await
        .expect("request");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let mut plugin_spans = Vec::new();
    crate::harness::eventually(Duration::from_secs(10), "the mapper's spans", || {
        let spans = collector.spans();
        let Some(server) = spans
            .iter()
            .find(|s| s["attributes"]["turnpike.request_id"] == request_id.as_str())
        else {
            return false;
        };
        let server_id = server["spanId"].clone();
        plugin_spans = spans
            .iter()
            .filter(|s| s["name"] == "plugin" && s["parentSpanId"] == server_id)
            .cloned()
            .collect();
        plugin_spans.len() == 2
    });
    for span in &plugin_spans {
        assert_eq!(span["attributes"]["turnpike.plugin"], "json-mapper");
        assert_eq!(span["kind"], 1);
    }
}
