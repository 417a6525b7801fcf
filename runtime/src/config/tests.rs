//! Table tests of validation: each configuration with the exact problems it
//! must give (the corpus in `tests/invalid-configs/` checks the same through
//! the binary, with line numbers).

use super::*;

const LISTENER: &str = "[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n";

/// The `key: message` of each problem `text` gives (empty when valid).
fn problems(text: &str) -> Vec<String> {
    match Config::parse(&format!("{LISTENER}{text}"), "t.toml") {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid(problems)) => problems
            .into_iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn keys_of_another_authorizer_type_are_refused() {
    let got = problems(
        r#"
[plugins.auth]
component = "Cargo.toml"
world = "authorizer"

[[apis]]
name = "a"
[apis.authorizers.w]
type = "wasm"
plugin = "auth"
issuer = "https://issuer.example"
credentials = [{ access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = "s" }]
[apis.authorizers.j]
type = "jwt"
issuer = "https://issuer.example"
audiences = ["a"]
jwks_uri = "https://issuer.example/jwks"
plugin = "auth"
on_error = "allow"
[apis.authorizers.s]
type = "sigv4"
credentials = [{ access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = "s" }]
cache_ttl = "5m"
identity_sources = ["$request.header.Authorization"]
"#,
    );
    assert_eq!(
        got,
        [
            "apis[0].authorizers.w.issuer: `issuer` does not apply to authorizers of type `wasm`",
            "apis[0].authorizers.w.credentials: `credentials` does not apply to authorizers of type `wasm`",
            "apis[0].authorizers.j.plugin: `plugin` does not apply to authorizers of type `jwt`",
            "apis[0].authorizers.j.on_error: `on_error` does not apply to authorizers of type `jwt`",
            "apis[0].authorizers.s.cache_ttl: `cache_ttl` does not apply to authorizers of type `sigv4`",
            "apis[0].authorizers.s.identity_sources: `identity_sources` does not apply to authorizers of type `sigv4`",
        ]
    );
}

#[test]
fn a_function_integration_takes_no_timeout() {
    let got = problems(
        r#"
[plugins.fn]
component = "Cargo.toml"
world = "function"

[[apis]]
name = "a"
[[apis.routes]]
key = "GET /f"
integration = { type = "function", plugin = "fn", timeout = "3s" }
"#,
    );
    assert_eq!(
        got,
        [
            "apis[0].routes[0].integration.timeout: `timeout` does not apply to `function` integrations; set `timeout` in the plugin's [plugins.NAME] table, which bounds each invocation"
        ]
    );
}

#[test]
fn unknown_keys_are_collected_with_the_other_problems() {
    let got = problems(
        r#"
[server]
workerz = 2

[[apis]]
name = "bad name"
colour = "blue"
[[apis.routes]]
key = "GET /x"
integration = { type = "mock", status = 700 }
[[apis.routes]]
key = "GET /y"
integration = { type = "mock", delay = "1s" }
"#,
    );
    assert_eq!(got.len(), 5, "{got:#?}");
    assert!(
        got[0].starts_with("server.workerz: unknown field `workerz`"),
        "{got:#?}"
    );
    assert_eq!(
        got[1],
        "apis[0].name: `bad name` is not a valid name (letters, digits, `_` and `-`)"
    );
    assert!(
        got[2].starts_with("apis[0].colour: unknown field `colour`"),
        "{got:#?}"
    );
    assert_eq!(
        got[3],
        "apis[0].routes[0].integration.status: 700 is not an HTTP status between 200 and 599"
    );
    assert!(
        got[4].starts_with("apis[0].routes[1].integration.delay: unknown field `delay`"),
        "{got:#?}"
    );
}

#[test]
fn a_wrong_type_still_stops_but_keeps_the_unknown_keys_found() {
    let got = problems(
        r#"
[server]
color = "red"
workers = "two"
"#,
    );
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with("server.color: unknown field"),
        "{got:#?}"
    );
    assert!(
        got[1].starts_with("server.workers: invalid type"),
        "{got:#?}"
    );
}

