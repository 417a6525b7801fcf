//! Start-up reporting and graceful shutdown.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::harness::{Gateway, client, eventually};
use crate::upstream::Upstream;

fn config(origin: &Upstream, grace: &str) -> String {
    format!(
        r#"
[server]
shutdown_grace = "{grace}"

[admin]
address = "127.0.0.1:0"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[listeners]]
name = "second"
address = "127.0.0.1:0"

[[apis]]
name = "slow"

[[apis.routes]]
key = "GET /slow/{{ms}}"
integration = {{ type = "http_proxy", url = "{origin}/slow/{{ms}}" }}
"#,
        origin = origin.base()
    )
}

#[tokio::test]
async fn every_listener_reports_the_port_it_bound() {
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&origin, "5s"));
    assert_ne!(gw.addr("main").port(), 0);
    assert_ne!(gw.addr("second").port(), 0);
    assert_ne!(gw.addr("main"), gw.addr("second"));
    for listener in ["main", "second"] {
        let response = client()
            .get(gw.url(listener, "/slow/1"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "listener {listener}");
    }
}

// Multi-threaded: the test thread blocks while the request runs on a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish() {
    let origin = Upstream::start();
    let mut gw = Gateway::start(&config(&origin, "10s"));
    let url = gw.url("main", "/slow/1500");
    let in_flight = tokio::spawn(async move {
        let response = client().get(url).send().await.expect("request");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    });
    // Signal only once the origin is working on the request.
    eventually(
        Duration::from_secs(5),
        "the slow request to reach the origin",
        || origin.stats.started.load(Ordering::SeqCst) == 1,
    );
    let signalled = Instant::now();
    gw.terminate();

    // New connections are refused while the old request is still running.
    let addr = gw.addr("main");
    eventually(Duration::from_secs(2), "the listener to close", || {
        std::net::TcpStream::connect(addr).is_err()
    });
    assert!(
        !in_flight.is_finished(),
        "the in-flight request ended before its origin answered"
    );
    // During the drain a load balancer sees the gateway as not ready.
    let readiness = client()
        .get(gw.url(turnpike::ADMIN_LISTENER, "/readyz"))
        .send()
        .await
        .expect("readiness request");
    assert_eq!(readiness.status(), 503);
    assert!(
        !in_flight.is_finished(),
        "the readiness check ran after the drain"
    );

    let (status, body) = in_flight.await.expect("task");
    assert_eq!(status, 200);
    assert_eq!(body, "slept 1500 ms");
    let exit = gw.wait_exit(Duration::from_secs(8));
    assert!(exit.success(), "exit status {exit:?}");
    assert!(signalled.elapsed() < Duration::from_secs(8));
    assert!(gw.stderr().contains("SIGTERM received"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grace_period_bounds_shutdown() {
    let origin = Upstream::start();
    let mut gw = Gateway::start(&config(&origin, "300ms"));
    let url = gw.url("main", "/slow/20000");
    let in_flight = tokio::spawn(async move { client().get(url).send().await.is_err() });
    eventually(
        Duration::from_secs(5),
        "the slow request to reach the origin",
        || origin.stats.started.load(Ordering::SeqCst) == 1,
    );
    let signalled = Instant::now();
    gw.terminate();
    let exit = gw.wait_exit(Duration::from_secs(5));
    assert!(exit.success(), "exit status {exit:?}");
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "shutdown took {took:?} with a 300ms grace period"
    );
    assert!(
        in_flight.await.expect("task"),
        "the cut-off request should fail on the client"
    );
    assert!(gw.stderr().contains("grace period over"));
}
