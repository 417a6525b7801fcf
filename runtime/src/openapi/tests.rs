//! Export then import, in process: what only Turnpike has (its own
//! authorizers, `wasi:http` functions, route policies and throttles) comes
//! back through the `x-turnpike-*` extensions.

use std::path::Path;

use super::export::{Extensions, export};
use super::import::{Options, import};
use super::source::Source;

const CONFIG: &str = r#"
[[apis]]
name = "native"

[apis.policy]
allow_source = ["10.0.0.0/8"]
deny_source = ["10.9.0.0/16"]

[apis.stages.live.variables]
origin = "10.0.0.5:8080"

[apis.authorizers.tokens]
type = "wasm"
plugin = "token-check"
identity_sources = ["$request.header.x-token"]
cache_ttl = "30s"

[apis.gateway_responses.THROTTLED]
status = 503
headers = { Retry-After = "${stageVariables.origin}", x-id = "${context.requestId}" }
body = '{"id":"${context.requestId}","why":${context.error.messageString}}'

[[apis.routes]]
key = "GET /render/{page+}"
authorizer = "tokens"
throttle = { rate = 5, burst = 10 }
policy = { deny_source = ["10.1.0.0/16"] }
integration = { type = "function", plugin = "renderer" }

[[apis.routes]]
key = "ANY /proxy/{rest+}"
integration = { type = "http_proxy", url = "http://${stageVariables.origin}/{rest}", timeout = "2s", request_headers = { x-who = "${context.authorizer.principalId}" } }
"#;

#[test]
fn turnpike_only_features_survive_a_round_trip() {
    let table: toml::Table = CONFIG.parse().expect("TOML");
    let document = export(
        &table,
        Path::new("gw.toml"),
        "native",
        None,
        Extensions::Aws,
    )
    .expect("exports");
    let text = serde_json::to_string_pretty(&document).expect("JSON");
    let source = Source::parse(&text, "native.json").expect("parses");
    let imported = import(&source, &Options::default()).unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(
        imported.report.summary(),
        "2 routes imported, 0 left out; 0 errors, 0 unsupported, 0 warnings, 0 ignored"
    );
    // Route order does not matter (the most specific route wins); the
    // import writes them by path.
    let by_key = |apis: &toml::Value| {
        let mut apis = apis.clone();
        if let Some(routes) = apis[0].get_mut("routes").and_then(|r| r.as_array_mut()) {
            routes.sort_by_key(|r| r["key"].as_str().unwrap_or("").to_owned());
        }
        apis
    };
    let again: toml::Table = imported.toml.parse().expect("TOML");
    assert_eq!(
        by_key(&again["apis"]),
        by_key(&table["apis"]),
        "{}",
        imported.toml
    );
}

#[test]
fn unknown_apis_and_stages_are_named() {
    let table: toml::Table = CONFIG.parse().expect("TOML");
    let error = export(
        &table,
        Path::new("gw.toml"),
        "native",
        Some("beta"),
        Extensions::None,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "API `native` has no stage `beta` (its stages: live)"
    );
}