#[test]
fn relative_paths_are_relative_to_the_file() {
    let config = Config::parse(
        &format!(
            "{LISTENER}[server]\naccess_log = \"logs/access.log\"\ndata_dir = \"state\"\ncache_dir = \"cache\"\n"
        ),
        "/etc/turnpike/gw.toml",
    )
    .expect("valid");
    assert_eq!(
        config.server.access_log,
        AccessLogTarget::File("/etc/turnpike/logs/access.log".into())
    );
    assert_eq!(config.server.data_dir, Some("/etc/turnpike/state".into()));
    assert_eq!(config.server.cache_dir, Some("/etc/turnpike/cache".into()));
}

#[test]
fn defaults_are_api_gateways() {
    let config = Config::parse(LISTENER, "t.toml").expect("valid");
    assert_eq!(config.limits.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(config.limits.max_header_bytes, 10 * 1024);
    assert_eq!(config.limits.integration_timeout.as_secs(), 29);
    assert_eq!(config.server.request_id_header, "x-request-id");
}

#[test]
fn tracing_is_off_without_its_table_and_has_defaults_with_it() {
    assert_eq!(
        Config::parse(LISTENER, "t.toml").expect("valid").tracing,
        None
    );
    let text = format!("{LISTENER}[tracing]\nendpoint = \"http://collector:4318\"\n");
    let tracing = Config::parse(&text, "t.toml")
        .expect("valid")
        .tracing
        .expect("[tracing]");
    assert_eq!(
        tracing,
        TracingConfig {
            endpoint: "http://collector:4318/v1/traces".to_owned(),
            sample_ratio: 1.0,
            service_name: "turnpike".to_owned(),
            headers: Vec::new(),
            batch_size: 512,
            export_interval: std::time::Duration::from_secs(1),
        }
    );
    let text = format!(
        "{LISTENER}[tracing]\nendpoint = \"http://127.0.0.1:4318/otlp/traces\"\nsample_ratio = 0\nservice_name = \"edge\"\nheaders = {{ \"X-API-Key\" = \"secret\" }}\nbatch_size = 64\nexport_interval = \"250ms\"\n"
    );
    let tracing = Config::parse(&text, "t.toml")
        .expect("valid")
        .tracing
        .expect("[tracing]");
    assert_eq!(tracing.endpoint, "http://127.0.0.1:4318/otlp/traces");
    assert_eq!(tracing.sample_ratio, 0.0);
    assert_eq!(tracing.service_name, "edge");
    assert_eq!(
        tracing.headers,
        [("x-api-key".to_owned(), "secret".to_owned())]
    );
    assert_eq!(tracing.batch_size, 64);
    assert_eq!(tracing.export_interval.as_millis(), 250);
    // The collector's key stays out of debug output.
    assert!(!format!("{tracing:?}").contains("secret"));
}

#[test]
fn tracing_problems_name_their_key() {
    let got = problems(
        r#"
[tracing]
endpoint = "https://collector:4318/v1/traces"
sample_ratio = 1.5
service_name = " "
headers = { "bad name" = "x", "content-type" = "text/plain", "x-ok" = "line\nbreak" }
batch_size = 0
export_interval = "0s"
"#,
    );
    assert_eq!(
        got,
        [
            "tracing.endpoint: https:// collectors are not supported (the exporter is built without TLS): use http://, e.g. a collector or agent on this host or in a sidecar",
            "tracing.sample_ratio: 1.5 is not a ratio: write a number from 0.0 (no trace that starts here is sampled) to 1.0 (all are)",
            "tracing.service_name: the service name is empty",
            "tracing.headers.bad name: `bad name` is not a header name",
            "tracing.headers.content-type: `content-type` is set by the exporter and cannot be replaced",
            "tracing.headers.x-ok: a header value is printable ASCII without line breaks",
            "tracing.batch_size: 0 is not from 1 to 2048 (the most spans waiting for export)",
            "tracing.export_interval: `0s` is zero; a duration must be positive",
        ]
    );
    assert_eq!(
        problems("[tracing]\nendpoint = \"collector:4318\"\n"),
        [
            "tracing.endpoint: `collector:4318` is not an http:// URL; write the collector's OTLP/HTTP traces URL, e.g. \"http://127.0.0.1:4318/v1/traces\""
        ]
    );
    assert_eq!(
        problems("[tracing]\nendpoint = \"http:///v1/traces\"\n"),
        ["tracing.endpoint: `http:///v1/traces` is not a URL (invalid format)"]
    );
}
