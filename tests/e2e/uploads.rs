//! Plugin uploads through the admin API: new versions swapped in under a
//! continuous request loop without a failed request, bad components refused
//! with the running version untouched, versions listed and removed, and the
//! activated version surviving `kill -9`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Gateway, client, guest, plugin_cache, polyglot_guest};
use crate::upstream::Upstream;

const TOKEN: &str = "upload-admin-token";

struct Setup {
    _dirs: tempfile::TempDir,
    data_dir: String,
    token_file: String,
}

fn setup() -> Setup {
    let dirs = tempfile::tempdir().expect("tempdir");
    let token_file = dirs.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token");
    Setup {
        data_dir: dirs.path().join("data").display().to_string(),
        token_file: token_file.display().to_string(),
        _dirs: dirs,
    }
}

/// The Rust token authorizer as `tokens` in front of `origin` (the plugin
/// tests' configuration), with the admin API and a data directory.
fn config(setup: &Setup, origin: &Upstream) -> String {
    let base = crate::plugins::token_config_for(
        &guest("rust_token_authorizer"),
        &plugin_cache(),
        origin,
        "0s",
        "fresh",
    );
    let with_data = base.replacen(
        "[server]\n",
        &format!("[server]\ndata_dir = \"{}\"\n", setup.data_dir),
        1,
    );
    format!(
        "[admin]\naddress = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n{with_data}",
        setup.token_file
    )
}

/// Which authorizer answered: the C one adds `language = c` to its context.
pub async fn served_by(gw: &Gateway) -> Result<&'static str, String> {
    let response = client()
        .get(gw.url("main", "/private/pets"))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {text}"));
    }
    let seen: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(
        match seen["headers"]["x-turnpike-context-language"][0].as_str() {
            Some("c") => "c",
            _ => "rust",
        },
    )
}

