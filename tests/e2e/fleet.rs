//! Cluster mode: three `turnpike` processes and one real `redis-server`
//! (Unix socket, no fixed port) behave as one gateway. A plugin pushed
//! through one node serves on all; deployments, canaries and rollbacks made
//! on different nodes agree everywhere; a key created and revoked on one is
//! accepted and refused on another; a request loop over all three sees no
//! failure during twenty fleet-wide swaps; concurrent writers lose no
//! change; a node killed with `kill -9` restarts from its own copy while
//! Redis is down, and the fleet converges when Redis is back; and
//! `@connections` reaches a WebSocket connection held by another node.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::harness::{Gateway, binary, client, guest, plugin_cache, polyglot_guest, run};
use crate::pki::{Key, Pki};
use crate::uploads::served_by;
use crate::upstream::Upstream;

const TOKEN: &str = "fleet-admin-token";
/// How long a change may take to reach every node in these tests: far
/// above what it takes (tens of milliseconds), for a machine busy with the
/// rest of the suite.
const PROPAGATION: Duration = Duration::from_secs(10);

/// A `redis-server` that keeps its data in an append-only file, so that it
/// can be killed and started again with its state.
struct Redis {
    child: Option<Child>,
    dir: PathBuf,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        let mut redis = Redis {
            child: None,
            dir: dir.to_path_buf(),
        };
        redis.restart();
        redis
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    fn restart(&mut self) {
        std::fs::create_dir_all(&self.dir).expect("redis dir");
        let _ = std::fs::remove_file(self.socket());
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--unixsocket")
            .arg(self.socket())
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (installed by scripts/test)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.socket().exists() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The test's folders: Redis's, each node's data directory, the token.
struct Fleet {
    root: tempfile::TempDir,
    redis: Redis,
    origin: Upstream,
}

impl Fleet {
    fn new() -> Fleet {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("token"), TOKEN).expect("token");
        let redis = Redis::start(&root.path().join("redis"));
        Fleet {
            root,
            redis,
            origin: Upstream::start(),
        }
    }

    /// Node `name`'s configuration; `release` is what its `GET /version`
    /// answers from the file.
    fn config(&self, name: &str, release: &str) -> String {
        let root = self.root.path();
        format!(
            r#"
[admin]
address = "127.0.0.1:0"
token_file = "{token}"

[server]
cache_dir = "{cache}"
data_dir = "{data_dir}"

[cluster]
redis_url = "{redis}"
name = "fleet"
node_id = "{name}"
heartbeat = "200ms"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.tokens]
component = "{component}"
world = "authorizer"
timeout = "5s"
config = {{ tokens = "s3cret:alice" }}

[api_keys.static]
value = "static-key-0123456789abcdef"

[usage_plans.gold]
api_keys = ["static"]
stages = [{{ api = "shop", stage = "$default" }}]

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
key = "GET /keyed"
api_key_required = true
integration = {{ type = "mock", body = "keyed" }}

[[apis.routes]]
key = "ANY /private/{{proxy+}}"
authorizer = "bearer"
integration = {{ type = "http_proxy", url = "{origin}/{{proxy}}" }}

[[apis]]
name = "chat"
protocol = "websocket"
listeners = ["main"]
hosts = ["chat.test"]

[[apis.routes]]
key = "hello"
return_response = true
integration = {{ type = "mock", body = "hi" }}
"#,
            token = root.join("token").display(),
            cache = plugin_cache(),
            data_dir = root.join(name).display(),
            redis = self.redis.url(),
            component = guest("rust_token_authorizer"),
            origin = self.origin.base(),
        )
    }

    fn node(&self, name: &str) -> Gateway {
        Gateway::start(&self.config(name, "v1"))
    }
}

