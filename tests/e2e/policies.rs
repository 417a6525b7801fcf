//! Resource policies by source address, per API, stage and route, with
//! clients bound to different loopback addresses (all of 127.0.0.0/8 is
//! loopback on Linux).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Gateway, guest};

fn config() -> String {
    format!(
        r#"
[server]
cache_dir = "cache"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.tokens]
component = "{component}"
world = "authorizer"
config = {{ tokens = "s3cret:alice" }}

[[apis]]
name = "guarded"

[apis.policy]
deny_source = ["127.0.0.66"]

[apis.stages."$default"]

[apis.stages.internal]
policy = {{ allow_source = ["127.0.0.0/30"] }}

[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"
identity_sources = ["$request.header.Authorization"]

[[apis.routes]]
key = "GET /open"
integration = {{ type = "mock", body = "open" }}

[[apis.routes]]
key = "GET /admin"
policy = {{ allow_source = ["127.0.0.1", "::1"] }}
integration = {{ type = "mock", body = "admin" }}

[[apis.routes]]
key = "GET /private"
authorizer = "bearer"
policy = {{ allow_source = ["127.0.0.1/32"] }}
integration = {{ type = "mock", body = "private" }}
"#,
        component = guest("rust_token_authorizer"),
    )
}

/// A client whose connections come from `127.0.0.<last>`.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn get(gw: &Gateway, from: u8, path: &str) -> (u16, String, Value) {
    gw.send_logged(client_from(from).get(gw.url("main", path)))
        .await
}

#[tokio::test]
async fn policies_admit_and_refuse_by_source_address_at_every_level() {
    let gw = Gateway::start(&config());
    let forbidden = r#"{"message":"Forbidden"}"#;

    // 127.0.0.1 may call everything.
    for path in ["/open", "/admin", "/internal/open"] {
        let (status, _, _) = get(&gw, 1, path).await;
        assert_eq!(status, 200, "{path}");
    }

    // Route level: /admin only from 127.0.0.1.
    let (status, body, entry) = get(&gw, 2, "/admin").await;
    assert_eq!((status, body.as_str()), (403, forbidden));
    assert_eq!(
        entry["errorMessage"],
        "Forbidden: resource policy: 127.0.0.2 is not in allow_source of the route"
    );
    assert_eq!(entry["errorBlame"], "downstream");
    let (status, body, _) = get(&gw, 2, "/open").await;
    assert_eq!((status, body.as_str()), (200, "open"));

    // Stage level: the internal stage only from 127.0.0.0/30.
    let (status, _, _) = get(&gw, 3, "/internal/open").await;
    assert_eq!(status, 200);
    let (status, body, entry) = get(&gw, 9, "/internal/open").await;
    assert_eq!((status, body.as_str()), (403, forbidden));
    assert!(
        entry["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.9 is not in allow_source of the stage"),
        "{entry}"
    );
    let (status, _, _) = get(&gw, 9, "/open").await;
    assert_eq!(status, 200, "the $default stage has no policy");

    // API level: a deny wins everywhere.
    for path in ["/open", "/internal/open"] {
        let (status, body, entry) = get(&gw, 66, path).await;
        assert_eq!((status, body.as_str()), (403, forbidden), "{path}");
        assert!(
            entry["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .contains("127.0.0.66 is in deny_source of the API"),
            "{entry}"
        );
    }

    // The policy runs before the authorizer: no token, refused address ->
    // 403, not 401; an admitted address without a token gets the 401.
    let (status, _, entry) = get(&gw, 2, "/private").await;
    assert_eq!(status, 403);
    assert_eq!(entry["authorizerCacheHit"], Value::Null);
    let (status, _, _) = get(&gw, 1, "/private").await;
    assert_eq!(status, 401);
}
