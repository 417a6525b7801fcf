//! The admin API and configuration reloads: bearer-token authentication,
//! health and readiness, `POST /reload` and SIGHUP applying a valid file and
//! refusing a broken one while the previous configuration keeps serving.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Gateway, binary, client, eventually, run};

const TOKEN: &str = "s3cret-admin-token";

/// A gateway with `GET /v` answering `body`, and the admin API on port 0
/// with the token in `token_file`.
fn config(body: &str, token_file: &str) -> String {
    format!(
        r#"
[admin]
address = "127.0.0.1:0"
token_file = "{token_file}"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "versions"

[[apis.routes]]
key = "GET /v"
integration = {{ type = "mock", body = "{body}" }}
"#
    )
}

async fn version(gw: &Gateway) -> String {
    let response = client()
        .get(gw.url("main", "/v"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.text().await.expect("body")
}

async fn admin(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = client().request(method, gw.url(turnpike::ADMIN_LISTENER, path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("admin request");
    let status = response.status().as_u16();
    let body = response.json().await.expect("json body");
    (status, body)
}

fn token_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("admin-token");
    std::fs::write(&path, format!("{TOKEN}\n")).expect("write token");
    let path = path.display().to_string();
    (dir, path)
}

#[tokio::test]
async fn the_admin_api_needs_its_token_and_reloads_only_valid_files() {
    let (_keep, token) = token_file();
    let gw = Gateway::start(&config("v1", &token));
    use reqwest::Method;

    // Health checks are open: load balancers carry no token.
    assert_eq!(
        admin(&gw, Method::GET, "/healthz", None).await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        admin(&gw, Method::GET, "/readyz", None).await,
        (200, serde_json::json!({"status": "ready"}))
    );

    // Everything else needs the token.
    let unauthorized = serde_json::json!({"message": "Unauthorized"});
    assert_eq!(
        admin(&gw, Method::POST, "/reload", None).await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        admin(&gw, Method::POST, "/reload", Some("s3cret-admin-tokeN")).await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        admin(&gw, Method::POST, "/reload", Some("s3cret")).await,
        (401, unauthorized)
    );
    assert_eq!(admin(&gw, Method::GET, "/reload", Some(TOKEN)).await.0, 405);
    assert_eq!(
        admin(&gw, Method::GET, "/nothing-here", Some(TOKEN)).await,
        (404, serde_json::json!({"message": "Not Found"}))
    );

    // A broken file is refused with the reason, file and line; v1 serves on.
    gw.rewrite_config(&config("v2", &token).replace("key = \"GET /v\"", "key = \"GET v\""));
    let (status, body) = admin(&gw, Method::POST, "/reload", Some(TOKEN)).await;
    assert_eq!(status, 400, "{body}");
    let problems = body["problems"].to_string();
    assert!(
        problems.contains("turnpike.toml:") && problems.contains("apis[0].routes[0].key"),
        "{body}"
    );
    assert_eq!(version(&gw).await, "v1");

    // A start-only setting cannot change by reload.
    gw.rewrite_config(&config("v2", &token).replace(
        "name = \"main\"\naddress = \"127.0.0.1:0\"",
        "name = \"main\"\naddress = \"127.0.0.1:1\"",
    ));
    let (status, body) = admin(&gw, Method::POST, "/reload", Some(TOKEN)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["problems"]
            .to_string()
            .contains("[[listeners]] changed"),
        "{body}"
    );
    assert_eq!(version(&gw).await, "v1");

    // A valid file is in force when the call returns.
    gw.rewrite_config(&config("v2", &token));
    assert_eq!(
        admin(&gw, Method::POST, "/reload", Some(TOKEN)).await,
        (
            200,
            serde_json::json!({"status": "reloaded", "generation": 1})
        )
    );
    assert_eq!(version(&gw).await, "v2");
}

#[tokio::test]
async fn sighup_reloads_and_a_broken_file_keeps_the_old_config_serving() {
    let (_keep, token) = token_file();
    let mut gw = Gateway::start(&config("v1", &token));

    gw.rewrite_config("[[listeners]\nname = ");
    gw.signal("HUP");
    eventually(
        Duration::from_secs(10),
        "the refused reload is logged",
        || gw.stderr().contains("reload refused (SIGHUP)"),
    );
    assert!(gw.stderr().contains("invalid TOML"), "{}", gw.stderr());
    assert_eq!(version(&gw).await, "v1");

    gw.rewrite_config(&config("v2", &token));
    gw.signal("HUP");
    eventually(Duration::from_secs(10), "the reload is logged", || {
        gw.stderr().contains("configuration reloaded (SIGHUP)")
    });
    assert_eq!(version(&gw).await, "v2");

    // Still a normal process: SIGTERM stops it cleanly.
    gw.terminate();
    assert!(gw.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn an_admin_api_off_loopback_needs_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("open.toml");
    std::fs::write(
        &path,
        "[admin]\naddress = \"0.0.0.0:9901\"\n\n[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n",
    )
    .expect("write");
    for command in ["validate", "serve"] {
        let (code, _, err) = run(Command::new(binary())
            .args([command, "--config"])
            .arg(&path));
        assert_eq!(code, 1, "{command}: {err}");
        assert!(
            err.contains("open.toml:2:11: admin.address: the admin API on 0.0.0.0:9901, which is not a loopback address, needs a token"),
            "{command}: {err}"
        );
    }

    std::fs::write(
        &path,
        "[admin]\ntoken_env = \"TURNPIKE_TEST_UNSET_TOKEN\"\n\n[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n",
    )
    .expect("write");
    let (code, _, err) = run(Command::new(binary())
        .args(["validate", "--config"])
        .arg(&path)
        .env_remove("TURNPIKE_TEST_UNSET_TOKEN"));
    assert_eq!(code, 1);
    assert!(
        err.contains("admin.token_env: the environment variable `TURNPIKE_TEST_UNSET_TOKEN` is not set or empty"),
        "{err}"
    );
}
