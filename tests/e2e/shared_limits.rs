//! Rate limits and quotas shared through a real `redis-server` (started
//! here on a Unix socket, no fixed port): two gateway processes enforce one
//! combined limit, and when Redis goes away each keeps serving or refuses
//! as `usage_store.on_error` says, with a log line.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Gateway, client};

const KEY: &str = "shared-key-0123456789abcdef";

/// A `redis-server` of the test's own, on a Unix socket in a temporary folder.
struct Redis {
    child: Child,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (installed by scripts/test)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            child,
            socket,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(redis: &Redis, on_error: &str) -> String {
    format!(
        r#"
[usage_store]
redis_url = "{url}"
on_error = "{on_error}"
timeout = "200ms"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[api_keys.shared]
value = "{KEY}"

[usage_plans.team]
api_keys = ["shared"]
stages = [{{ api = "shop", stage = "$default" }}]
throttle = {{ rate = 0.5, burst = 6 }}
quota = {{ limit = 10, period = "day" }}

[[apis]]
name = "shop"

[[apis.routes]]
key = "GET /keyed"
api_key_required = true
integration = {{ type = "mock", body = "keyed" }}
"#,
        url = redis.url()
    )
}

async fn status(gw: &Gateway) -> (u16, String) {
    let response = client()
        .get(gw.url("main", "/keyed"))
        .header("x-api-key", KEY)
        .send()
        .await
        .expect("request");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_limit() {
    let redis = Redis::start();
    let first = Gateway::start(&config(&redis, "allow"));
    let second = Gateway::start(&config(&redis, "allow"));
    // Burst 6 at 0.5/s for both together: alternating between the two,
    // about 6 get through, not 12.
    let started = Instant::now();
    let mut admitted = 0;
    for i in 0..12 {
        let gw = if i % 2 == 0 { &first } else { &second };
        if status(gw).await.0 == 200 {
            admitted += 1;
        }
    }
    let refilled = (started.elapsed().as_secs_f64() * 0.5).ceil() as usize;
    assert!(
        (6..=6 + refilled).contains(&admitted),
        "{admitted} of 12 admitted by two gateways sharing burst 6"
    );
    let (code, body) = status(&second).await;
    assert_eq!(
        (code, body.as_str()),
        (429, r#"{"message":"Too Many Requests"}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_is_one_across_gateways_and_restarts() {
    let redis = Redis::start();
    let mut config = config(&redis, "allow");
    // Plenty of rate: only the quota of 10 can refuse here.
    config = config.replace("rate = 0.5, burst = 6", "rate = 1000, burst = 1000");
    let first = Gateway::start(&config);
    let second = Gateway::start(&config);
    for i in 0..10 {
        let gw = if i % 2 == 0 { &first } else { &second };
        assert_eq!(status(gw).await.0, 200, "request {i}");
    }
    assert_eq!(
        status(&first).await,
        (429, r#"{"message":"Limit Exceeded"}"#.to_owned())
    );
    first.signal("KILL");
    drop(first);
    let third = Gateway::start(&config);
    assert_eq!(
        status(&third).await.0,
        429,
        "a restarted node sees the used quota"
    );
    assert_eq!(status(&second).await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_policy_decides() {
    let mut redis = Redis::start();
    let open = Gateway::start(&config(&redis, "allow"));
    let closed = Gateway::start(&config(&redis, "deny"));
    assert_eq!(status(&open).await.0, 200);
    assert_eq!(status(&closed).await.0, 200);
    redis.stop();
    // Fail open: served without shared limits, and said so in the log.
    for _ in 0..3 {
        assert_eq!(status(&open).await.0, 200);
    }
    // Fail closed: refused while Redis is away.
    assert_eq!(
        status(&closed).await,
        (500, r#"{"message":"Internal server error"}"#.to_owned())
    );
    // Both say so in their logs (read from their stderr as it comes).
    let deadline = Instant::now() + Duration::from_secs(5);
    for gw in [&open, &closed] {
        while !gw.stderr().contains("usage store unavailable") {
            assert!(Instant::now() < deadline, "no log line:\n{}", gw.stderr());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
