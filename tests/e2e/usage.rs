//! API keys, usage plans, throttling and quotas through the real binary:
//! API Gateway's 403 and 429 answers, token-bucket timing within tolerant
//! bounds, and a quota that `kill -9` and a restart do not refill.

use std::time::{Duration, Instant};

use crate::harness::{Gateway, client};

const PARTNER: &str = "partner-key-0123456789abcdef";
const METERED: &str = "metered-key-0123456789abcdef";
const STRANGER: &str = "stranger-key-0123456789abcdef";
const DISABLED: &str = "disabled-key-0123456789abcdef";

fn config(data_dir: &str) -> String {
    format!(
        r#"
[server]
data_dir = "{data_dir}"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[api_keys.partner]
value = "{PARTNER}"

[api_keys.metered]
value = "{METERED}"

[api_keys.stranger]
value = "{STRANGER}"

[api_keys.retired]
value = "{DISABLED}"
enabled = false

[usage_plans.gold]
api_keys = ["partner", "retired"]
stages = [{{ api = "shop", stage = "$default" }}]
throttle = {{ rate = 2, burst = 4 }}

[usage_plans.metered]
api_keys = ["metered"]
stages = [{{ api = "shop", stage = "$default" }}]
quota = {{ limit = 5, period = "day" }}

[[apis]]
name = "shop"

[[apis.routes]]
key = "GET /keyed"
api_key_required = true
integration = {{ type = "mock", body = "keyed" }}

[[apis.routes]]
key = "GET /open"
throttle = {{ rate = 1, burst = 2 }}
integration = {{ type = "mock", body = "open" }}
"#
    )
}

