use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;

use super::*;
use crate::config::UnauthorizedInvalidation;

fn settings(capacity: u64, max_entry: u64) -> StageCacheConfig {
    StageCacheConfig {
        capacity,
        ttl: Duration::from_secs(300),
        max_entry_bytes: max_entry,
        statuses: vec![200],
        require_authorization: true,
        invalidators: Vec::new(),
        unauthorized: UnauthorizedInvalidation::FailWith403,
        lock_timeout: Duration::from_millis(200),
    }
}

fn answer(status: u16, body: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = StatusCode::from_u16(status).expect("status");
    response
}

async fn text(response: Response<ResponseBody>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[test]
fn keys_cannot_be_spelled_two_ways() {
    let mut a = KeyBuilder::new("d1", "GET", "GET /pets");
    a.part("page");
    a.part("1:x");
    let mut b = KeyBuilder::new("d1", "GET", "GET /pets");
    b.part("page1");
    b.part(":x");
    assert_ne!(a.finish(), b.finish());
    let mut absent = KeyBuilder::new("d1", "GET", "GET /pets");
    absent.absent();
    let mut empty = KeyBuilder::new("d1", "GET", "GET /pets");
    empty.part("");
    assert_ne!(absent.finish(), empty.finish());
}

#[tokio::test]
async fn stores_cached_statuses_and_serves_them_with_an_age() {
    let cache = StageCache::new(settings(1 << 20, 1024));
    let key: Arc<str> = Arc::from("k");
    let (sent, stored) = cache
        .store(key.clone(), answer(200, "hello"), Duration::from_secs(60))
        .await;
    assert!(stored);
    assert_eq!(text(sent).await, "hello");
    let Lookup::Hit(hit) = cache.lookup(&key).await else {
        panic!("expected a hit")
    };
    let again = hit.response();
    assert_eq!(again.headers()["age"], "0");
    assert_eq!(again.headers()["content-length"], "5");
    assert_eq!(text(again).await, "hello");

    let (_, stored) = cache
        .store(Arc::from("e"), answer(500, "boom"), Duration::from_secs(60))
        .await;
    assert!(!stored, "500 is not a cached status");
}

#[tokio::test]
async fn a_body_over_the_entry_limit_passes_whole_and_is_not_stored() {
    let cache = StageCache::new(settings(1 << 20, 4));
    let (sent, stored) = cache
        .store(
            Arc::from("big"),
            answer(200, "0123456789"),
            Duration::from_secs(60),
        )
        .await;
    assert!(!stored);
    assert_eq!(text(sent).await, "0123456789");
}

#[tokio::test]
async fn set_cookie_and_no_store_are_not_stored() {
    let cache = StageCache::new(settings(1 << 20, 1024));
    let mut cookie = answer(200, "x");
    cookie
        .headers_mut()
        .insert("set-cookie", HeaderValue::from_static("s=1"));
    assert!(
        !cache
            .store(Arc::from("a"), cookie, Duration::from_secs(60))
            .await
            .1
    );
    let mut no_store = answer(200, "x");
    no_store.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("max-age=5, no-store"),
    );
    assert!(
        !cache
            .store(Arc::from("b"), no_store, Duration::from_secs(60))
            .await
            .1
    );
}

#[tokio::test]
async fn the_capacity_is_in_bytes() {
    // Room for about three 1 KiB entries.
    let cache = StageCache::new(settings(4 * 1024, 2048));
    let body: &'static str = Box::leak("x".repeat(1000).into_boxed_str());
    for i in 0..20 {
        cache
            .store(
                Arc::from(format!("k{i}")),
                answer(200, body),
                Duration::from_secs(60),
            )
            .await;
    }
    let usage = cache.usage();
    assert!(usage.bytes <= 4 * 1024, "{usage:?}");
    assert!((1..=4).contains(&usage.entries), "{usage:?}");
}

#[tokio::test]
async fn a_waiter_gets_the_leaders_entry_and_gives_up_after_the_lock_timeout() {
    let cache = Arc::new(StageCache::new(settings(1 << 20, 1024)));
    let key: Arc<str> = Arc::from("k");
    let Lookup::Lead(leader) = cache.lookup(&key).await else {
        panic!("the first miss leads")
    };
    let waiter = {
        let cache = cache.clone();
        let key = key.clone();
        tokio::spawn(async move { matches!(cache.lookup(&key).await, Lookup::Hit(_)) })
    };
    cache
        .store(key.clone(), answer(200, "v"), Duration::from_secs(60))
        .await;
    drop(leader);
    assert!(
        waiter.await.expect("join"),
        "the waiter is answered from the entry"
    );

    // A leader that never finishes: the waiter goes on alone after 200 ms.
    let other: Arc<str> = Arc::from("other");
    let Lookup::Lead(_stuck) = cache.lookup(&other).await else {
        panic!("leads")
    };
    let started = Instant::now();
    assert!(matches!(cache.lookup(&other).await, Lookup::Alone));
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn event_streams_are_not_stored() {
    let cache = StageCache::new(settings(1 << 20, 1024));
    let mut events = answer(200, "data: 1\n\n");
    events.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    let (sent, stored) = cache
        .store(Arc::from("s"), events, Duration::from_secs(60))
        .await;
    assert!(!stored);
    assert_eq!(text(sent).await, "data: 1\n\n");
}

#[tokio::test]
async fn a_stored_entry_does_not_keep_the_upstream_buffer() {
    // A header value sharing a large buffer, as hyper's parsed values do.
    let buffer = bytes::Bytes::from(vec![b'a'; 64 * 1024]);
    let shared = HeaderValue::from_maybe_shared(buffer.slice(0..4)).expect("value");
    let mut response = answer(200, "x");
    response.headers_mut().insert("x-shared", shared);
    let cache = StageCache::new(settings(1 << 20, 1024));
    let key: Arc<str> = Arc::from("k");
    assert!(
        cache
            .store(key.clone(), response, Duration::from_secs(60))
            .await
            .1
    );
    let Lookup::Hit(hit) = cache.lookup(&key).await else {
        panic!("stored")
    };
    let value = &hit.headers["x-shared"];
    assert_eq!(value, "aaaa");
    // The copy lives on its own: the 64 KiB buffer is not behind it.
    assert!(!std::ptr::eq(value.as_bytes().as_ptr(), buffer.as_ptr()));
}
