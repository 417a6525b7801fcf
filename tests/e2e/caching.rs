//! The stage response cache through the real binary: hits, misses and
//! bypasses by key parameters, time to live, `Cache-Control: max-age=0`
//! allowed and refused, flush through the admin API and the CLI, request
//! coalescing against a slow origin, and a cached answer never served to a
//! caller the authorizer or a usage plan refuses.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Gateway, binary, client, guest, run};
use crate::upstream::Upstream;

const TOKEN: &str = "cache-admin-token-0123456789";
const KEY: &str = "cache-partner-key-0123456789";

fn config(upstream: &Upstream, component: &str) -> String {
    format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
token_file = "{token}"

[plugins.tokens]
component = "{component}"
world = "authorizer"
timeout = "5s"
config = {{ tokens = "s3cret:alice, ops:operator" }}

[api_keys.partner]
value = "{KEY}"

[usage_plans.small]
api_keys = ["partner"]
stages = [{{ api = "shop", stage = "prod" }}]
quota = {{ limit = 3, period = "day" }}

[[apis]]
name = "shop"

[apis.stages.prod.cache]
capacity = "1 MiB"
ttl = "300s"
max_entry_size = "4 KiB"
invalidators = ["operator"]
unauthorized_invalidation = "FAIL_WITH_403"
lock_timeout = "5s"

[apis.stages.open.cache]
capacity = "1 MiB"
require_authorization = false

[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"
identity_sources = ["$request.header.Authorization"]

[[apis.routes]]
key = "GET /items"
cache = {{ key_parameters = ["method.request.querystring.page", "method.request.header.Accept-Language"] }}
integration = {{ type = "http_proxy", url = "{origin}/items" }}

[[apis.routes]]
key = "GET /items/{{id}}"
cache = {{ key_parameters = ["method.request.path.id"], ttl = "1s" }}
integration = {{ type = "http_proxy", url = "{origin}/items/{{id}}" }}

[[apis.routes]]
key = "GET /template/{{id}}"
integration = {{ type = "http_proxy", url = "{origin}/template/{{id}}" }}

[[apis.routes]]
key = "GET /slow"
integration = {{ type = "http_proxy", url = "{origin}/slow/400" }}

[[apis.routes]]
key = "GET /big"
integration = {{ type = "http_proxy", url = "{origin}/doc/big" }}

[[apis.routes]]
key = "GET /broken"
integration = {{ type = "http_proxy", url = "{origin}/status/503" }}

[[apis.routes]]
key = "POST /search"
integration = {{ type = "http_proxy", url = "{origin}/search" }}

[[apis.routes]]
key = "POST /lookup"
cache = {{ enabled = true, key_parameters = ["method.request.querystring.q"] }}
integration = {{ type = "http_proxy", url = "{origin}/lookup" }}

[[apis.routes]]
key = "GET /secret"
authorizer = "bearer"
integration = {{ type = "http_proxy", url = "{origin}/secret" }}

[[apis.routes]]
key = "GET /metered"
api_key_required = true
integration = {{ type = "http_proxy", url = "{origin}/metered" }}

[[apis.routes]]
key = "GET /uncached"
cache = {{ enabled = false }}
integration = {{ type = "http_proxy", url = "{origin}/uncached" }}
"#,
        token = crate::harness::token_file("cache-admin", TOKEN),
        origin = upstream.base(),
    )
}

/// Status, headers and the parsed body of one request, and the access
/// log's `cacheStatus` for it.
struct Seen {
    status: u16,
    age: Option<u64>,
    warning: Option<String>,
    body: String,
    cache_status: Value,
}

async fn get(gw: &Gateway, request: reqwest::RequestBuilder) -> Seen {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let age = header("age").map(|a| a.parse().expect("Age is seconds"));
    let warning = header("warning");
    let id = header("x-request-id").expect("request id");
    let body = response.text().await.expect("body");
    let cache_status = gw.access_log_entry(&id)["cacheStatus"].clone();
    Seen {
        status,
        age,
        warning,
        body,
        cache_status,
    }
}