/// Status, body and `Retry-After` of one request.
async fn get(gw: &Gateway, path: &str, key: Option<&str>) -> (u16, String, Option<u64>) {
    let mut request = client().get(gw.url("main", path));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, response.text().await.expect("body"), retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_required_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(&config(&dir.path().display().to_string()));
    let forbidden = (403, r#"{"message":"Forbidden"}"#.to_owned(), None);
    assert_eq!(get(&gw, "/keyed", None).await, forbidden, "no key");
    assert_eq!(
        get(&gw, "/keyed", Some("not-a-key-0123456789abcdef")).await,
        forbidden,
        "unknown key"
    );
    assert_eq!(
        get(&gw, "/keyed", Some(DISABLED)).await,
        forbidden,
        "disabled key"
    );
    assert_eq!(
        get(&gw, "/keyed", Some(STRANGER)).await,
        forbidden,
        "key in no plan"
    );
    assert_eq!(
        get(&gw, "/keyed", Some(PARTNER)).await,
        (200, "keyed".into(), None)
    );
    // A route without `api_key_required` ignores keys.
    assert_eq!(get(&gw, "/open", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_admits_its_burst_then_its_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(&config(&dir.path().display().to_string()));
    // rate 2/s, burst 4: the burst goes through at once, the next is refused.
    let started = Instant::now();
    let mut admitted = 0;
    let refusal = loop {
        let (status, body, retry) = get(&gw, "/keyed", Some(PARTNER)).await;
        if status != 200 {
            break (status, body, retry);
        }
        admitted += 1;
        assert!(admitted <= 20, "the bucket never ran out");
    };
    let refill = (started.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(
        (4..=4 + refill).contains(&admitted),
        "admitted {admitted} (burst 4, {refill} refilled meanwhile)"
    );
    assert_eq!(
        refusal,
        (429, r#"{"message":"Too Many Requests"}"#.into(), Some(1))
    );
    // Retry-After is honest: after it, a request goes through.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(get(&gw, "/keyed", Some(PARTNER)).await.0, 200);

    // Over two seconds of trying, about the rate gets through.
    let window = Instant::now();
    let mut admitted = 0;
    while window.elapsed() < Duration::from_secs(2) {
        if get(&gw, "/keyed", Some(PARTNER)).await.0 == 200 {
            admitted += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        (3..=6).contains(&admitted),
        "admitted {admitted} in 2 s at 2/s"
    );

    // Another key has its own bucket; the route throttle counts everyone.
    assert_eq!(get(&gw, "/keyed", Some(METERED)).await.0, 200);
    assert_eq!(get(&gw, "/open", None).await.0, 200);
    assert_eq!(get(&gw, "/open", Some(PARTNER)).await.0, 200);
    let (status, body, retry) = get(&gw, "/open", None).await;
    assert_eq!(
        (status, body.as_str()),
        (429, r#"{"message":"Too Many Requests"}"#)
    );
    assert_eq!(retry, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().display().to_string();
    let gw = Gateway::start(&config(&data_dir));
    for i in 0..3 {
        assert_eq!(
            get(&gw, "/keyed", Some(METERED)).await.0,
            200,
            "request {i}"
        );
    }
    gw.signal("KILL");
    drop(gw);

    let gw = Gateway::start(&config(&data_dir));
    for i in 3..5 {
        assert_eq!(
            get(&gw, "/keyed", Some(METERED)).await.0,
            200,
            "request {i}"
        );
    }
    let (status, body, retry) = get(&gw, "/keyed", Some(METERED)).await;
    assert_eq!(
        (status, body.as_str()),
        (429, r#"{"message":"Limit Exceeded"}"#)
    );
    let retry = retry.expect("Retry-After");
    assert!((1..=86_400).contains(&retry), "Retry-After: {retry}");
    // Other keys are unaffected.
    assert_eq!(get(&gw, "/keyed", Some(PARTNER)).await.0, 200);

    gw.signal("KILL");
    drop(gw);
    let gw = Gateway::start(&config(&data_dir));
    assert_eq!(
        get(&gw, "/keyed", Some(METERED)).await.0,
        429,
        "used up after restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_can_supply_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        r#"
[server]
cache_dir = "{cache}"
data_dir = "{data_dir}"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.tenants]
component = "{component}"
world = "authorizer"
config = {{ tenants = "acme, globex", usage_keys = "acme:{METERED}" }}

[api_keys.acme]
value = "{METERED}"

[usage_plans.metered]
api_keys = ["acme"]
stages = [{{ api = "reports", stage = "$default" }}]
quota = {{ limit = 2, period = "month" }}

[[apis]]
name = "reports"
api_key_source = "authorizer"

[apis.stages."$default"]
variables = {{ region = "eu-west-1" }}

[apis.authorizers.tenant]
type = "wasm"
plugin = "tenants"
payload = "request"
identity_sources = ["$request.header.x-client-id", "$request.querystring.tenant", "$stageVariables.region"]

[[apis.routes]]
key = "GET /report"
authorizer = "tenant"
api_key_required = true
integration = {{ type = "mock", body = "report" }}
"#,
        cache = crate::harness::plugin_cache(),
        data_dir = dir.path().display(),
        component = crate::harness::guest("rust_request_authorizer"),
    );
    let gw = Gateway::start(&config);
    let ask = |tenant: &'static str| {
        client()
            .get(gw.url("main", &format!("/report?tenant={tenant}")))
            .header("x-client-id", "ann")
            // A key in the header is not what counts here.
            .header("x-api-key", PARTNER)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(ask("acme").await.expect("request").status(), 200);
    }
    let refused = ask("acme").await.expect("request");
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.text().await.expect("body"),
        r#"{"message":"Limit Exceeded"}"#
    );
    // Allowed, but the authorizer gave no key for this tenant.
    let refused = ask("globex").await.expect("request");
    assert_eq!(refused.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_managed_through_the_admin_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[admin]\naddress = \"127.0.0.1:0\"\n{}",
        config(&dir.path().display().to_string())
    );
    let gw = Gateway::start(&config);
    let cli = |gw: &Gateway, args: &[&str]| {
        crate::harness::run(
            std::process::Command::new(crate::harness::binary())
                .args(args)
                .env("TURNPIKE_ADMIN", gw.url(turnpike::ADMIN_LISTENER, "")),
        )
    };
    let (code, out, err) = cli(&gw, &["api-key", "create", "newcomer", "--plan", "gold"]);
    assert_eq!(code, 0, "{err}");
    let value = out.trim().rsplit(' ').next().expect("value").to_owned();
    assert_eq!(value.len(), 40, "{out}");
    assert_eq!(get(&gw, "/keyed", Some(&value)).await.0, 200);

    // Listed by name and plan, never by value.
    let (code, out, _) = cli(&gw, &["api-key", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("\"newcomer\"") && out.contains("\"admin\""),
        "{out}"
    );
    assert!(!out.contains(&value) && !out.contains(PARTNER), "{out}");

    // Disabled, it is refused like an unknown key; enabled, it works again.
    assert_eq!(cli(&gw, &["api-key", "disable", "newcomer"]).0, 0);
    assert_eq!(get(&gw, "/keyed", Some(&value)).await.0, 403);
    assert_eq!(cli(&gw, &["api-key", "enable", "newcomer"]).0, 0);
    assert_eq!(get(&gw, "/keyed", Some(&value)).await.0, 200);

    // Refusals change nothing.
    let (code, _, err) = cli(&gw, &["api-key", "create", "newcomer"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("409") && err.contains("exists already"),
        "{err}"
    );
    let (code, _, err) = cli(&gw, &["api-key", "create", "other", "--plan", "platinum"]);
    assert_eq!(code, 1);
    assert!(err.contains("400") && err.contains("platinum"), "{err}");
    let (code, _, err) = cli(&gw, &["api-key", "rm", "partner"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("409") && err.contains("configuration file"),
        "{err}"
    );
    assert_eq!(get(&gw, "/keyed", Some(PARTNER)).await.0, 200);

    // Created keys survive kill -9; removed ones are gone.
    gw.signal("KILL");
    drop(gw);
    let gw = Gateway::start(&config);
    assert_eq!(get(&gw, "/keyed", Some(&value)).await.0, 200);
    assert_eq!(cli(&gw, &["api-key", "rm", "newcomer"]).0, 0);
    assert_eq!(get(&gw, "/keyed", Some(&value)).await.0, 403);
    assert_eq!(
        get(&gw, "/keyed", Some(PARTNER)).await.0,
        200,
        "other keys keep working"
    );
}
