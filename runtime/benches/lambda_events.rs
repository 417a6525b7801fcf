//! Host-side cost of a Lambda-style call without the plugin: building API
//! Gateway's event JSON for a typical request and reading a typical answer,
//! for payload 1.0 and 2.0 (`turnpike::lambda`, which the `function`
//! integration runs on every request):
//!
//!   cargo bench -p turnpike --bench lambda_events
//!
//! The typical request: `GET /prod/pets/42?limit=10&tag=a&tag=b` with eight
//! headers (browser-like, with a cookie), one path parameter, two stage
//! variables, no body; the answer: a 200 with two headers and a 60-byte JSON
//! body.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use turnpike::config::{AwsNames, PayloadFormat};
use turnpike::lambda::{RequestView, proxy_event, read_proxy_answer};

fn parts() -> http::request::Parts {
    let mut builder = http::Request::builder()
        .method("GET")
        .uri("/prod/pets/42?limit=10&tag=a&tag=b");
    for (name, value) in [
        ("host", "api.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
        ),
        ("accept", "application/json"),
        ("accept-language", "en-GB,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br"),
        (
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        ),
        ("cookie", "session=abc123; theme=dark"),
        ("x-forwarded-for", "203.0.113.7"),
    ] {
        builder = builder.header(name, value);
    }
    builder.body(()).unwrap().into_parts().0
}

const ANSWER: &str = r#"{"statusCode": 200, "headers": {"Content-Type": "application/json", "X-Trace": "abc"}, "body": "{\"id\": 42, \"name\": \"Rex\", \"tags\": [\"a\", \"b\"], \"owner\": \"alice\"}"}"#;

fn events(c: &mut Criterion) {
    let parts = parts();
    let aws = AwsNames {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        api_id: "petstore".into(),
    };
    let variables = BTreeMap::from([
        ("backend".to_owned(), "http://127.0.0.1:8081".to_owned()),
        ("environment".to_owned(), "prod".to_owned()),
    ]);
    let view = RequestView {
        request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        parts: &parts,
        path: "/prod/pets/42",
        stage_path: "/pets/42",
        route_key: "GET /pets/{id}",
        stage: "prod",
        path_parameters: vec![("id", "42")],
        stage_variables: &variables,
        source_ip: "203.0.113.7".parse().unwrap(),
        aws: &aws,
        authorized: None,
        api_key: None,
        received: SystemTime::now(),
    };
    let mut group = c.benchmark_group("lambda");
    for (name, format) in [("1.0", PayloadFormat::V1), ("2.0", PayloadFormat::V2)] {
        group.bench_function(format!("event/{name}"), |b| {
            b.iter(|| black_box(proxy_event(black_box(&view), format, b"", false)))
        });
        group.bench_function(format!("answer/{name}"), |b| {
            b.iter(|| black_box(read_proxy_answer(format, black_box(ANSWER)).unwrap()))
        });
        group.bench_function(format!("both/{name}"), |b| {
            b.iter(|| {
                let event = proxy_event(black_box(&view), format, b"", false);
                black_box(event.len());
                black_box(read_proxy_answer(format, black_box(ANSWER)).unwrap())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = events
}
criterion_main!(benches);
