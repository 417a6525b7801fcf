//! Deployments, canaries, promotion and rollback through the CLI and the
//! admin API: a deployed stage keeps serving its snapshot (routes and plugin
//! versions) while the file and the uploads move on, a canary takes its
//! share of requests with its own stage variables, and the stage pointers
//! survive `kill -9`.

use std::process::Command;

use serde_json::Value;

use crate::harness::{Gateway, binary, client, guest, plugin_cache, polyglot_guest, run};
use crate::upstream::Upstream;

const TOKEN: &str = "release-admin-token";

/// `shop`: `GET /version` answers `RELEASE COLOR` (the colour a stage
/// variable), `ANY /private/{proxy+}` goes through the `tokens` authorizer
/// to `origin`. Stages `$default` and `prod`.
fn config(data_dir: &str, token_file: &str, origin: &Upstream, release: &str) -> String {
    format!(
        r#"
[admin]
address = "127.0.0.1:0"
token_file = "{token_file}"

[server]
cache_dir = "{cache}"
data_dir = "{data_dir}"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.tokens]
component = "{component}"
world = "authorizer"
config = {{ tokens = "s3cret:alice" }}

[[apis]]
name = "shop"

[apis.stages."$default"]
variables = {{ color = "red" }}

[apis.stages.prod]
variables = {{ color = "red" }}

[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"
identity_sources = ["$request.header.Authorization"]
cache_ttl = "0s"

[[apis.routes]]
key = "GET /version"
integration = {{ type = "mock", body = "{release} ${{stageVariables.color}}" }}

[[apis.routes]]
key = "ANY /private/{{proxy+}}"
authorizer = "bearer"
integration = {{ type = "http_proxy", url = "{origin}/{{proxy}}" }}
"#,
        cache = plugin_cache(),
        component = guest("rust_token_authorizer"),
        origin = origin.base(),
    )
}

async fn body_of(gw: &Gateway, path: &str) -> String {
    let response = client()
        .get(gw.url("main", path))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("body")
}

/// Which authorizer version let the request through: the C one adds
/// `language = c` to its context.
async fn authorizer_of(gw: &Gateway, prefix: &str) -> &'static str {
    let response = client()
        .get(gw.url("main", &format!("{prefix}/private/x")))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.expect("echo");
    match seen["headers"]["x-turnpike-context-language"][0].as_str() {
        Some("c") => "c",
        _ => "rust",
    }
}

/// Runs `turnpike ARGS` against the gateway's admin API; returns exit code,
/// stdout and stderr.
fn cli(gw: &Gateway, args: &[&str]) -> (i32, String, String) {
    run(Command::new(binary())
        .args(args)
        .env("TURNPIKE_ADMIN", gw.url(turnpike::ADMIN_LISTENER, ""))
        .env("TURNPIKE_ADMIN_TOKEN", TOKEN))
}

