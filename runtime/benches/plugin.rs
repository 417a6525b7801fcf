//! Cost of one authorizer invocation through the real `AuthorizerPlugin` API,
//! with the real token authorizer component:
//!
//!   cargo build --release --target wasm32-wasip2 --manifest-path guest-examples/Cargo.toml
//!   cargo bench -p turnpike --bench plugin
//!
//! - `fresh/gateway`: a new store + instance per call (the default mode), in
//!   the engine the gateway picks for this guest's size
//!   (`PluginEngine::engine_for`);
//! - `fresh/pooling`: the pooling allocator with freed slots reset in place
//!   with `memset`, up to 128 KiB (the gateway's choice for small guests);
//! - `fresh/pooling-madvise`: wasmtime's default reset (`madvise`, then page
//!   faults on the next use of the slot);
//! - `fresh/pooling-pagemap`: reset in place, only the dirtied pages, found
//!   with `PAGEMAP_SCAN`;
//! - `fresh/on-demand`: the on-demand (`mmap` per instance) allocator;
//! - `reuse/gateway`: one kept instance called again and again (`reuse` mode).
//! - `cold`: what a newly (re)loaded plugin costs before its first answer
//!   when its compiled artifact is already on disk (compiled at upload or by
//!   an earlier start): hash the bytes, load the artifact, link, then the
//!   first fresh invocation. Engine as the gateway picks it for that guest.
//!
//! `VARIANTS=pooling,on-demand` runs some of them; `GUESTS=a=x.wasm,b=y.wasm`
//! compares other builds of the guest.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use turnpike::plugin::{
    Allocator, AuthorizeInput, AuthorizerPlugin, Decision, EngineOptions, InstanceMode,
    PluginEngine, PluginSettings, RequestInfo, SlotReset,
};

fn component() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../guest-examples/target/wasm32-wasip2/release/rust_token_authorizer.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build it first: cargo build --release --target wasm32-wasip2 \
             --manifest-path guest-examples/Cargo.toml",
            path.display()
        )
    })
}

fn settings() -> PluginSettings {
    PluginSettings {
        name: "tokens".into(),
        config: vec![("tokens".into(), "other:someone, bench:bench".into())],
        timeout: Duration::from_secs(1),
        memory_limit: turnpike::config::DEFAULT_PLUGIN_MEMORY as usize,
        fuel: None,
        outbound_hosts: Vec::new(),
        max_outbound_calls: 4,
        environment: Vec::new(),
    }
}

/// What the gateway passes for `GET /pets/42` with a bearer token.
fn input() -> AuthorizeInput {
    let s = |v: &str| v.to_owned();
    AuthorizeInput {
        token: Some(s("Bearer bench")),
        identity: vec![(s("$request.header.Authorization"), s("Bearer bench"))],
        request: RequestInfo {
            request_id: s("0f6c1b8e-5a1e-4a1c-9c55-3c1f2b7d9e01"),
            method: s("GET"),
            path: s("/pets/42"),
            route_key: s("ANY /{proxy+}"),
            stage: s("$default"),
            headers: vec![
                (s("host"), s("127.0.0.1:18083")),
                (s("user-agent"), s("bench/1.0")),
                (s("accept"), s("*/*")),
                (s("authorization"), s("Bearer bench")),
            ],
            query: Vec::new(),
            path_parameters: vec![(s("proxy"), s("pets/42"))],
            stage_variables: Vec::new(),
            source_ip: s("127.0.0.1"),
        },
    }
}

fn plugin(engine: &PluginEngine, wasm: &[u8], mode: InstanceMode) -> AuthorizerPlugin {
    AuthorizerPlugin::load(engine, settings(), wasm, None, mode).unwrap()
}

fn engine(allocator: Allocator, reset: Option<SlotReset>) -> PluginEngine {
    PluginEngine::with_options(EngineOptions {
        allocator,
        reset,
        ..EngineOptions::default()
    })
    .unwrap()
}

/// Fresh-instance variants: (name, allocator, how freed slots are reset;
/// `None` is the gateway's choice by component size).
fn variants() -> Vec<(&'static str, Allocator, Option<SlotReset>)> {
    let mut v = vec![
        ("gateway", Allocator::Pooling, None),
        ("pooling", Allocator::Pooling, Some(SlotReset::default())),
        (
            "pooling-madvise",
            Allocator::Pooling,
            Some(SlotReset::madvise()),
        ),
        (
            "pooling-pagemap",
            Allocator::Pooling,
            Some(SlotReset::pagemap()),
        ),
        ("on-demand", Allocator::OnDemand, Some(SlotReset::default())),
    ];
    if let Ok(only) = std::env::var("VARIANTS") {
        v.retain(|(name, _, _)| only.split(',').any(|o| o == *name));
    }
    v
}

/// `GUESTS=name=path.wasm,...` compares other builds of the guest.
fn guests() -> Vec<(String, Vec<u8>)> {
    match std::env::var("GUESTS") {
        Ok(list) => list
            .split(',')
            .map(|g| {
                let (name, path) = g.split_once('=').expect("GUESTS=name=path,...");
                (name.to_owned(), std::fs::read(path).unwrap())
            })
            .collect(),
        Err(_) => vec![("token".to_owned(), component())],
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let input = input();
    let mut group = c.benchmark_group("authorize");
    for (guest, wasm) in guests() {
        for (name, allocator, reset) in variants() {
            let engine = engine(allocator, reset);
            let fresh = plugin(&engine, &wasm, InstanceMode::Fresh);
            // Check the decision once, outside the measurement.
            match rt.block_on(fresh.authorize("check", &input)) {
                Ok(Decision::Allow(allow)) => assert_eq!(allow.principal_id, "bench"),
                other => panic!("expected allow, got {other:?}"),
            }
            group.bench_function(format!("{guest}/fresh/{name}"), |b| {
                b.to_async(&rt)
                    .iter(|| async { fresh.authorize("bench", &input).await.unwrap() })
            });
            if name == "gateway" {
                let reuse = InstanceMode::Reuse {
                    max_uses: u32::MAX,
                    max_idle: 1,
                };
                let kept = plugin(&engine, &wasm, reuse);
                group.bench_function(format!("{guest}/reuse/{name}"), |b| {
                    b.to_async(&rt)
                        .iter(|| async { kept.authorize("bench", &input).await.unwrap() })
                });
            }
        }
    }
    group.finish();

    let mut cold = c.benchmark_group("cold");
    cold.sample_size(10);
    let cache = tempfile::tempdir().unwrap();
    for (guest, wasm) in guests() {
        let engine = engine(Allocator::Pooling, None);
        // Precompile into the cache, as an upload or an earlier start would.
        let load = || {
            AuthorizerPlugin::load(
                &engine,
                settings(),
                &wasm,
                Some(cache.path()),
                InstanceMode::Fresh,
            )
            .unwrap()
        };
        load();
        cold.bench_function(format!("{guest}/first-request"), |b| {
            b.to_async(&rt)
                .iter(|| async { load().authorize("cold", &input).await.unwrap() })
        });
    }
    cold.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
