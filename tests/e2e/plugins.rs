//! Wasm authorizers through the real binary: allow, deny, unauthorized,
//! context passed on, the decision cache, and plugins that misbehave.

use std::time::{Duration, Instant};

use serde_json::Value;

use std::sync::Mutex;

use crate::harness::{Gateway, client, eventually, guest, plugin_cache};
use crate::upstream::Upstream;

fn token_config(origin: &Upstream, cache_ttl: &str, instances: &str) -> String {
    token_config_for(
        &guest("rust_token_authorizer"),
        "cache",
        origin,
        cache_ttl,
        instances,
    )
}

/// The token authorizer `component` on `ANY /private/{proxy+}` (to `origin`),
/// with a plain `GET /public` beside it; shared with the other languages' tests.
pub fn token_config_for(
    component: &str,
    cache_dir: &str,
    origin: &Upstream,
    cache_ttl: &str,
    instances: &str,
) -> String {
    format!(
        r#"
[server]
cache_dir = "{cache_dir}"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.tokens]
component = "{component}"
world = "authorizer"
instances = "{instances}"
config = {{ tokens = "s3cret:alice, other:bob" }}
# The debug build's first fresh instance of a language runtime takes ~150 ms
# on an idle machine, and several times that while the suite's other tests
# compile components; these tests check behaviour, not the default budget.
timeout = "5s"

[[apis]]
name = "secure"

[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"
identity_sources = ["$request.header.Authorization"]
cache_ttl = "{cache_ttl}"

[[apis.routes]]
key = "ANY /private/{{proxy+}}"
authorizer = "bearer"
integration = {{ type = "http_proxy", url = "{origin}/{{proxy}}" }}

[[apis.routes]]
key = "GET /public"
integration = {{ type = "mock", body = "open" }}
"#,
        origin = origin.base()
    )
}

async fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let mut request = client().get(gw.url("main", path));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    gw.send_logged(request).await
}

