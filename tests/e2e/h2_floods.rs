//! HTTP/2 floods from `tests/tools/h2_flood.py` (raw frames written with
//! hyperframe and hpack): each is stopped — the connection closed, a
//! GOAWAY, or streams refused — while other clients are served at once and
//! the gateway's memory stays flat.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Gateway, h2c_client, python_tool, rss_kib};
use crate::upstream::Upstream;

fn flood(gw: &Gateway, attack: &str, count: u64) -> Value {
    python_tool(
        "h2_flood.py",
        &json!({ "port": gw.addr("main").port(), "attack": attack, "count": count }),
    )
}

#[tokio::test]
async fn floods_are_cut_off_and_others_keep_being_served() {
    let origin = Upstream::start();
    origin.publish("big", &format!("\"{}\"", "x".repeat(256 * 1024)));
    let gw = Gateway::start(&format!(
        r#"
[server]
access_log = "off"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "floods"

[[apis.routes]]
key = "GET /flood"
integration = {{ type = "mock", body = "ok" }}

[[apis.routes]]
key = "GET /big"
integration = {{ type = "http_proxy", url = "{origin}/doc/big" }}
"#,
        origin = origin.base()
    ));
    let http = h2c_client();
    let served = || async {
        let started = Instant::now();
        let response = http
            .get(gw.url("main", "/flood"))
            .send()
            .await
            .expect("a normal request");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        started.elapsed()
    };
    served().await;
    let before = rss_kib(gw.pid());

    // CVE-2023-44487: streams opened and reset at once.
    let result = flood(&gw, "rapid_reset", 20_000);
    assert!(
        result["closed"] == true || !result["goaway"].is_null(),
        "rapid reset goes on unchecked: {result}"
    );
    assert!(result["sent"].as_u64().expect("sent") < 40_000, "{result}");
    // CONTINUATION frames without end.
    let result = flood(&gw, "continuation", 20_000);
    assert!(
        result["closed"] == true || !result["goaway"].is_null(),
        "{result}"
    );
    assert!(result["sent"].as_u64().expect("sent") < 20_000, "{result}");
    // The connection window pushed past 2^31-1: FLOW_CONTROL_ERROR.
    let result = flood(&gw, "window", 3);
    assert_eq!(result["goaway"], 3, "{result}");
    // More streams than allowed: the excess refused (REFUSED_STREAM).
    let result = flood(&gw, "streams", 300);
    assert_eq!(result["resets"]["7"], 200, "{result}");
    // Responses the client never lets through (window 0): held, not grown.
    let result = flood(&gw, "zero_window", 100);
    assert!(result["closed"] == false, "{result}");
    // PINGs and SETTINGS whose answers are never read: the server stops
    // reading once its answers back up, instead of queueing them.
    for attack in ["ping", "settings"] {
        let result = flood(&gw, attack, 50_000);
        assert!(result["sent"].as_u64().expect("sent") > 0, "{result}");
        let took = served().await;
        assert!(
            took < Duration::from_secs(1),
            "after the {attack} flood: {took:?}"
        );
    }

    let took = served().await;
    assert!(
        took < Duration::from_secs(1),
        "served in {took:?} after the floods"
    );
    let after = rss_kib(gw.pid());
    assert!(
        after < before + 32 * 1024,
        "memory grew from {before} KiB to {after} KiB"
    );
}
