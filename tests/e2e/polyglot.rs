//! The same token authorizer written in Python (componentize-py), JavaScript
//! (componentize-js) and C (wit-bindgen c + clang + wasm-tools), and the same
//! JSON mapper in Python and JavaScript, each built from source with its own
//! tooling and run through the real binary: allow, deny, unauthorized,
//! context passed on, the decision cache, mapping applied, and an exception
//! in the plugin's language giving the same clean 500 as a Rust trap.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Gateway, client, eventually, plugin_cache, polyglot_guest};
use crate::plugins::{behaves_like_the_json_mapper, serves_the_items_api};
use crate::upstream::Upstream;

fn config(component: &str, origin: &Upstream, cache_ttl: &str, instances: &str) -> String {
    crate::plugins::token_config_for(component, &plugin_cache(), origin, cache_ttl, instances)
}

async fn get(gw: &Gateway, path: &str, token: Option<&str>) -> (u16, String, Value) {
    let mut request = client().get(gw.url("main", path));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    gw.send_logged(request).await
}

/// Everything the issue asks of a language's authorizer, through the binary.
async fn behaves_like_the_rust_authorizer(component: &str, language: &str) {
    let origin = Upstream::start();
    for instances in ["fresh", "reuse"] {
        let gw = Gateway::start(&config(component, &origin, "0s", instances));

        let (status, body, entry) = get(&gw, "/private/pets", None).await;
        assert_eq!(
            (status, body.as_str()),
            (401, r#"{"message":"Unauthorized"}"#),
            "{language}"
        );
        assert_eq!(entry["authorizerCacheHit"], Value::Null, "{language}");

        let (status, body, entry) = get(&gw, "/private/pets", Some("wrong")).await;
        assert_eq!(
            (status, body.as_str()),
            (403, r#"{"message":"Forbidden"}"#),
            "{language} {instances}: {}",
            entry["errorMessage"]
        );

        let (status, body, entry) = get(&gw, "/private/pets", Some("s3cret")).await;
        assert_eq!(status, 200, "{language} {instances}: {body}");
        assert_eq!(entry["principalId"], "alice", "{language}");
        let seen: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(seen["path"], "/pets");
        assert_eq!(
            seen["headers"]["x-turnpike-principal-id"][0], "alice",
            "{language}"
        );
        assert_eq!(
            seen["headers"]["x-turnpike-context-language"][0], language,
            "the plugin's context reaches the upstream"
        );

        // An exception (Python, JavaScript) or abort() (C) is a clean 500
        // naming the plugin, exactly like a Rust trap; the next request is fine.
        let (status, body, entry) = get(&gw, "/private/pets", Some("raise")).await;
        assert_eq!(
            (status, body.as_str()),
            (500, r#"{"message":"Internal server error"}"#),
            "{language} {instances}"
        );
        assert_eq!(entry["errorBlame"], "plugin");
        let failed_request = entry["requestId"].as_str().expect("request id").to_owned();
        let message = entry["errorMessage"].as_str().expect("message");
        assert!(
            message.contains("plugin `tokens` trapped"),
            "{language}: {message}"
        );
        // What failed in the plugin's own words, not a wasm backtrace.
        if language == "python" {
            assert_eq!(
                message,
                "Internal server error: plugin `tokens` trapped: RuntimeError: asked to fail"
            );
        }
        assert!(!message.contains("backtrace"), "{language}: {message}");
        let (status, _, _) = get(&gw, "/private/pets", Some("other")).await;
        assert_eq!(status, 200, "{language} {instances} after a failure");
        // Logged by the plugin and, for Python and JavaScript, what the
        // language's runtime wrote to stderr about the failure, under the
        // plugin's name and the failed request's id (also in `reuse` mode,
        // where one instance serves many requests). componentize-js reports
        // a thrown `Error` as "expected a string".
        let about_the_failure = match language {
            "python" => Some("RuntimeError: asked to fail"),
            "javascript" => Some("expected a string"),
            _ => None,
        };
        let tagged = format!(r#"plugin="tokens" request_id="{failed_request}" stream="stderr""#);
        let wanted =
            format!("{language} {instances}: the plugin's log lines, stderr with {tagged}");
        eventually(Duration::from_secs(5), &wanted, || {
            let log = gw.stderr();
            log.contains("unknown token")
                && about_the_failure.is_none_or(|about| {
                    log.lines()
                        .any(|line| line.contains(about) && line.contains(&tagged))
                })
        });
    }

    // The decision cache: the second request with the same token does not
    // run the plugin.
    let gw = Gateway::start(&config(component, &origin, "300s", "fresh"));
    let (_, _, first) = get(&gw, "/private/a", Some("s3cret")).await;
    let (status, _, second) = get(&gw, "/private/b", Some("s3cret")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            first["authorizerCacheHit"].clone(),
            second["authorizerCacheHit"].clone()
        ),
        (false.into(), true.into()),
        "{language}"
    );
    assert_eq!(second["principalId"], "alice");
}

#[tokio::test]
async fn python_token_authorizer() {
    let component = polyglot_guest(
        "python-token-authorizer",
        "python_token_authorizer.wasm",
        "authorizer",
    );
    behaves_like_the_rust_authorizer(&component, "python").await;
}

#[tokio::test]
async fn javascript_token_authorizer() {
    let component = polyglot_guest(
        "js-token-authorizer",
        "js_token_authorizer.wasm",
        "authorizer",
    );
    behaves_like_the_rust_authorizer(&component, "javascript").await;
}

#[tokio::test]
async fn c_token_authorizer() {
    let component = polyglot_guest(
        "c-token-authorizer",
        "c_token_authorizer.wasm",
        "authorizer",
    );
    behaves_like_the_rust_authorizer(&component, "c").await;
}

#[tokio::test]
async fn python_json_mapper() {
    let component = polyglot_guest("python-json-mapper", "python_json_mapper.wasm", "mapper");
    for instances in ["fresh", "reuse"] {
        behaves_like_the_json_mapper(&component, &plugin_cache(), instances, "python").await;
    }
}

#[tokio::test]
async fn javascript_json_mapper() {
    let component = polyglot_guest("js-json-mapper", "js_json_mapper.wasm", "mapper");
    for instances in ["fresh", "reuse"] {
        behaves_like_the_json_mapper(&component, &plugin_cache(), instances, "javascript").await;
    }
}

/// A `wasi:http/proxy` component built by another language's tooling
/// (componentize-py, against the WASI WIT the gateway is built with) serves
/// a `function` route exactly like the Rust one.
#[tokio::test]
async fn python_http_function() {
    let component = polyglot_guest(
        "python-http-function",
        "python_http_function.wasm",
        "function",
    );
    serves_the_items_api(&component, "python").await;
}