async fn upload(gw: &Gateway, plugin: &str, bytes: Vec<u8>) -> (u16, Value) {
    let response = client()
        .put(gw.url(turnpike::ADMIN_LISTENER, &format!("/plugins/{plugin}")))
        .bearer_auth(TOKEN)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn admin_call(gw: &Gateway, method: reqwest::Method, path: &str) -> (u16, Value) {
    let response = client()
        .request(method, gw.url(turnpike::ADMIN_LISTENER, path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("admin call");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// The C token authorizer (built once per run): the "other version".
fn c_authorizer() -> String {
    polyglot_guest(
        "c-token-authorizer",
        "c_token_authorizer.wasm",
        "authorizer",
    )
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("component")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_swaps_under_a_request_loop_fail_no_request() {
    let rust = read(&guest("rust_token_authorizer"));
    let c = read(&c_authorizer());
    let origin = Upstream::start();
    let setup = setup();
    let gw = Arc::new(Gateway::start(&config(&setup, &origin)));
    assert_eq!(served_by(&gw).await, Ok("rust"));

    // The first upload of a version compiles it; time it to its first answer.
    let started = Instant::now();
    let (status, body) = upload(&gw, "tokens", c.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(served_by(&gw).await, Ok("c"));
    eprintln!(
        "swap latency (upload call to first request served by the new version, compiling it): {:?}",
        started.elapsed()
    );
    assert_eq!(body["version"]["world"], "authorizer");
    assert_eq!(body["version"]["size"], c.len());

    // A client loop runs through 50 swaps.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let loop_task = {
        let (gw, stop, served) = (gw.clone(), stop.clone(), served.clone());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(Ordering::SeqCst) {
                match served_by(&gw).await {
                    Ok(version) => {
                        seen.insert(version);
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => failures.push(e),
                }
            }
            (failures, seen)
        })
    };
    let mut slowest = Duration::ZERO;
    for swap in 0..50 {
        let (bytes, expected) = if swap % 2 == 0 {
            (rust.clone(), "rust")
        } else {
            (c.clone(), "c")
        };
        let started = Instant::now();
        let (status, body) = upload(&gw, "tokens", bytes).await;
        assert_eq!(status, 200, "swap {swap}: {body}");
        // In force when the call returns.
        assert_eq!(served_by(&gw).await, Ok(expected), "swap {swap}");
        slowest = slowest.max(started.elapsed());
    }
    eprintln!(
        "slowest of 50 swaps (upload call to first request on the new version, compiled artifact cached): {slowest:?}"
    );
    stop.store(true, Ordering::SeqCst);
    let (failures, seen) = loop_task.await.expect("loop");
    assert_eq!(
        failures,
        Vec::<String>::new(),
        "failed requests during swaps"
    );
    assert!(served.load(Ordering::SeqCst) >= 50, "the loop ran");
    assert_eq!(seen.len(), 2, "the loop saw both versions: {seen:?}");
    eprintln!(
        "request loop: {} requests, 0 failed",
        served.load(Ordering::SeqCst)
    );

    // Bad uploads are refused; the running version (swap 49 uploaded the C
    // one) keeps serving.
    let (status, body) = upload(&gw, "tokens", b"definitely not wasm".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not a valid WebAssembly component"),
        "{body}"
    );
    let mapper = read(&guest("rust_json_mapper"));
    let (status, body) = upload(&gw, "tokens", mapper).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("does not implement the `authorizer` world"),
        "{body}"
    );
    assert_eq!(served_by(&gw).await, Ok("c"));
    let (status, body) = upload(&gw, "nonexistent", c.clone()).await;
    assert_eq!(status, 404, "{body}");

    // Versions: both stored, the C one active; the active one cannot go.
    let (status, list) = admin_call(&gw, reqwest::Method::GET, "/plugins").await;
    assert_eq!(status, 200);
    let tokens = &list["plugins"][0];
    assert_eq!(tokens["name"], "tokens");
    let versions = tokens["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{list}");
    let active = tokens["active"].as_str().expect("active").to_owned();
    let inactive = versions
        .iter()
        .map(|v| v["sha256"].as_str().expect("sha").to_owned())
        .find(|sha| *sha != active)
        .expect("an inactive version");
    let (status, _) = admin_call(
        &gw,
        reqwest::Method::DELETE,
        &format!("/plugins/tokens/versions/{active}"),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = admin_call(
        &gw,
        reqwest::Method::DELETE,
        &format!("/plugins/tokens/versions/{inactive}"),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = admin_call(&gw, reqwest::Method::GET, "/plugins").await;
    assert_eq!(
        list["plugins"][0]["versions"].as_array().map(Vec::len),
        Some(1)
    );

    // Uploads need the token like every admin call.
    let response = client()
        .put(gw.url(turnpike::ADMIN_LISTENER, "/plugins/tokens"))
        .body(c)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_activated_version_survives_kill_9() {
    let c = read(&c_authorizer());
    let origin = Upstream::start();
    let setup = setup();
    let gw = Gateway::start(&config(&setup, &origin));
    let (status, body) = upload(&gw, "tokens", c).await;
    assert_eq!(status, 200, "{body}");
    gw.signal("KILL");
    drop(gw);

    // A crash mid-write leaves a temporary file behind: it is ignored.
    let plugin_dir = std::path::Path::new(&setup.data_dir).join("plugins/tokens");
    std::fs::write(plugin_dir.join(".active.tmp-1-0"), "garbage").expect("stray file");

    let gw = Gateway::start(&config(&setup, &origin));
    assert_eq!(
        served_by(&gw).await,
        Ok("c"),
        "the restart serves the upload"
    );

    // Killed while an upload is in flight: the restart serves one whole
    // version or the other, never a broken one.
    let rust = read(&guest("rust_token_authorizer"));
    let url = gw.url(turnpike::ADMIN_LISTENER, "/plugins/tokens");
    let in_flight = tokio::spawn(async move {
        let _ = client().put(url).bearer_auth(TOKEN).body(rust).send().await;
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    gw.signal("KILL");
    drop(gw);
    let _ = in_flight.await;
    let gw = Gateway::start(&config(&setup, &origin));
    let version = served_by(&gw).await.expect("served after the crash");
    assert!(matches!(version, "c" | "rust"), "{version}");
}

#[tokio::test]
async fn the_cli_pushes_lists_and_removes_versions() {
    use crate::harness::{binary, run};
    use std::process::Command;

    let origin = Upstream::start();
    let setup = setup();
    let gw = Gateway::start(&config(&setup, &origin));
    let admin = format!("http://{}", gw.addr(turnpike::ADMIN_LISTENER));
    let cli = |args: &[&str]| {
        run(Command::new(binary())
            .arg("plugin")
            .args(args)
            .args(["--admin", &admin, "--token-file", &setup.token_file])
            .env_remove("TURNPIKE_ADMIN_TOKEN"))
    };

    let c = c_authorizer();
    let (code, out, err) = cli(&["push", "tokens", &c]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("activated tokens version "), "{out}");
    assert!(out.contains("world authorizer"), "{out}");
    assert_eq!(served_by(&gw).await, Ok("c"));

    // A component of the wrong world: exit 1 with the gateway's reason.
    let mapper = guest("rust_json_mapper");
    let (code, _, err) = cli(&["push", "tokens", &mapper]);
    assert_eq!(code, 1);
    assert!(
        err.contains("admin API answered 400: component rejected")
            && err.contains("does not implement the `authorizer` world"),
        "{err}"
    );
    assert_eq!(served_by(&gw).await, Ok("c"));

    let rust = guest("rust_token_authorizer");
    let (code, _, err) = cli(&["push", "tokens", &rust]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = cli(&["list"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).expect("list is JSON");
    let versions = list["plugins"][0]["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{out}");
    let active = list["plugins"][0]["active"].as_str().expect("active");
    let old = versions
        .iter()
        .filter_map(|v| v["sha256"].as_str())
        .find(|sha| *sha != active)
        .expect("the older version")
        .to_owned();
    let (code, out, err) = cli(&["rm", "tokens", &old]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("removed {old}"));
    let (code, _, err) = cli(&["rm", "tokens", active]);
    assert_eq!(code, 1);
    assert!(err.contains("admin API answered 409"), "{err}");

    // Without the token: 401, said plainly.
    let (code, _, err) = run(Command::new(binary())
        .args(["plugin", "list", "--admin", &admin])
        .env_remove("TURNPIKE_ADMIN_TOKEN"));
    assert_eq!(code, 1);
    assert!(
        err.contains("admin API answered 401: Unauthorized"),
        "{err}"
    );
}

#[tokio::test]
async fn a_pinned_version_does_not_move_with_uploads() {
    let origin = Upstream::start();
    let setup = setup();
    let gw = Gateway::start(&config(&setup, &origin));
    let rust = read(&guest("rust_token_authorizer"));
    let c = read(&c_authorizer());
    let (status, body) = upload(&gw, "tokens", rust).await;
    assert_eq!(status, 200, "{body}");
    let rust_sha = body["version"]["sha256"].as_str().expect("sha").to_owned();
    let (status, _) = upload(&gw, "tokens", c.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(served_by(&gw).await, Ok("c"));

    // The authorizer pins the Rust version: a reload serves it although the
    // C version is the active one, and later uploads do not move it.
    let pinned = config(&setup, &origin).replace(
        "plugin = \"tokens\"",
        &format!("plugin = \"tokens@{rust_sha}\""),
    );
    gw.rewrite_config(&pinned);
    let (status, body) = admin_call(&gw, reqwest::Method::POST, "/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(served_by(&gw).await, Ok("rust"));
    let (status, _) = upload(&gw, "tokens", c).await;
    assert_eq!(status, 200);
    assert_eq!(served_by(&gw).await, Ok("rust"), "the pin holds");
    let (status, body) = upload(&gw, &format!("tokens@{rust_sha}"), b"x".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = admin_call(
        &gw,
        reqwest::Method::DELETE,
        &format!("/plugins/tokens/versions/{rust_sha}"),
    )
    .await;
    assert_eq!(status, 409, "a pinned version cannot be removed: {body}");

    // A version never uploaded is a configuration error naming the key.
    let unknown = "0".repeat(64);
    gw.rewrite_config(&config(&setup, &origin).replace(
        "plugin = \"tokens\"",
        &format!("plugin = \"tokens@{unknown}\""),
    ));
    let (status, body) = admin_call(&gw, reqwest::Method::POST, "/reload").await;
    assert_eq!(status, 400, "{body}");
    let problems = body["problems"].to_string();
    assert!(
        problems.contains("apis[0].authorizers.bearer.plugin")
            && problems.contains("was never uploaded"),
        "{body}"
    );
    assert_eq!(served_by(&gw).await, Ok("rust"));
}

/// A large upload the gateway refuses before reading it (wrong token, a
/// plugin nobody declared): the CLI reports the gateway's status and
/// message, not a broken connection.
#[tokio::test]
async fn an_early_refusal_of_a_large_upload_reaches_the_cli() {
    use crate::harness::{binary, run};
    use std::process::Command;

    let origin = Upstream::start();
    let setup = setup();
    let gw = Gateway::start(&config(&setup, &origin));
    let admin = format!("http://{}", gw.addr(turnpike::ADMIN_LISTENER));
    let big = tempfile::NamedTempFile::new().expect("temp file");
    // 18 MB, the size of a Python component.
    let bytes: Vec<u8> = (0..18_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(big.path(), &bytes).expect("write");
    let big = big.path().display().to_string();

    let (code, _, err) = run(Command::new(binary())
        .args(["plugin", "push", "tokens", &big, "--admin", &admin])
        .args(["--token", "not-the-token"])
        .env_remove("TURNPIKE_ADMIN_TOKEN"));
    assert_eq!(code, 1);
    assert!(
        err.contains("admin API answered 401: Unauthorized"),
        "{err}"
    );
    let (code, _, err) = run(Command::new(binary())
        .args(["plugin", "push", "nobody", &big, "--admin", &admin])
        .args(["--token-file", &setup.token_file])
        .env_remove("TURNPIKE_ADMIN_TOKEN"));
    assert_eq!(code, 1);
    assert!(
        err.contains("admin API answered 404: no plugin `nobody` is configured"),
        "{err}"
    );
}

/// The configuration file's own version is listed beside the uploads, and
/// activating it again makes the plugin follow the file (also after a
/// restart).
#[tokio::test]
async fn the_files_version_is_listed_and_can_serve_again() {
    let origin = Upstream::start();
    let setup = setup();
    let mut gw = Gateway::start(&config(&setup, &origin));
    assert_eq!(served_by(&gw).await, Ok("rust"));
    let (status, body) = upload(&gw, "tokens", read(&c_authorizer())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(served_by(&gw).await, Ok("c"));

    let (status, list) = admin_call(&gw, reqwest::Method::GET, "/plugins").await;
    assert_eq!(status, 200);
    let tokens = &list["plugins"][0];
    let file = &tokens["file"];
    assert_eq!(file["source"], "file", "{list}");
    let file_sha = file["sha256"].as_str().expect("sha").to_owned();
    assert_ne!(tokens["active"], file["sha256"]);
    assert!(list["instances"]["capacity"].as_u64().is_some(), "{list}");

    let response = client()
        .put(gw.url(turnpike::ADMIN_LISTENER, "/plugins/tokens/active"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "sha256": file_sha }))
        .send()
        .await
        .expect("activate");
    assert_eq!(response.status(), 200);
    assert_eq!(served_by(&gw).await, Ok("rust"));
    let (_, list) = admin_call(&gw, reqwest::Method::GET, "/plugins").await;
    assert_eq!(list["plugins"][0]["active"], file_sha.as_str());

    // An unknown version is a 404; nothing changes.
    let response = client()
        .put(gw.url(turnpike::ADMIN_LISTENER, "/plugins/tokens/active"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "sha256": "0".repeat(64) }))
        .send()
        .await
        .expect("activate");
    assert_eq!(response.status(), 404);
    assert_eq!(served_by(&gw).await, Ok("rust"));

    // After a restart the file's version still serves.
    gw.terminate();
    gw.wait_exit(std::time::Duration::from_secs(10));
    let config_text = std::fs::read_to_string(gw.config_path()).expect("config");
    let gw = Gateway::start(&config_text);
    assert_eq!(served_by(&gw).await, Ok("rust"));
}