async fn admin(gw: &Gateway, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let mut request = client()
        .request(method, gw.url(turnpike::ADMIN_LISTENER, path))
        .bearer_auth(TOKEN);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin call");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn upload(gw: &Gateway, bytes: Vec<u8>) -> (u16, Value) {
    let response = client()
        .put(gw.url(turnpike::ADMIN_LISTENER, "/plugins/tokens"))
        .bearer_auth(TOKEN)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn cluster(gw: &Gateway) -> Value {
    let (status, view) = admin(gw, reqwest::Method::GET, "/cluster", Value::Null).await;
    assert_eq!(status, 200, "{view}");
    view
}

/// Creates API key `name` in plan `gold` through `gw`; its value.
async fn create_key(gw: &Gateway, name: &str) -> String {
    let (status, created) = admin(
        gw,
        reqwest::Method::POST,
        "/api-keys",
        json!({"name": name, "usagePlans": ["gold"]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["value"].as_str().expect("value").to_owned()
}

async fn get(gw: &Gateway, path: &str, key: Option<&str>) -> (u16, String) {
    let mut request = client().get(gw.url("main", path));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Waits until `check` holds, at most `limit`; returns how long it took.
async fn until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The C token authorizer (built once per run): the other version.
fn c_authorizer() -> Vec<u8> {
    std::fs::read(polyglot_guest(
        "c-token-authorizer",
        "c_token_authorizer.wasm",
        "authorizer",
    ))
    .expect("component")
}

fn rust_authorizer() -> Vec<u8> {
    std::fs::read(guest("rust_token_authorizer")).expect("component")
}

/// Whether every node of `view` applied the last change and none fails.
fn converged(view: &Value, nodes: usize) -> bool {
    let list = view["nodes"].as_array().cloned().unwrap_or_default();
    list.len() == nodes
        && list
            .iter()
            .all(|n| n["lagging"] == false && n["failing"] == false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_shares_plugins_releases_and_keys() {
    let fleet = Fleet::new();
    let a = fleet.node("a");
    let b = fleet.node("b");
    let c = fleet.node("c");
    until(PROPAGATION, "three nodes in the fleet", || async {
        cluster(&a).await["nodes"].as_array().map(Vec::len) == Some(3)
    })
    .await;

    // A plugin pushed through A serves on B and C, which report it.
    let (status, pushed) = upload(&a, c_authorizer()).await;
    assert_eq!(status, 200, "{pushed}");
    let sha256 = pushed["version"]["sha256"]
        .as_str()
        .expect("sha")
        .to_owned();
    assert_eq!(served_by(&a).await, Ok("c"));
    for node in [&b, &c] {
        until(PROPAGATION, "B and C serve the pushed plugin", || async {
            served_by(node).await == Ok("c")
        })
        .await;
    }
    until(
        PROPAGATION,
        "every node reports the pushed version",
        || async {
            let view = cluster(&c).await;
            converged(&view, 3)
                && view["nodes"]
                    .as_array()
                    .expect("nodes")
                    .iter()
                    .all(|n| n["serving"]["plugins"]["tokens"] == sha256.as_str())
        },
    )
    .await;

    // Deployed through B (from B's file, which now says v2): every node
    // serves it on prod, whatever its own file says.
    b.rewrite_config(&fleet.config("b", "v2"));
    let (status, deployed) = admin(
        &b,
        reqwest::Method::POST,
        "/apis/shop/deployments",
        json!({"stage": "prod", "description": "v2"}),
    )
    .await;
    assert_eq!(status, 201, "{deployed}");
    let v2 = deployed["id"].as_str().expect("id").to_owned();
    for node in [&a, &b, &c] {
        until(PROPAGATION, "every node serves v2 on prod", || async {
            get(node, "/prod/version", None).await == (200, "v2 red".into())
        })
        .await;
    }
    // The file's own stage still serves each node's file.
    assert_eq!(get(&a, "/version", None).await, (200, "v1 red".into()));

    // A canary through B: half of prod's requests on v3, on every node.
    b.rewrite_config(&fleet.config("b", "v3"));
    let (status, canary) = admin(
        &b,
        reqwest::Method::PUT,
        "/apis/shop/stages/prod/canary",
        json!({"percent": 50}),
    )
    .await;
    assert_eq!(status, 200, "{canary}");
    for node in [&a, &c] {
        until(PROPAGATION, "the canary answers on every node", || async {
            get(node, "/prod/version", None).await == (200, "v3 red".into())
        })
        .await;
    }

    // Rolled back through C: the canary is gone everywhere, and every
    // node reports the same stage.
    let (status, rolled) = admin(
        &c,
        reqwest::Method::POST,
        "/apis/shop/stages/prod/rollback",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{rolled}");
    assert!(rolled["canary"].is_null(), "{rolled}");
    until(
        PROPAGATION,
        "every node serves the rolled-back stage",
        || async {
            let view = cluster(&a).await;
            converged(&view, 3)
                && view["nodes"].as_array().expect("nodes").iter().all(|n| {
                    let stage = &n["serving"]["stages"]["shop/prod"];
                    stage["canary"].is_null() && stage["deployment"] == rolled["deployment"]
                })
        },
    )
    .await;
    for _ in 0..10 {
        assert_ne!(get(&a, "/prod/version", None).await.1, "v3 red");
    }
    assert!(
        rolled["deployment"].is_null() || rolled["deployment"] != v2.as_str(),
        "rolled back from v2: {rolled}"
    );

    // A key created on A works on C; revoked on A, C refuses it promptly.
    let value = create_key(&a, "partner").await;
    until(PROPAGATION, "the new key works on C", || async {
        get(&c, "/keyed", Some(&value)).await.0 == 200
    })
    .await;
    let (status, removed) = admin(
        &a,
        reqwest::Method::DELETE,
        "/api-keys/partner",
        Value::Null,
    )
    .await;
    assert!(status == 200 || status == 204, "{status} {removed}");
    let took = until(PROPAGATION, "C refuses the revoked key", || async {
        get(&c, "/keyed", Some(&value)).await.0 == 403
    })
    .await;
    eprintln!("key revoked on A, refused on C after {took:?}");
    assert!(took < Duration::from_secs(2), "revocation took {took:?}");

    // The CLI shows the fleet (once every heartbeat reports the change).
    until(PROPAGATION, "the fleet converges", || async {
        converged(&cluster(&b).await, 3)
    })
    .await;
    let (code, out, err) = run(Command::new(binary())
        .args(["cluster", "status"])
        .env("TURNPIKE_ADMIN", b.url(turnpike::ADMIN_LISTENER, ""))
        .env("TURNPIKE_ADMIN_TOKEN", TOKEN));
    assert_eq!(code, 0, "{err}");
    for expected in ["cluster fleet", "b *", &format!("plugin tokens: {sha256}")] {
        assert!(out.contains(expected), "`{expected}` in:\n{out}");
    }
    assert_eq!(out.matches(" ok ").count(), 3, "{out}");

    // A node away while a version was uploaded and removed again catches
    // up past it (the component left Redis with the version).
    c.signal("KILL");
    drop(c);
    let (status, added) = upload(&a, rust_authorizer()).await;
    assert_eq!(status, 200, "{added}");
    let added = added["version"]["sha256"].as_str().expect("sha").to_owned();
    let (status, body) = admin(
        &b,
        reqwest::Method::PUT,
        "/plugins/tokens/active",
        json!({"sha256": sha256}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin(
        &a,
        reqwest::Method::DELETE,
        &format!("/plugins/tokens/versions/{added}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let c = fleet.node("c");
    assert_eq!(served_by(&c).await, Ok("c"));
    let view = cluster(&c).await;
    assert!(
        view["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|n| n["node"] == "c" && n["applied"] == view["head"]),
        "{view}"
    );

    // A node away while the log was trimmed past its position gets the
    // whole state when it joins, before it reports ready.
    c.signal("KILL");
    drop(c);
    let late = create_key(&a, "late").await;
    let mut redis = redis::Client::open(fleet.redis.url())
        .expect("client")
        .get_connection()
        .expect("connection");
    let trimmed: i64 = redis::cmd("XTRIM")
        .arg("fleet:cluster:log")
        .arg("MAXLEN")
        .arg(0)
        .query(&mut redis)
        .expect("XTRIM");
    assert!(trimmed > 0, "the log held changes");
    let c = fleet.node("c");
    assert_eq!(get(&c, "/keyed", Some(&late)).await.0, 200);
    let view = cluster(&c).await;
    let me = view["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["node"] == "c")
        .cloned()
        .expect("c");
    assert_eq!(me["applied"], view["head"], "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_concurrent_writers_and_a_redis_outage() {
    let mut fleet = Fleet::new();
    let a = Arc::new(fleet.node("a"));
    let mut b = Arc::new(fleet.node("b"));
    let c = Arc::new(fleet.node("c"));
    let versions = [rust_authorizer(), c_authorizer()];

    // A request loop over the three nodes during 20 fleet-wide swaps.
    let stop = Arc::new(AtomicBool::new(false));
    let looping = {
        let (nodes, stop) = ([a.clone(), b.clone(), c.clone()], stop.clone());
        tokio::spawn(async move {
            let (mut served, mut failures) = (0usize, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                for node in &nodes {
                    match served_by(node).await {
                        Ok(_) => served += 1,
                        Err(e) => failures.push(e),
                    }
                }
            }
            (served, failures)
        })
    };
    for swap in 0..20 {
        let writer = [&a, &b, &c][swap % 3];
        let expected = if swap % 2 == 0 { "c" } else { "rust" };
        let (status, body) = upload(writer, versions[(swap + 1) % 2].clone()).await;
        assert_eq!(status, 200, "swap {swap}: {body}");
        for node in [&a, &b, &c] {
            until(PROPAGATION, "every node serves the swap", || async {
                served_by(node).await == Ok(expected)
            })
            .await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (served, failures) = looping.await.expect("loop");
    assert_eq!(failures, Vec::<String>::new(), "failed requests");
    assert!(served >= 60, "the loop ran: {served}");
    eprintln!("request loop over 3 nodes during 20 swaps: {served} requests, 0 failed");

    // Three writers on three nodes at once: every change lands.
    let head_before = cluster(&a).await["head"].as_u64().expect("head");
    let mut writers = Vec::new();
    for (index, node) in [a.clone(), b.clone(), c.clone()].into_iter().enumerate() {
        writers.push(tokio::spawn(async move {
            for k in 0..5 {
                let name = format!("w{index}-{k}");
                let (status, body) = admin(
                    &node,
                    reqwest::Method::POST,
                    "/api-keys",
                    json!({"name": name}),
                )
                .await;
                assert_eq!(status, 201, "{name}: {body}");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    for node in [&a, &b, &c] {
        until(PROPAGATION, "every node has the 15 keys", || async {
            let (_, list) = admin(node, reqwest::Method::GET, "/api-keys", Value::Null).await;
            list["apiKeys"]
                .as_array()
                .map(|keys| keys.iter().filter(|k| k["source"] == "admin").count())
                == Some(15)
        })
        .await;
    }
    assert_eq!(
        cluster(&a).await["head"].as_u64(),
        Some(head_before + 15),
        "one change per key, none lost"
    );
    let key = create_key(&a, "before-outage").await;
    until(PROPAGATION, "B has the key", || async {
        get(&b, "/keyed", Some(&key)).await.0 == 200
    })
    .await;

    // kill -9 of B, then Redis goes away: writes are refused (503) and
    // nothing changes; B restarts from its own copy and serves it.
    b.signal("KILL");
    fleet.redis.kill();
    let (status, refused) = admin(
        &a,
        reqwest::Method::POST,
        "/api-keys",
        json!({"name": "during-outage"}),
    )
    .await;
    assert_eq!(status, 503, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unavailable"),
        "{refused}"
    );
    let (status, _) = upload(&c, versions[1].clone()).await;
    assert_eq!(status, 503, "an upload while Redis is away");
    assert_eq!(served_by(&c).await, Ok("rust"), "C still serves");
    drop(b);
    b = Arc::new(fleet.node("b"));
    assert_eq!(served_by(&b).await, Ok("rust"), "B serves its copy");
    assert_eq!(get(&b, "/keyed", Some(&key)).await.0, 200);
    let view = cluster(&b).await;
    assert_eq!(view["redis"]["reachable"], false, "{view}");

    // Redis is back: a change through A reaches every node, B included.
    // The first call may find A's connection still being re-made: it is
    // refused whole (503) and the retry lands.
    fleet.redis.restart();
    let deadline = Instant::now() + PROPAGATION;
    let after = loop {
        let (status, created) = admin(
            &a,
            reqwest::Method::POST,
            "/api-keys",
            json!({"name": "after-outage", "usagePlans": ["gold"]}),
        )
        .await;
        if status == 201 {
            break created["value"].as_str().expect("value").to_owned();
        }
        assert_eq!(status, 503, "{created}");
        assert!(Instant::now() < deadline, "A never reached Redis again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for node in [&a, &b, &c] {
        until(PROPAGATION, "every node has the key made after", || async {
            get(node, "/keyed", Some(&after)).await.0 == 200
        })
        .await;
    }
    until(PROPAGATION, "the fleet converges", || async {
        converged(&cluster(&b).await, 3)
    })
    .await;
    let (_, list) = admin(&b, reqwest::Method::GET, "/api-keys", Value::Null).await;
    assert!(
        !list.to_string().contains("during-outage"),
        "the refused write left nothing: {list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reached_through_any_node() {
    let fleet = Fleet::new();
    let a = fleet.node("a");
    let b = fleet.node("b");
    until(PROPAGATION, "two nodes in the fleet", || async {
        cluster(&b).await["nodes"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    // A client connects to A; its id comes back in the error message for
    // a message no route takes.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/",
            a.addr("main")
        ))
        .expect("request");
    request
        .headers_mut()
        .insert("host", "chat.test".parse().expect("host"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    ws.send(tokio_tungstenite::tungstenite::Message::text("unrouted"))
        .await
        .expect("send");
    let reply = ws.next().await.expect("reply").expect("frame");
    let reply: Value = serde_json::from_str(reply.to_text().expect("text")).expect("json");
    let id = reply["connectionId"].as_str().expect("id").to_owned();

    // Through B's admin API: describe, send, close.
    let path = format!("/@connections/{}", id.replace('=', "%3D"));
    let (status, info) = admin(&b, reqwest::Method::GET, &path, Value::Null).await;
    assert_eq!((status, &info["api"]), (200, &json!("chat")), "{info}");
    let response = client()
        .post(b.url(turnpike::ADMIN_LISTENER, &path))
        .bearer_auth(TOKEN)
        .body("pushed through b")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let pushed = ws.next().await.expect("message").expect("frame");
    assert_eq!(pushed.to_text().expect("text"), "pushed through b");
    let (status, _) = admin(&b, reqwest::Method::DELETE, &path, Value::Null).await;
    assert_eq!(status, 204);
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None => break,
                Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the client saw the close");
    // Gone now, and an id no node holds: 410 from either node.
    until(PROPAGATION, "the closed connection is gone", || async {
        admin(&b, reqwest::Method::GET, &path, Value::Null).await.0 == 410
    })
    .await;
    let (status, _) = admin(
        &a,
        reqwest::Method::POST,
        "/@connections/bm9ib2R5aGVyZQ",
        json!("x"),
    )
    .await;
    assert_eq!(status, 410);
}

/// A node reaches a `redis-server` that speaks only TLS and asks for
/// client certificates (`rediss://`, the fleet's own CA): with its
/// certificate it joins and writes; without one Redis refuses it, and the
/// node keeps serving with writes answering 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reach_redis_over_mutual_tls() {
    let pki = Pki::new("redis-ca");
    let server = pki.server("redis", Key::Ecdsa, &["127.0.0.1"]);
    let client_files = pki.client("node", "node-a", 7, false);
    // redis-server takes no port 0 for TLS: a port the system just gave out.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut redis = Command::new("redis-server")
        .args(["--port", "0", "--save", "", "--appendonly", "no"])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "yes"])
        .args([
            "--tls-cert-file",
            &server.cert,
            "--tls-key-file",
            &server.key,
        ])
        .args(["--tls-ca-cert-file", &pki.ca_file()])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(dir.path().join("token"), TOKEN).expect("token");
    let config = |name: &str, tls: &str| {
        format!(
            r#"
[admin]
address = "127.0.0.1:0"
token_file = "{token}"

[server]
data_dir = "{data}"

[cluster]
redis_url = "rediss://127.0.0.1:{port}"
node_id = "{name}"
{tls}

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[usage_plans.gold]
stages = [{{ api = "shop", stage = "$default" }}]

[[apis]]
name = "shop"

[[apis.routes]]
key = "GET /keyed"
api_key_required = true
integration = {{ type = "mock", body = "keyed" }}
"#,
            token = dir.path().join("token").display(),
            data = dir.path().join(name).display(),
        )
    };
    let with_certificate = Gateway::start(&config(
        "a",
        &format!(
            "ca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"",
            pki.ca_file(),
            client_files.cert,
            client_files.key
        ),
    ));
    let key = create_key(&with_certificate, "over-tls").await;
    assert_eq!(get(&with_certificate, "/keyed", Some(&key)).await.0, 200);
    let view = cluster(&with_certificate).await;
    assert_eq!(view["redis"]["reachable"], true, "{view}");
    assert_eq!(view["head"], 1, "{view}");

    let without_certificate =
        Gateway::start(&config("b", &format!("ca_file = \"{}\"", pki.ca_file())));
    let view = cluster(&without_certificate).await;
    assert_eq!(view["redis"]["reachable"], false, "{view}");
    let (status, body) = admin(
        &without_certificate,
        reqwest::Method::POST,
        "/api-keys",
        json!({"name": "refused"}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(get(&without_certificate, "/keyed", None).await.0, 403);
    let _ = redis.kill();
    let _ = redis.wait();
}