#[tokio::test]
async fn token_authorizer_allows_denies_and_passes_the_principal_on() {
    let origin = Upstream::start();
    let gw = Gateway::start(&token_config(&origin, "0s", "fresh"));

    let (status, body, entry) = get(&gw, "/private/pets", &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"message":"Unauthorized"}"#)
    );
    assert_eq!(
        entry["authorizerCacheHit"],
        Value::Null,
        "the plugin must not run without an identity"
    );

    let (status, body, entry) =
        get(&gw, "/private/pets", &[("authorization", "Bearer wrong")]).await;
    assert_eq!((status, body.as_str()), (403, r#"{"message":"Forbidden"}"#));
    assert_eq!(entry["authorizerCacheHit"], false);

    let (status, body, entry) = get(
        &gw,
        "/private/pets?x=1",
        &[
            ("authorization", "Bearer s3cret"),
            ("x-turnpike-principal-id", "forged"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(entry["principalId"], "alice");
    assert!(entry["authorizerLatency"].as_f64().expect("number") > 0.0);
    let seen: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(seen["path"], "/pets");
    assert_eq!(
        seen["headers"]["x-turnpike-principal-id"],
        serde_json::json!(["alice"])
    );
    assert_eq!(
        seen["headers"]["x-turnpike-context-tokensource"][0],
        "static-list"
    );

    // Routes without an authorizer are untouched.
    let (status, body, _) = get(&gw, "/public", &[]).await;
    assert_eq!((status, body.as_str()), (200, "open"));
    // The plugin's log line reaches the gateway's log, naming the plugin.
    crate::harness::eventually(Duration::from_secs(5), "the plugin's log line", || {
        gw.stderr().contains("unknown token for /private/pets")
            && gw.stderr().contains("plugin=\"tokens\"")
    });
}

#[tokio::test]
async fn decisions_are_cached_by_identity_for_the_ttl() {
    let origin = Upstream::start();
    let gw = Gateway::start(&token_config(&origin, "300s", "fresh"));
    let alice = [("authorization", "Bearer s3cret")];
    let (_, _, first) = get(&gw, "/private/a", &alice).await;
    let (status, _, second) = get(&gw, "/private/b", &alice).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            first["authorizerCacheHit"].clone(),
            second["authorizerCacheHit"].clone()
        ),
        (false.into(), true.into())
    );
    assert_eq!(second["principalId"], "alice");
    // Another identity is another cache entry; denials are cached too.
    let bad = [("authorization", "Bearer nope")];
    let (s1, _, d1) = get(&gw, "/private/a", &bad).await;
    let (s2, _, d2) = get(&gw, "/private/a", &bad).await;
    assert_eq!((s1, s2), (403, 403));
    assert_eq!(
        (
            d1["authorizerCacheHit"].clone(),
            d2["authorizerCacheHit"].clone()
        ),
        (false.into(), true.into())
    );

    // With the cache off every request runs the plugin.
    let gw = Gateway::start(&token_config(&origin, "0s", "fresh"));
    for _ in 0..2 {
        let (_, _, entry) = get(&gw, "/private/a", &alice).await;
        assert_eq!(entry["authorizerCacheHit"], false);
    }
}

#[tokio::test]
async fn reused_instances_give_the_same_answers() {
    let origin = Upstream::start();
    let gw = Gateway::start(&token_config(&origin, "0s", "reuse"));
    for _ in 0..20 {
        let (status, _, _) = get(&gw, "/private/a", &[("authorization", "Bearer other")]).await;
        assert_eq!(status, 200);
        let (status, _, _) = get(&gw, "/private/a", &[("authorization", "Bearer wrong")]).await;
        assert_eq!(status, 403);
    }
}

#[tokio::test]
async fn request_authorizer_uses_several_identity_sources() {
    let origin = Upstream::start();
    let gw = Gateway::start(&format!(
        r#"
[server]
cache_dir = "cache"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.tenants]
component = "{component}"
world = "authorizer"
config = {{ tenants = "acme, globex", blocked_clients = "mallory" }}

[[apis]]
name = "reports"

[apis.stages.eu]
variables = {{ region = "eu-west-1" }}

[apis.authorizers.tenant-gate]
type = "wasm"
plugin = "tenants"
payload = "request"
identity_sources = ["$request.header.x-client-id", "$request.querystring.tenant", "$stageVariables.region"]

[[apis.routes]]
key = "GET /reports/{{id}}"
authorizer = "tenant-gate"
integration = {{ type = "http_proxy", url = "{origin}/r/{{id}}" }}
"#,
        component = guest("rust_request_authorizer"),
        origin = origin.base()
    ));
    // Any missing source: 401 without calling the plugin.
    let (status, _, entry) = get(&gw, "/eu/reports/1?tenant=acme", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(entry["authorizerCacheHit"], Value::Null);
    let (status, _, _) = get(&gw, "/eu/reports/1", &[("x-client-id", "ann")]).await;
    assert_eq!(status, 401);

    let (status, body, entry) =
        get(&gw, "/eu/reports/7?tenant=acme", &[("x-client-id", "ann")]).await;
    assert_eq!(status, 200);
    assert_eq!(entry["principalId"], "ann@acme");
    let seen: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(seen["path"], "/r/7");
    assert_eq!(seen["headers"]["x-turnpike-context-tenant"][0], "acme");
    assert_eq!(seen["headers"]["x-turnpike-context-region"][0], "eu-west-1");
    assert_eq!(
        seen["headers"]["x-turnpike-context-routekey"][0],
        "GET /reports/{id}"
    );

    let (status, _, _) = get(
        &gw,
        "/eu/reports/7?tenant=initech",
        &[("x-client-id", "ann")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = get(
        &gw,
        "/eu/reports/7?tenant=acme",
        &[("x-client-id", "mallory")],
    )
    .await;
    assert_eq!(status, 403);
}

fn misbehaving_config(budget: &str) -> String {
    misbehaving_config_for(&guest("rust_misbehaving_authorizer"), budget)
}

fn misbehaving_config_for(component: &str, budget: &str) -> String {
    format!(
        r#"
[server]
cache_dir = "cache"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.misbehaving]
component = "{component}"
world = "authorizer"
memory_limit = "32MiB"
{budget}

[[apis]]
name = "chaos"

[apis.authorizers.closed]
type = "wasm"
plugin = "misbehaving"
identity_sources = ["$context.identity.sourceIp"]
cache_ttl = "0s"

[apis.authorizers.open]
type = "wasm"
plugin = "misbehaving"
identity_sources = ["$context.identity.sourceIp"]
cache_ttl = "0s"
on_error = "allow"

[[apis.routes]]
key = "GET /closed"
authorizer = "closed"
integration = {{ type = "mock", body = "reached" }}

[[apis.routes]]
key = "GET /open"
authorizer = "open"
integration = {{ type = "mock", body = "reached" }}

[[apis.routes]]
key = "GET /plain"
integration = {{ type = "mock", body = "plain" }}
"#
    )
}

/// `component` with a custom section appended that takes it past 1 MiB, the
/// size from which the gateway treats a plugin as carrying a language
/// runtime and runs it in its second engine.
fn padded_past_one_mebibyte(component: &str, dir: &std::path::Path) -> String {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"turnpike-test-padding";
    let mut payload = Vec::new();
    leb128(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.resize(payload.len() + (1 << 20), 0);
    let mut bytes = std::fs::read(component).expect("read the component");
    bytes.push(0); // custom section
    leb128(payload.len(), &mut bytes);
    bytes.extend_from_slice(&payload);
    let path = dir.join("padded_misbehaving_authorizer.wasm");
    std::fs::write(&path, bytes).expect("write the padded component");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn budgets_hold_in_the_engine_for_language_runtimes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let component = padded_past_one_mebibyte(&guest("rust_misbehaving_authorizer"), dir.path());
    let gw = Gateway::start(&misbehaving_config_for(&component, "timeout = \"200ms\""));
    for (how, detail) in [("loop", "ran past its time budget"), ("memory", "trapped")] {
        let started = Instant::now();
        let (status, _, entry) = get(&gw, "/closed", &[("x-misbehave", how)]).await;
        assert_eq!(status, 500, "{how}");
        let message = entry["errorMessage"].as_str().expect("message");
        assert!(message.contains(detail), "{how}: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{how} took {:?}",
            started.elapsed()
        );
    }
    let (status, body, _) = get(&gw, "/closed", &[]).await;
    assert_eq!((status, body.as_str()), (200, "reached"));
    // Where the host swaps, the gateway keeps one engine and says why.
    let swapping = std::fs::read_to_string("/proc/swaps").map_or(true, |table| {
        table.lines().skip(1).any(|l| !l.trim().is_empty())
    });
    let expected = if swapping {
        "swap is in use"
    } else {
        "a plugin carries a language runtime"
    };
    assert!(gw.stderr().contains(expected), "{}", gw.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_misbehaving_plugin_ends_only_its_own_invocation() {
    let gw = Gateway::start(&misbehaving_config("timeout = \"200ms\""));
    for (how, detail) in [
        ("loop", "ran past its time budget"),
        ("memory", "trapped"),
        ("trap", "trapped"),
        ("error", "returned an error"),
    ] {
        let started = Instant::now();
        let (status, body, entry) = get(&gw, "/closed", &[("x-misbehave", how)]).await;
        assert_eq!(
            (status, body.as_str()),
            (500, r#"{"message":"Internal server error"}"#),
            "{how}"
        );
        assert_eq!(entry["errorBlame"], "plugin", "{how}");
        let message = entry["errorMessage"].as_str().expect("message");
        assert!(
            message.contains(&format!("plugin `misbehaving` {detail}")),
            "{how}: {message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{how} took {:?}",
            started.elapsed()
        );
        // The same plugin still serves a well-behaved request right after.
        let (status, body, _) = get(&gw, "/closed", &[]).await;
        assert_eq!((status, body.as_str()), (200, "reached"), "after {how}");
    }
    // The panic message the guest wrote to stderr is in the gateway's log,
    // and is what the failure says: once, without the wasm backtrace
    // (which is for the debug log).
    eventually(Duration::from_secs(5), "the guest's panic message", || {
        gw.stderr()
            .contains("the misbehaving authorizer panics on purpose")
    });
    let (_, _, entry) = get(&gw, "/closed", &[("x-misbehave", "trap")]).await;
    let request_id = entry["requestId"].as_str().expect("request id");
    assert_eq!(
        entry["errorMessage"],
        "Internal server error: plugin `misbehaving` trapped: the misbehaving authorizer panics on purpose"
    );
    eventually(Duration::from_secs(5), "the failure's log line", || {
        gw.stderr()
            .contains(&format!("request failed request_id=\"{request_id}\""))
    });
    let log = gw.stderr();
    let failure_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(request_id) && !l.contains("stream="))
        .collect();
    assert_eq!(failure_lines.len(), 1, "{failure_lines:#?}");
    assert!(!log.contains("wasm backtrace"), "{log}");

    // Failing open lets the request through.
    let (status, body, entry) = get(&gw, "/open", &[("x-misbehave", "trap")]).await;
    assert_eq!((status, body.as_str()), (200, "reached"));
    assert_eq!(entry["principalId"], Value::Null);

    // A context value no header can carry is dropped, not forwarded broken.
    let (status, _, _) = get(&gw, "/open", &[("x-misbehave", "garbage-context")]).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_requests_keep_flowing_while_a_plugin_spins() {
    let gw = Gateway::start(&misbehaving_config("timeout = \"200ms\""));
    let url = gw.url("main", "/closed");
    let spinning: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                client()
                    .get(url)
                    .header("x-misbehave", "loop")
                    .send()
                    .await
                    .expect("request")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    // While four invocations spin towards their deadline, plain requests answer.
    let started = Instant::now();
    let mut answered = 0;
    let http = client();
    while started.elapsed() < Duration::from_millis(150) {
        let response = http
            .get(gw.url("main", "/plain"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.text().await.expect("body"), "plain");
        answered += 1;
    }
    assert!(
        answered >= 10,
        "only {answered} plain requests answered in 150 ms"
    );
    for s in spinning {
        assert_eq!(s.await.expect("task"), 500);
    }
}

#[tokio::test]
async fn fuel_bounds_a_loop_exactly() {
    let gw = Gateway::start(&misbehaving_config("fuel = 5000000\ntimeout = \"30s\""));
    let started = Instant::now();
    let (status, _, entry) = get(&gw, "/closed", &[("x-misbehave", "loop")]).await;
    assert_eq!(status, 500);
    assert!(
        entry["errorMessage"]
            .as_str()
            .expect("message")
            .contains("ran out of fuel")
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _, _) = get(&gw, "/closed", &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_mapper_reshapes_requests_and_responses_and_may_answer_itself() {
    let component = guest("rust_json_mapper");
    for instances in ["fresh", "reuse"] {
        behaves_like_the_json_mapper(&component, "cache", instances, "rust").await;
    }
}

/// Everything the JSON mapper example does, through the binary; shared with
/// the other languages' tests, whose mappers behave the same.
pub async fn behaves_like_the_json_mapper(
    component: &str,
    cache_dir: &str,
    instances: &str,
    language: &str,
) {
    let origin = Upstream::start();
    let gw = Gateway::start(&format!(
        r#"
[server]
cache_dir = "{cache_dir}"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.json-mapper]
component = "{component}"
world = "mapper"
instances = "{instances}"
timeout = "5s"    # as in token_config_for: behaviour, not the default budget

[[apis]]
name = "mapped"

[[apis.routes]]
key = "POST /pets"
mapper = "json-mapper"
integration = {{ type = "http_proxy", url = "{origin}/store/pets" }}

[[apis.routes]]
key = "GET /hello"
mapper = "json-mapper"
integration = {{ type = "mock", status = 202, body = "plain words" }}
"#,
        origin = origin.base()
    ));
    let http = client();
    let response = http
        .post(gw.url("main", "/pets?source=test"))
        .header("content-type", "application/json")
        .header("x-internal-secret", "do-not-leak")
        .body(r#"{"name": "Rex", "kind": "dog"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{language} {instances}");
    assert_eq!(response.headers()["x-response-mapped"], "true");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let wrapped: Value = response.json().await.expect("json");
    assert_eq!(wrapped["status"], 200);
    // What the origin saw, as the mapper rewrote it.
    let seen = &wrapped["data"];
    assert_eq!(seen["path"], "/store/pets");
    assert_eq!(seen["query"], "source=test&mapped=true");
    assert_eq!(seen["headers"]["x-mapped-by"][0], "json-mapper");
    assert!(seen["headers"].get("x-internal-secret").is_none());
    let expected_body =
        serde_json::json!({"pet": {"name": "Rex", "species": "dog"}, "requestId": request_id});
    let expected_bytes = serde_json::to_vec(&expected_body).expect("json");
    assert_eq!(
        (seen["body_len"].clone(), seen["body_hash"].clone()),
        (
            expected_bytes.len().into(),
            crate::upstream::body_hash(&expected_bytes).into()
        ),
        "{language}: the origin got other bytes than {}",
        String::from_utf8_lossy(&expected_bytes)
    );

    // Response mapping applies to mocks too.
    let response = http
        .get(gw.url("main", "/hello"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        serde_json::json!({"status": 202, "data": "plain words"}),
        "{language}"
    );

    // The mapper answers by itself: the origin is never called.
    let before = origin
        .stats
        .started
        .load(std::sync::atomic::Ordering::SeqCst);
    let response = http
        .post(gw.url("main", "/pets"))
        .header("x-mapper-respond", "teapot")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 418, "{language}");
    assert_eq!(
        response.text().await.expect("body"),
        "short-circuited by the mapper",
        "{language}"
    );
    assert_eq!(
        origin
            .stats
            .started
            .load(std::sync::atomic::Ordering::SeqCst),
        before
    );

    // A mapper error is the plugin's fault: 500, and the gateway carries on.
    let (status, body, entry) = gw
        .send_logged(http.post(gw.url("main", "/pets")).body("not json"))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (500, r#"{"message":"Internal server error"}"#),
        "{language}"
    );
    assert_eq!(entry["errorBlame"], "plugin");
    let message = entry["errorMessage"].as_str().expect("message");
    assert!(
        message.contains("request body is not JSON"),
        "{language}: {message}"
    );
    let (status, _, _) = gw
        .send_logged(http.post(gw.url("main", "/pets")).body(r#"{"name":"Tom"}"#))
        .await;
    assert_eq!(status, 200, "{language} {instances} after an error");
}

#[tokio::test]
async fn a_wasi_http_component_serves_a_function_route() {
    serves_the_items_api(&guest("rust_http_function"), "rust").await;
}

/// The items API of `guest-examples/*-http-function` (a `wasi:http/proxy`
/// component in `language`) through a `function` route: what the gateway
/// passes it, and bodies both ways.
pub async fn serves_the_items_api(function: &str, language: &str) {
    let gw = Gateway::start(&format!(
        r#"
[server]
cache_dir = "{cache}"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.items]
component = "{function}"
world = "function"
timeout = "2s"

[plugins.tokens]
component = "{tokens}"
world = "authorizer"
config = {{ tokens = "s3cret:alice" }}

[[apis]]
name = "items"

[apis.stages.eu]
variables = {{ region = "eu-west-1" }}

[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"

[[apis.routes]]
key = "GET /items/{{id}}"
authorizer = "bearer"
integration = {{ type = "function", plugin = "items" }}

[[apis.routes]]
key = "POST /items"
integration = {{ type = "function", plugin = "items" }}
"#,
        cache = crate::harness::plugin_cache(),
        tokens = guest("rust_token_authorizer"),
    ));
    let http = client();
    let response = http
        .get(gw.url("main", "/eu/items/42"))
        .header("authorization", "Bearer s3cret")
        .header("x-turnpike-principal-id", "forged")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{language}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let item: Value = response.json().await.expect("json");
    assert_eq!(
        item,
        serde_json::json!({
            "id": "42", "name": "item 42", "routeKey": "GET /items/{id}",
            "stage": "eu", "region": "eu-west-1", "principal": "alice"
        }),
        "{language}"
    );
    let entry = gw.access_log_entry(&request_id);
    assert_eq!(entry["integrationStatus"], 200);
    assert!(entry["integrationLatency"].as_f64().expect("number") > 0.0);

    let missing = http
        .get(gw.url("main", "/eu/items/missing"))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404, "{language}");

    let body = serde_json::json!({"name": "lamp", "tags": vec!["a"; 2000]}).to_string();
    let response = http
        .post(gw.url("main", "/eu/items"))
        .body(body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201, "{language}");
    assert_eq!(response.headers()["location"], "/items/new");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let created: Value = response.json().await.expect("json");
    assert_eq!(created["bytes"], body.len());
    assert_eq!(created["created"]["name"], "lamp");
    assert_eq!(created["requestId"], request_id.as_str());
}

/// 200 reloads of a configuration with a `reuse` authorizer while two
/// workers serve traffic: every reload loads the plugin anew, and the idle
/// instances of the replaced ones are released on every worker, so the
/// instance pool stays small and no request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloads_under_traffic_keep_the_instance_pool_bounded() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const RELOADS: usize = 200;
    const CLIENTS: usize = 8;
    const MAX_IDLE: u64 = 4;
    let origin = Upstream::start();
    let config = token_config_for(
        &guest("rust_token_authorizer"),
        &plugin_cache(),
        &origin,
        "0s",
        "reuse",
    )
    .replacen(
        "[server]\n",
        "[admin]\naddress = \"127.0.0.1:0\"\n\n[server]\nworkers = 2\naccess_log = \"off\"\n",
        1,
    )
    .replacen(
        "instances = \"reuse\"",
        &format!("instances = \"reuse\"\nmax_idle_instances = {MAX_IDLE}"),
        1,
    );
    let gw = Arc::new(Gateway::start(&config));

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (gw, stop, served, failed) = (gw.clone(), stop.clone(), served.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            // A connection of its own per request, so that both workers
            // accept some.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            while !stop.load(Ordering::Relaxed) {
                let response = http
                    .get(gw.url("main", "/private/pets"))
                    .header("authorization", "Bearer s3cret")
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failed.lock().expect("lock").push(r.status().to_string()),
                    Err(e) => failed.lock().expect("lock").push(e.to_string()),
                }
            }
        }));
    }
    let admin = reqwest::Client::new();
    for i in 0..RELOADS {
        let response = admin
            .post(gw.url(turnpike::ADMIN_LISTENER, "/reload"))
            .send()
            .await
            .expect("reload");
        assert_eq!(response.status(), 200, "reload {i}");
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }
    let failed = failed.lock().expect("lock").clone();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(
        served.load(Ordering::Relaxed) > RELOADS,
        "only {} requests served during the reloads",
        served.load(Ordering::Relaxed)
    );
    // Idle instances of the current plugin on two workers at most; the
    // replaced plugins' are gone. (Without the release, each reload left
    // up to MAX_IDLE per worker behind: hundreds.)
    let live = || {
        let gw = gw.clone();
        async move {
            let list: Value = reqwest::get(gw.url(turnpike::ADMIN_LISTENER, "/plugins"))
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            list["instances"]["live"].as_u64().expect("live instances")
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut now_live = live().await;
    while now_live > 2 * MAX_IDLE && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        now_live = live().await;
    }
    assert!(
        now_live <= 2 * MAX_IDLE,
        "{now_live} instances alive after {RELOADS} reloads"
    );
}
