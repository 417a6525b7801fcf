//! The W3C Trace Context rules, sampling, and spans delivered to a real
//! OTLP/HTTP receiver (`tests/tools/otlp_receiver.py`, decoding with the
//! OpenTelemetry project's Python protobuf bindings).

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use super::*;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT: &str = "b7ad6b7169203331";

fn traceparent(flags: &str) -> String {
    format!("00-{TRACE}-{PARENT}-{flags}")
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    map
}

fn config(endpoint: &str, sample_ratio: f64) -> TracingConfig {
    TracingConfig {
        endpoint: endpoint.to_owned(),
        sample_ratio,
        service_name: "turnpike-test".to_owned(),
        headers: vec![("x-api-key".to_owned(), "k".to_owned())],
        batch_size: 512,
        export_interval: Duration::from_millis(200),
    }
}

/// A tracer with an exporter whose collector never answers (port 9,
/// discard): what it records is never looked at, only its decisions.
fn exporting(sample_ratio: f64) -> Tracer {
    Tracer::new(Some(&config("http://127.0.0.1:9/v1/traces", sample_ratio))).expect("tracer")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn traceparent_parsing_follows_w3c_level_1() {
    let parsed = |text: &str| parse_traceparent(text.as_bytes());
    let valid = parsed(&traceparent("01")).expect("the spec's example");
    assert_eq!(hex(&valid.trace_id), TRACE);
    assert_eq!(hex(&valid.span_id), PARENT);
    assert!(valid.sampled);
    assert!(!parsed(&traceparent("00")).expect("not sampled").sampled);
    // Only bit 0 of the flags is sampling; other bits are for later levels.
    assert!(parsed(&traceparent("03")).expect("flags 03").sampled);
    assert!(!parsed(&traceparent("02")).expect("flags 02").sampled);
    // A later version is read for its first 55 characters.
    let later = format!("cc-{TRACE}-{PARENT}-01-what-the-future-adds");
    assert_eq!(parsed(&later), Some(valid));
    assert_eq!(parsed(&format!("cc-{TRACE}-{PARENT}-01")), Some(valid));
    // Optional white space around a header value is not part of it.
    assert_eq!(parsed(&format!(" {}\t", traceparent("01"))), Some(valid));
    for bad in [
        String::new(),
        "garbage".to_owned(),
        format!("ff-{TRACE}-{PARENT}-01"), // version ff is invalid
        format!("0-{TRACE}-{PARENT}-01"),  // version one digit
        format!("00-{TRACE}-{PARENT}-01-extra"), // 00 has nothing after
        format!("cc-{TRACE}-{PARENT}-01x"), // later, not `-` after
        format!("00-{}-{PARENT}-01", TRACE.to_uppercase()), // uppercase hex
        format!("00-{TRACE}-{}-01", PARENT.to_uppercase()),
        format!("00-{TRACE}-{PARENT}-0A"),
        format!("0A-{TRACE}-{PARENT}-01"),
        format!("00-{}-{PARENT}-01", "0".repeat(32)), // all-zero trace id
        format!("00-{TRACE}-{}-01", "0".repeat(16)),  // all-zero parent id
        format!("00-{TRACE}-{PARENT}-1"),
        format!("00_{TRACE}-{PARENT}-01"),
        format!("00-{TRACE}_{PARENT}-01"),
        format!("00-{TRACE}-{PARENT}_01"),
        format!("00-{}-{PARENT}-01", &TRACE[1..]), // short trace id
        format!("00-{TRACE}g-{PARENT}-01"),
        format!("00-{TRACE}-{PARENT}-zz"),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0".to_owned(),
    ] {
        assert_eq!(parsed(&bad), None, "{bad:?}");
    }
}

#[test]
fn a_valid_parent_continues_its_trace_with_a_new_span() {
    let tracer = Tracer::new(None).expect("propagation only");
    assert!(!tracer.exporting());
    let incoming = headers(&[
        ("traceparent", &traceparent("01")),
        ("tracestate", "congo=t61rcWkgMzE"),
        ("tracestate", "rojo=00f067aa0ba902b7"),
    ]);
    let trace = tracer.start(&incoming);
    assert_eq!(trace.trace_id(), TRACE);
    assert_ne!(trace.span_id(), PARENT);
    assert_eq!(trace.span_id().len(), 16);
    assert_eq!(hex(&trace.parent_span_id.expect("parent")), PARENT);
    // Parent-based: a sampled caller is sampled here even with tracing off,
    // but nothing is recorded, so the caller's span stays the upstream's
    // parent (a span that nobody exports must not sit between them).
    assert!(trace.sampled());
    assert!(!trace.recording());
    assert_eq!(trace.traceparent(), traceparent("01").as_str());
    // Several tracestate headers combine into one list, passed on.
    assert_eq!(
        trace.tracestate().expect("tracestate"),
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    );

    let tracer = exporting(0.0);
    let trace = tracer.start(&incoming);
    assert_eq!(trace.trace_id(), TRACE);
    assert!(
        trace.sampled() && trace.recording(),
        "parent sampled, ratio 0"
    );
    // Recorded: the upstream's parent is the gateway's server span.
    let sent = trace.traceparent();
    let sent = parse_traceparent(sent.as_bytes()).expect("valid traceparent sent");
    assert_eq!(hex(&sent.trace_id), TRACE);
    assert_eq!(hex(&sent.span_id), trace.span_id());
    assert!(sent.sampled);

    let unsampled = tracer.start(&headers(&[("traceparent", &traceparent("00"))]));
    assert!(!unsampled.sampled() && !unsampled.recording());
    assert_eq!(unsampled.traceparent(), traceparent("00").as_str());
    assert_eq!(unsampled.tracestate(), None);
    tracer.shutdown();
}

#[test]
fn without_a_valid_parent_a_new_trace_starts() {
    let tracer = Tracer::new(None).expect("propagation only");
    let two = headers(&[
        ("traceparent", &traceparent("01")),
        ("traceparent", &traceparent("01")),
        ("tracestate", "congo=t61rcWkgMzE"),
    ]);
    let uppercase = format!("00-{}-{PARENT}-01", TRACE.to_uppercase());
    for incoming in [
        HeaderMap::new(),
        headers(&[("traceparent", "garbage"), ("tracestate", "a=b")]),
        headers(&[("traceparent", &uppercase)]),
        two,
    ] {
        let trace = tracer.start(&incoming);
        assert_ne!(trace.trace_id(), TRACE);
        assert_eq!(trace.trace_id().len(), 32);
        assert!(trace.trace_id().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(trace.parent_span_id, None);
        // Tracing off: nothing starts sampled here.
        assert!(!trace.sampled());
        // The old trace's state does not carry over to a new trace.
        assert_eq!(trace.tracestate(), None);
        let sent = trace.traceparent();
        let sent = parse_traceparent(sent.as_bytes()).expect("valid traceparent sent");
        assert_eq!(hex(&sent.trace_id), trace.trace_id());
        assert_eq!(hex(&sent.span_id), trace.span_id());
        assert!(!sent.sampled);
    }
    assert_ne!(
        tracer.start(&HeaderMap::new()).trace_id(),
        tracer.start(&HeaderMap::new()).trace_id()
    );
}

#[test]
fn the_ratio_decides_for_new_traces_only() {
    let never = exporting(0.0);
    assert!((0..10_000).all(|_| !never.start(&HeaderMap::new()).sampled()));
    let always = exporting(1.0);
    assert!((0..1_000).all(|_| always.start(&HeaderMap::new()).recording()));
    // A caller that did not sample is followed even at ratio 1.
    let unsampled = headers(&[("traceparent", &traceparent("00"))]);
    assert!(!always.start(&unsampled).sampled());
    let half = exporting(0.5);
    let sampled = (0..10_000)
        .filter(|_| half.start(&HeaderMap::new()).sampled())
        .count();
    assert!((4_000..6_000).contains(&sampled), "{sampled} of 10000");
    for tracer in [never, always, half] {
        tracer.shutdown();
    }
}

#[test]
fn span_names_and_routes_follow_the_route_key() {
    assert_eq!(
        route_and_name("GET", Some("GET /pets/{id}")),
        (Some("/pets/{id}"), "GET /pets/{id}".to_owned())
    );
    assert_eq!(
        route_and_name("POST", Some("ANY /pets/{proxy+}")),
        (Some("/pets/{proxy+}"), "POST /pets/{proxy+}".to_owned())
    );
    assert_eq!(
        route_and_name("GET", Some("$default")),
        (None, "GET $default".to_owned())
    );
    assert_eq!(route_and_name("GET", None), (None, "GET".to_owned()));
}

/// The receiver, killed when the test ends however it ends.
struct Receiver(Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tests/tools/otlp_receiver.py` writing to `out`; its port.
fn receiver(out: &Path) -> (Receiver, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tools/otlp_receiver.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().expect("stdout");
    let child = Receiver(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the receiver's first line");
    let port = line
        .strip_prefix("listening ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "otlp_receiver.py did not start (`{line}`); it needs `python3 -m pip install opentelemetry-proto==1.45.2 protobuf==7.36.2`, which scripts/test installs"
            )
        });
    (child, port)
}

fn spans_in(out: &Path, want: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        let spans: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        if spans.len() >= want || Instant::now() > deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    let nanos = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(nanos.as_nanos()).expect("fits")
}

#[test]
fn spans_reach_an_otlp_receiver_with_their_ids_and_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("spans.jsonl");
    let (_receiver, port) = receiver(&out);
    let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
    let tracer = Tracer::new(Some(&config(&endpoint, 1.0))).expect("tracer");

    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    // A request continuing a caller's sampled trace, with two phases.
    let continued = tracer.start(&headers(&[("traceparent", &traceparent("01"))]));
    let integration_attributes = [("server.address", "backend.internal".to_owned())];
    let phases = [
        PhaseSpan {
            name: "authorizer",
            start: at(1),
            end: at(3),
            attributes: &[],
        },
        PhaseSpan {
            name: "integration",
            start: at(4),
            end: at(9),
            attributes: &integration_attributes,
        },
    ];
    tracer.finish(
        &continued,
        &RequestRecord {
            start: at(0),
            end: at(10),
            method: "GET",
            path: "/pets/7",
            status: 200,
            request_id: "req-1",
            api: Some("pets"),
            stage: Some("prod"),
            route_key: Some("GET /pets/{id}"),
            client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            protocol: "HTTP/1.1",
            error: None,
            phases: &phases,
        },
    );
    // A new trace (ratio 1) that failed, with no route.
    let fresh = tracer.start(&HeaderMap::new());
    let failed = RequestRecord {
        start: at(20),
        end: at(25),
        method: "POST",
        path: "/nowhere",
        status: 503,
        request_id: "req-2",
        api: None,
        stage: None,
        route_key: None,
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        protocol: "2",
        error: Some("upstream unavailable"),
        phases: &[],
    };
    tracer.finish(&fresh, &failed);
    // A caller that did not sample: nothing is sent.
    let skipped = tracer.start(&headers(&[("traceparent", &traceparent("00"))]));
    tracer.finish(&skipped, &failed);
    // Shutdown sends what is queued, without waiting for the interval.
    tracer.shutdown();
    tracer.shutdown();

    let spans = spans_in(&out, 4);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
    };
    let server = named("GET /pets/{id}");
    assert_eq!(server["traceId"], TRACE);
    assert_eq!(server["spanId"], continued.span_id());
    assert_eq!(server["parentSpanId"], PARENT);
    assert_eq!(server["kind"], 2, "SERVER");
    assert_eq!(server["startTimeUnixNano"], unix_nanos(at(0)));
    assert_eq!(server["endTimeUnixNano"], unix_nanos(at(10)));
    assert_eq!(server["status"]["code"], 0, "unset");
    let attributes = &server["attributes"];
    assert_eq!(attributes["http.request.method"], "GET");
    assert_eq!(attributes["url.path"], "/pets/7");
    assert_eq!(attributes["http.route"], "/pets/{id}");
    assert_eq!(attributes["http.response.status_code"], 200);
    assert_eq!(attributes["client.address"], "192.0.2.1");
    assert_eq!(attributes["network.protocol.version"], "1.1");
    assert_eq!(attributes["turnpike.api"], "pets");
    assert_eq!(attributes["turnpike.stage"], "prod");
    assert_eq!(attributes["turnpike.route_key"], "GET /pets/{id}");
    assert_eq!(attributes["turnpike.request_id"], "req-1");
    assert_eq!(server["resource"]["service.name"], "turnpike-test");

    let authorizer = named("authorizer");
    let integration = named("integration");
    for (phase, kind) in [(authorizer, 1), (integration, 3)] {
        assert_eq!(phase["traceId"], TRACE);
        assert_eq!(phase["parentSpanId"], continued.span_id());
        assert_ne!(phase["spanId"], continued.span_id());
        assert_eq!(phase["kind"], kind, "{phase}");
    }
    assert_ne!(authorizer["spanId"], integration["spanId"]);
    assert_eq!(integration["startTimeUnixNano"], unix_nanos(at(4)));
    assert_eq!(integration["endTimeUnixNano"], unix_nanos(at(9)));
    assert_eq!(
        integration["attributes"]["server.address"],
        "backend.internal"
    );

    let root = named("POST");
    assert_eq!(root["traceId"], fresh.trace_id());
    assert_eq!(root["spanId"], fresh.span_id());
    assert_eq!(root["parentSpanId"], "");
    assert_eq!(root["status"]["code"], 2, "error");
    assert_eq!(root["attributes"]["error.type"], "503");
    assert_eq!(root["attributes"]["turnpike.error"], "upstream unavailable");
    assert_eq!(root["attributes"]["network.protocol.version"], "2");
    assert!(root["attributes"].get("http.route").is_none());
}

#[test]
fn a_collector_that_is_down_delays_neither_requests_nor_shutdown() {
    // Nothing listens on port 9 here: every export is refused and retried.
    let tracer = exporting(1.0);
    let now = SystemTime::now();
    let record = RequestRecord {
        start: now,
        end: now,
        method: "GET",
        path: "/",
        status: 200,
        request_id: "r",
        api: None,
        stage: None,
        route_key: None,
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        protocol: "1.1",
        error: None,
        phases: &[],
    };
    let started = Instant::now();
    // More than the queue holds: the rest are dropped, not waited for.
    for _ in 0..3 * TRACE_QUEUE_SIZE {
        let trace = tracer.start(&HeaderMap::new());
        tracer.finish(&trace, &record);
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    tracer.shutdown();
    assert!(
        started.elapsed() < SHUTDOWN_TIMEOUT + Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_tracer_is_shared_by_the_workers() {
    fn shared<T: Send + Sync>() {}
    shared::<Tracer>();
    shared::<RequestTrace>();
}

#[tokio::test]
async fn a_plugins_outbound_request_carries_the_trace_it_runs_within() {
    let tracer = Tracer::new(None).expect("propagation only");
    let trace = tracer.start(&headers(&[
        ("traceparent", &traceparent("01")),
        ("tracestate", "vendor=1"),
    ]));
    let sent = within(&trace, async {
        // What a host function does for the plugin's HTTP request.
        let mut outbound = HeaderMap::new();
        outbound.insert(TRACESTATE, HeaderValue::from_static("forged=1"));
        propagate(&mut outbound);
        outbound
    })
    .await;
    assert_eq!(sent[TRACEPARENT], trace.traceparent());
    assert!(
        sent[TRACEPARENT]
            .to_str()
            .expect("ascii")
            .contains(trace.trace_id())
    );
    assert_eq!(sent[TRACESTATE], "vendor=1");
    // Outside a request's plugin call, nothing is added.
    let mut alone = HeaderMap::new();
    propagate(&mut alone);
    assert!(alone.is_empty());
}