fn started(upstream: &Upstream) -> usize {
    upstream.stats.started.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_misses_and_bypasses_follow_the_key_parameters() {
    let upstream = Upstream::start();
    let gw = Gateway::start(&config(&upstream, &guest("rust_token_authorizer")));
    let url = |path: &str| gw.url("main", &format!("/prod{path}"));
    let http = client();

    let first = get(&gw, http.get(url("/items?page=1&sort=asc"))).await;
    assert_eq!(
        (first.status, first.cache_status.as_str()),
        (200, Some("miss"))
    );
    assert_eq!(first.age, None);
    let before = started(&upstream);
    // Parameters outside the key (`sort`, other headers) are ignored.
    let again = get(
        &gw,
        http.get(url("/items?page=1&sort=desc"))
            .header("x-other", "1"),
    )
    .await;
    assert_eq!(
        (again.status, again.cache_status.as_str()),
        (200, Some("hit"))
    );
    assert_eq!(again.body, first.body, "the stored answer, byte for byte");
    assert!(again.age.is_some(), "a hit carries Age");
    assert_eq!(
        started(&upstream),
        before,
        "a hit does not reach the origin"
    );
    // A key parameter's value tells entries apart: query and header.
    let page2 = get(&gw, http.get(url("/items?page=2"))).await;
    assert_eq!(page2.cache_status, "miss");
    assert!(page2.body.contains("page=2"));
    let french = get(
        &gw,
        http.get(url("/items?page=1"))
            .header("accept-language", "fr"),
    )
    .await;
    assert_eq!(french.cache_status, "miss");
    let french = get(
        &gw,
        http.get(url("/items?page=1"))
            .header("accept-language", "fr"),
    )
    .await;
    assert_eq!(french.cache_status, "hit");
    // A declared path parameter is in the key; an undeclared one is not
    // (API Gateway's behaviour: /template/1 and /template/2 share one entry).
    assert_eq!(
        get(&gw, http.get(url("/items/1"))).await.cache_status,
        "miss"
    );
    let two = get(&gw, http.get(url("/items/2"))).await;
    assert_eq!(two.cache_status, "miss");
    assert!(two.body.contains("/items/2"));
    assert_eq!(
        get(&gw, http.get(url("/template/1"))).await.cache_status,
        "miss"
    );
    let shared = get(&gw, http.get(url("/template/2"))).await;
    assert_eq!(shared.cache_status, "hit");
    assert!(shared.body.contains("/template/1"), "{}", shared.body);
    // Errors and bodies over max_entry_size pass through, unstored.
    for _ in 0..2 {
        let broken = get(&gw, http.get(url("/broken"))).await;
        assert_eq!(
            (broken.status, broken.cache_status.as_str()),
            (503, Some("bypass"))
        );
    }
    upstream.publish("big", &format!("\"{}\"", "x".repeat(10_000)));
    for _ in 0..2 {
        let big = get(&gw, http.get(url("/big"))).await;
        assert_eq!(big.status, 200);
        assert_eq!(big.body.len(), 10_002, "the whole body arrives");
        assert_eq!(big.cache_status, "bypass");
    }
    // POST is not cached unless the route opts in.
    for _ in 0..2 {
        let post = get(&gw, http.post(url("/search")).body("q")).await;
        assert_eq!(post.cache_status, Value::Null);
    }
    assert_eq!(
        get(&gw, http.post(url("/lookup?q=a")).body("1"))
            .await
            .cache_status,
        "miss"
    );
    assert_eq!(
        get(&gw, http.post(url("/lookup?q=a")).body("2"))
            .await
            .cache_status,
        "hit"
    );
    // A route may opt out; a stage without a cache has none.
    for _ in 0..2 {
        assert_eq!(
            get(&gw, http.get(url("/uncached"))).await.cache_status,
            Value::Null
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_after_their_ttl() {
    let upstream = Upstream::start();
    let gw = Gateway::start(&config(&upstream, &guest("rust_token_authorizer")));
    let url = gw.url("main", "/prod/items/7");
    let http = client();
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "miss");
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "hit");
    // The route's ttl is 1 s: once it has passed, the next request misses.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "miss");
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_zero_invalidates_only_for_allowed_callers_and_flush_empties_the_stage() {
    let upstream = Upstream::start();
    let gw = Gateway::start(&config(&upstream, &guest("rust_token_authorizer")));
    let http = client();
    let url = gw.url("main", "/prod/items?page=9");
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "miss");

    // prod requires authorization: an anonymous max-age=0 is refused (403).
    let refused = get(&gw, http.get(&url).header("cache-control", "max-age=0")).await;
    assert_eq!(refused.status, 403);
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "hit");

    // `/secret` has the authorizer: `operator` may invalidate, `alice` may not.
    let secret = gw.url("main", "/prod/secret");
    let as_alice = |r: reqwest::RequestBuilder| r.header("authorization", "s3cret");
    assert_eq!(
        get(&gw, as_alice(http.get(&secret))).await.cache_status,
        "miss"
    );
    let denied = get(
        &gw,
        as_alice(http.get(&secret)).header("cache-control", "max-age=0"),
    )
    .await;
    assert_eq!(denied.status, 403);
    let before = started(&upstream);
    let fresh = get(
        &gw,
        http.get(&secret)
            .header("authorization", "ops")
            .header("cache-control", "max-age=0"),
    )
    .await;
    assert_eq!(
        (fresh.status, fresh.cache_status.as_str()),
        (200, Some("invalidated"))
    );
    assert_eq!(started(&upstream), before + 1, "fetched anew");
    assert_eq!(
        get(&gw, as_alice(http.get(&secret))).await.cache_status,
        "hit"
    );

    // The `open` stage does not require authorization: anyone invalidates.
    let open = gw.url("main", "/open/items?page=1");
    assert_eq!(get(&gw, http.get(&open)).await.cache_status, "miss");
    let anyone = get(&gw, http.get(&open).header("cache-control", "max-age=0")).await;
    assert_eq!(anyone.cache_status, "invalidated");
    assert_eq!(anyone.warning, None);

    // Flush through the admin API, then the CLI.
    let admin = format!("http://{}", gw.addr("@admin"));
    let cache_url = format!("{admin}/apis/shop/stages/prod/cache");
    let shown: Value = http
        .get(&cache_url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("show")
        .json()
        .await
        .expect("json");
    assert!(shown["entries"].as_u64().expect("entries") >= 2, "{shown}");
    assert!(shown["bytes"].as_u64().expect("bytes") > 0);
    assert_eq!(shown["capacityBytes"], 1024 * 1024);
    let flushed = http
        .delete(&cache_url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("flush");
    assert_eq!(flushed.status(), 200);
    let flushed: Value = flushed.json().await.expect("json");
    assert!(
        flushed["flushed"].as_u64().expect("count") >= 2,
        "{flushed}"
    );
    assert_eq!(flushed["entries"], 0);
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "miss");
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "hit");
    let (code, out, err) = run(std::process::Command::new(binary()).args([
        "cache", "flush", "shop", "prod", "--admin", &admin, "--token", TOKEN,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("flushed 1 entries"), "{out}");
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "miss");
    // An unknown stage's cache: 404 with the reason.
    let missing = http
        .delete(format!("{admin}/apis/shop/stages/nope/cache"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("flush");
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.expect("body").contains("has no cache"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_make_one_upstream_request() {
    let upstream = Upstream::start();
    let gw = Gateway::start(&config(&upstream, &guest("rust_token_authorizer")));
    let url = gw.url("main", "/prod/slow");
    let before = started(&upstream);
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let request = client().get(&url);
            tokio::spawn(async move {
                let response = request.send().await.expect("request");
                (
                    response.status().as_u16(),
                    response.text().await.expect("body"),
                )
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for request in requests {
        let (status, body) = request.await.expect("join");
        assert_eq!(status, 200);
        bodies.push(body);
    }
    assert_eq!(
        started(&upstream) - before,
        1,
        "20 concurrent misses, one fetch"
    );
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    crate::harness::eventually(Duration::from_secs(5), "20 access-log lines", || {
        gw.stdout_lines()
            .iter()
            .filter(|l| l.contains("\"path\":\"/prod/slow\""))
            .count()
            == 20
    });
    let lines: Vec<Value> = gw
        .stdout_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["path"] == "/prod/slow")
        .collect();
    let misses = lines.iter().filter(|l| l["cacheStatus"] == "miss").count();
    let hits = lines.iter().filter(|l| l["cacheStatus"] == "hit").count();
    assert_eq!((misses, hits), (1, 19));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_answer_never_reaches_a_caller_who_would_be_refused() {
    let upstream = Upstream::start();
    let gw = Gateway::start(&config(&upstream, &guest("rust_token_authorizer")));
    let http = client();
    let secret = gw.url("main", "/prod/secret");
    let ok = get(&gw, http.get(&secret).header("authorization", "s3cret")).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        get(&gw, http.get(&secret).header("authorization", "s3cret"))
            .await
            .cache_status,
        "hit"
    );
    // The same request without a token, or with a wrong one: the authorizer
    // decides first.
    let anonymous = get(&gw, http.get(&secret)).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.cache_status, Value::Null);
    let wrong = get(&gw, http.get(&secret).header("authorization", "guess")).await;
    assert!(matches!(wrong.status, 401 | 403), "{}", wrong.status);
    assert!(!wrong.body.contains("/secret"));

    // The quota (3 a day) counts cache hits; the fourth call is refused.
    let metered = gw.url("main", "/prod/metered");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&gw, http.get(&metered).header("x-api-key", KEY)).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|s| s.status).collect();
    assert_eq!(codes, [200, 200, 200, 429]);
    assert_eq!(statuses[1].cache_status, "hit");
    assert_eq!(statuses[3].cache_status, Value::Null);
    assert_eq!(
        get(&gw, http.get(&metered)).await.status,
        403,
        "no key at all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_entries_unless_the_route_changed() {
    let upstream = Upstream::start();
    let config = config(&upstream, &guest("rust_token_authorizer"));
    let gw = Gateway::start(&config);
    let http = client();
    let url = gw.url("main", "/prod/items?page=3");
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "miss");
    let reload = || async {
        let response = http
            .post(format!("http://{}/reload", gw.addr("@admin")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("reload");
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
    };
    // The same file: the entry still answers.
    reload().await;
    assert_eq!(get(&gw, http.get(&url)).await.cache_status, "hit");
    // The route's integration changed: its old answers are not served.
    gw.rewrite_config(
        &config.replace(
            "url = \"{origin}/items\""
                .replace("{origin}", &upstream.base())
                .as_str(),
            &format!("url = \"{}/items-v2\"", upstream.base()),
        ),
    );
    reload().await;
    let fresh = get(&gw, http.get(&url)).await;
    assert_eq!(fresh.cache_status, "miss");
    assert!(fresh.body.contains("/items-v2"), "{}", fresh.body);
}