async fn admin(gw: &Gateway, method: reqwest::Method, path: &str, body: &str) -> (u16, Value) {
    let response = client()
        .request(method, gw.url(turnpike::ADMIN_LISTENER, path))
        .bearer_auth(TOKEN)
        .body(body.to_owned())
        .send()
        .await
        .expect("admin call");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// Counts the answers of `n` requests to `path`.
async fn tally(gw: &Gateway, path: &str, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..n {
        *seen.entry(body_of(gw, path).await).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_canary_promote_and_roll_back() {
    let dirs = tempfile::tempdir().expect("tempdir");
    let data_dir = dirs.path().join("data").display().to_string();
    let token_file = dirs.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token");
    let token_file = token_file.display().to_string();
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&data_dir, &token_file, &origin, "v1"));

    // Without a deployment, a stage follows the configuration file.
    assert_eq!(body_of(&gw, "/prod/version").await, "v1 red");

    let (code, out, err) = cli(
        &gw,
        &[
            "deploy",
            "shop",
            "--stage",
            "prod",
            "--description",
            "first",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let first = out
        .split_whitespace()
        .nth(2)
        .expect("created deployment ID")
        .to_owned();
    assert!(out.contains("stage prod of shop serves"), "{out}");
    assert!(out.contains(&first), "{out}");

    // The file moves on (reloaded) and a new authorizer version is
    // uploaded: `$default` follows both, the deployed stage neither.
    gw.rewrite_config(&config(&data_dir, &token_file, &origin, "v2"));
    let (status, body) = admin(&gw, reqwest::Method::POST, "/reload", "").await;
    assert_eq!(status, 200, "{body}");
    let c = std::fs::read(polyglot_guest(
        "c-token-authorizer",
        "c_token_authorizer.wasm",
        "authorizer",
    ))
    .expect("component");
    let response = client()
        .put(gw.url(turnpike::ADMIN_LISTENER, "/plugins/tokens"))
        .bearer_auth(TOKEN)
        .body(c)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);
    assert_eq!(body_of(&gw, "/version").await, "v2 red");
    assert_eq!(authorizer_of(&gw, "").await, "c");
    assert_eq!(body_of(&gw, "/prod/version").await, "v1 red");
    assert_eq!(authorizer_of(&gw, "/prod").await, "rust");

    // A canary snapshotting the file now (v2, the C authorizer) takes a
    // quarter of prod's requests, with its own colour.
    let (code, out, err) = cli(
        &gw,
        &[
            "canary",
            "set",
            "shop",
            "--stage",
            "prod",
            "--percent",
            "25",
            "--var",
            "color=blue",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("takes 25% of requests"), "{out}");
    let seen = tally(&gw, "/prod/version", 400).await;
    let canary = seen.get("v2 blue").copied().unwrap_or(0);
    let main = seen.get("v1 red").copied().unwrap_or(0);
    assert_eq!(canary + main, 400, "only the two versions answer: {seen:?}");
    eprintln!("canary at 25%: served {canary} of 400 requests");
    // 25% of 400 is 100, with a standard deviation of 8.7: ±4 of them.
    assert!(
        (65..=135).contains(&canary),
        "canary served {canary} of 400: {seen:?}"
    );

    let (status, stages) = admin(&gw, reqwest::Method::GET, "/apis", "").await;
    assert_eq!(status, 200);
    let prod = &stages["apis"][0]["stages"][1];
    assert_eq!(prod["name"], "prod");
    assert_eq!(prod["deployment"], first.as_str());
    assert_eq!(prod["canary"]["percent"], 25.0);
    let second = prod["canary"]["deployment"]
        .as_str()
        .expect("canary id")
        .to_owned();

    // Refusals change nothing.
    let (status, body) = admin(
        &gw,
        reqwest::Method::PUT,
        "/apis/shop/stages/prod/canary",
        r#"{"percent": 150}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("between 0 and 100"),
        "{body}"
    );
    let (status, _) = admin(
        &gw,
        reqwest::Method::PUT,
        "/apis/shop/stages/prod",
        r#"{"deployment": "nosuchone"}"#,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = admin(&gw, reqwest::Method::GET, "/apis/nope/deployments", "").await;
    assert_eq!(status, 404);
    let (status, _) = admin(
        &gw,
        reqwest::Method::POST,
        "/apis/shop/stages/beta/rollback",
        "",
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = admin(
        &gw,
        reqwest::Method::PUT,
        "/apis/shop/stages/prod/canary",
        "{",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let unauthorized = client()
        .post(gw.url(turnpike::ADMIN_LISTENER, "/apis/shop/deployments"))
        .send()
        .await
        .expect("call");
    assert_eq!(unauthorized.status(), 401);
    let seen = tally(&gw, "/prod/version", 40).await;
    assert!(seen.contains_key("v1 red"), "{seen:?}");

    // Promotion: the canary's deployment and colour serve everything.
    let (code, out, err) = cli(&gw, &["canary", "promote", "shop", "--stage", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("serves {second}")), "{out}");
    let seen = tally(&gw, "/prod/version", 20).await;
    assert_eq!(seen.get("v2 blue"), Some(&20), "{seen:?}");
    assert_eq!(authorizer_of(&gw, "/prod").await, "c");

    // Rollback: the first deployment, with its plugin version, is back.
    let (code, out, err) = cli(&gw, &["rollback", "shop", "--stage", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("serves {first}")), "{out}");
    assert_eq!(body_of(&gw, "/prod/version").await, "v1 red");
    assert_eq!(authorizer_of(&gw, "/prod").await, "rust");

    // Deployments are listed, newest first.
    let (code, out, err) = cli(&gw, &["deployments", "shop"]);
    assert_eq!(code, 0, "{err}");
    let listed: Value = serde_json::from_str(&out).expect("json");
    let ids: Vec<&str> = listed["deployments"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert!(
        ids.contains(&first.as_str()) && ids.contains(&second.as_str()),
        "{listed}"
    );

    // kill -9, restart: prod serves exactly what it served.
    gw.signal("KILL");
    drop(gw);
    let gw = Gateway::start(&config(&data_dir, &token_file, &origin, "v2"));
    assert_eq!(body_of(&gw, "/prod/version").await, "v1 red");
    assert_eq!(authorizer_of(&gw, "/prod").await, "rust");
    assert_eq!(body_of(&gw, "/version").await, "v2 red");

    // Rolling back past the first deployment returns the stage to the file;
    // past that there is nothing left.
    let (code, out, err) = cli(&gw, &["rollback", "shop", "--stage", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("serves the configuration file"), "{out}");
    assert_eq!(body_of(&gw, "/prod/version").await, "v2 red");
    let (code, _, err) = cli(&gw, &["rollback", "shop", "--stage", "prod"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("409") && err.contains("nothing to roll back to"),
        "{err}"
    );

    // A file that does not validate is not deployed.
    gw.rewrite_config("[[apis]]\nname = 3\n");
    let (code, _, err) = cli(&gw, &["deploy", "shop", "--stage", "prod"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("400") && err.contains("does not validate"),
        "{err}"
    );
    assert_eq!(body_of(&gw, "/prod/version").await, "v2 red");
}

/// A `data_dir` relative to a configuration file that was named by a
/// relative path: deploying stores the plugin and serves the deployment
/// (the component path was once resolved twice).
#[tokio::test]
async fn a_relative_data_dir_deploys() {
    let origin = Upstream::start();
    let dirs = tempfile::tempdir().expect("tempdir");
    let token_file = dirs.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token");
    let gw = Gateway::start_in_its_folder(&config(
        "state",
        &token_file.display().to_string(),
        &origin,
        "v1",
    ));
    let (code, out, err) = cli(&gw, &["deploy", "shop", "--stage", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stage prod of shop serves "), "{out}");
    assert_eq!(body_of(&gw, "/prod/version").await, "v1 red");
    assert_eq!(authorizer_of(&gw, "/prod").await, "rust");
}
