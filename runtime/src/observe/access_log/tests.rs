use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn entry<'a>(path: &'a str) -> AccessLogEntry<'a> {
    AccessLogEntry {
        request_id: "r-1",
        request_time: "2026-11-30T10:00:00.000Z".into(),
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        http_method: "GET",
        path,
        protocol: "HTTP/1.1",
        status: 200,
        api: Some("shop"),
        stage: None,
        deployment_id: None,
        is_canary_request: Some(false),
        route_key: Some("GET /items/{id}"),
        response_latency: 1.5,
        integration_latency: None,
        integration_status: None,
        upstream_address: None,
        upstream_attempts: None,
        error_message: None,
        error_blame: None,
        principal_id: None,
        authorizer_cache_hit: None,
        authorizer_latency: None,
        domain_name: None,
        tls_version: None,
        client_cert: None,
        connection_id: None,
        event_type: None,
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        cache_status: Some("hit"),
    }
}

fn line(format: &str, entry: &AccessLogEntry<'_>) -> String {
    let template = LogTemplate::parse(format).expect("a template");
    let mut out = Vec::new();
    render(&template, entry, &mut out);
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn templates_fill_in_context_variables_and_dashes() {
    assert_eq!(
        line(
            "$context.requestId $context.httpMethod $context.resourcePath $context.status $context.stage $context.responseLatency $context.cacheStatus $context.traceId",
            &entry("/items/7"),
        ),
        "r-1 GET /items/{id} 200 - 1.5 hit 4bf92f3577b34da6a3ce929d0e0e4736"
    );
}

#[test]
fn a_hostile_path_cannot_forge_lines_or_break_json() {
    let hostile = entry("/a\"b\\c\nforged");
    assert_eq!(line("$context.path", &hostile), "/a\"b\\c\\u000aforged");
    let json = line(
        r#"{"path":"$context.path","status":$context.status}"#,
        &hostile,
    );
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("still JSON");
    assert_eq!(parsed["path"], "/a\"b\\c\nforged");
    assert_eq!(parsed["status"], 200);
}

#[test]
fn a_reopened_file_gets_the_lines_after_the_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.log");
    let log = AccessLog::open(&AccessLogTarget::File(path.clone()), &AccessLogFormat::Json)
        .expect("open");
    log.record(&entry("/before"));
    // Flushed once the writer finds its queue empty: wait for the line.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&path).is_ok_and(|s| s.contains("/before")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first line was not written"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&path, &rotated).expect("rotate");
    log.reopen();
    log.record(&entry("/after"));
    log.close();
    let old = std::fs::read_to_string(&rotated).expect("old file");
    let new = std::fs::read_to_string(&path).expect("new file");
    assert!(old.contains("/before") && !old.contains("/after"), "{old}");
    assert!(new.contains("/after") && !new.contains("/before"), "{new}");
}
