//! Prometheus metrics: API Gateway's per-route metrics by meaning (Count,
//! 4XXError, 5XXError, Latency, IntegrationLatency, CacheHitCount,
//! CacheMissCount) and the gateway's own (authorizers, plugins, limits,
//! upstreams, connections, reloads, WebSocket APIs).
//!
//! The request path only adds to counters: every counter and histogram is
//! split into cache-line-padded shards, a thread writes its own shard with
//! one relaxed atomic add, and a scrape sums the shards. No lock, no
//! allocation and no label lookup per request: a route's series are found
//! once, when its snapshot is compiled ([`Metrics::route`]), and kept across
//! snapshots so that counters only grow. Label values come from the
//! configuration (API, stage, route key, plugin names), never from raw
//! request paths, so the number of series stays bounded.
//!
//! The text exposition is written by `prometheus-client`'s encoder.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use serde::Serialize;

/// Shards per counter: enough that the worker threads of a large machine
/// rarely share one.
const SHARDS: usize = 16;

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

fn shard() -> usize {
    SHARD.with(|s| *s)
}

/// A monotonically increasing count.
pub struct Counter {
    cells: Box<[CachePadded<AtomicU64>]>,
}

impl Default for Counter {
    fn default() -> Counter {
        Counter {
            cells: (0..SHARDS)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
        }
    }
}

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.cells[shard()].fetch_add(n, Ordering::Relaxed);
    }

    /// The sum over every shard.
    pub fn get(&self) -> u64 {
        self.cells.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// A value that goes up and down (open connections).
pub struct Gauge {
    cells: Box<[CachePadded<AtomicI64>]>,
}

impl Default for Gauge {
    fn default() -> Gauge {
        Gauge {
            cells: (0..SHARDS)
                .map(|_| CachePadded::new(AtomicI64::new(0)))
                .collect(),
        }
    }
}

impl Gauge {
    /// Adds `n` (negative to subtract).
    pub fn add(&self, n: i64) {
        self.cells[shard()].fetch_add(n, Ordering::Relaxed);
    }

    /// The sum over every shard.
    pub fn get(&self) -> i64 {
        self.cells.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Adds one until the returned guard is dropped (something open while
    /// it lives: a connection).
    pub fn hold(&self) -> Held<'_> {
        self.add(1);
        Held(self)
    }
}

/// One unit of a [`Gauge`], given back when dropped.
pub struct Held<'g>(&'g Gauge);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

/// Upper bounds of the latency histograms' buckets, in seconds (the last
/// bucket, `+Inf`, is implied).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct HistogramShard {
    /// Per bucket, not cumulative; the last is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Nanoseconds.
    sum: AtomicU64,
}

/// A latency histogram in seconds.
pub struct Histogram {
    shards: Box<[CachePadded<HistogramShard>]>,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            shards: (0..SHARDS).map(|_| CachePadded::default()).collect(),
        }
    }
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|upper| seconds <= *upper)
            .unwrap_or(LATENCY_BUCKETS.len());
        let shard = &self.shards[shard()];
        shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        shard.sum.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Sum in seconds, count, and per-bucket counts (not cumulative).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .map(|upper| (upper, 0))
            .collect();
        let mut sum = 0u64;
        for shard in self.shards.iter() {
            for (i, cell) in shard.buckets.iter().enumerate() {
                buckets[i].1 += cell.load(Ordering::Relaxed);
            }
            sum = sum.wrapping_add(shard.sum.load(Ordering::Relaxed));
        }
        let count = buckets.iter().map(|(_, n)| n).sum();
        (sum as f64 / 1e9, count, buckets)
    }
}

/// One route on one stage: API Gateway's metrics by meaning.
pub struct RouteMetrics {
    labels: [(&'static str, String); 4],
    /// Requests by status class: 1xx, 2xx, 3xx, 4xx, 5xx.
    pub requests: [Counter; 5],
    /// From arrival to response headers (API Gateway's `Latency`).
    pub latency: Histogram,
    /// The integration's part (`IntegrationLatency`).
    pub integration_latency: Histogram,
    /// Answers from the stage cache (`CacheHitCount`).
    pub cache_hits: Counter,
    /// Requests the cache could not answer (`CacheMissCount`).
    pub cache_misses: Counter,
    /// Requests refused by a rate (429 `Too Many Requests`).
    pub throttled: Counter,
    /// Requests refused by a quota (429 `Limit Exceeded`).
    pub quota_exceeded: Counter,
    /// Attempts on the upstream beyond the first.
    pub upstream_retries: Counter,
    /// Requests whose upstream could not be reached or answered garbage.
    pub upstream_errors: Counter,
    /// Requests whose upstream did not answer in time.
    pub upstream_timeouts: Counter,
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RouteMetrics").field(&self.labels).finish()
    }
}

impl std::fmt::Debug for AuthorizerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AuthorizerMetrics")
            .field(&self.labels)
            .finish()
    }
}

impl Default for RouteMetrics {
    /// The series of requests no route answered: every label empty.
    fn default() -> RouteMetrics {
        RouteMetrics {
            labels: ["api", "stage", "method", "route"].map(|k| (k, String::new())),
            requests: Default::default(),
            latency: Histogram::default(),
            integration_latency: Histogram::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            throttled: Counter::default(),
            quota_exceeded: Counter::default(),
            upstream_retries: Counter::default(),
            upstream_errors: Counter::default(),
            upstream_timeouts: Counter::default(),
        }
    }
}

impl RouteMetrics {
    /// Counts one request answered with `status`.
    pub fn count(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class].inc();
    }
}

/// One authorizer of one API.
#[derive(Default)]
pub struct AuthorizerMetrics {
    labels: [(&'static str, String); 2],
    /// Requests allowed.
    pub allowed: Counter,
    /// Requests denied or unauthorized.
    pub denied: Counter,
    /// Requests the authorizer failed on.
    pub failed: Counter,
    /// Decisions taken from the decision cache.
    pub cache_hits: Counter,
    /// Time the authorizer took when it ran.
    pub latency: Histogram,
}

/// One plugin (by configured name).
#[derive(Default)]
pub struct PluginMetrics {
    label: String,
    /// Invocations that returned.
    pub ok: Counter,
    /// Invocations that trapped (or returned an error).
    pub traps: Counter,
    /// Invocations stopped by their time or fuel budget.
    pub timeouts: Counter,
    /// Invocations that hit their memory limit.
    pub memory: Counter,
    /// How long invocations took.
    pub duration: Histogram,
}

/// One usage plan on one stage: what it refused.
#[derive(Default)]
pub struct PlanMetrics {
    labels: [(&'static str, String); 3],
    /// Calls refused by the plan's rate (429 `Too Many Requests`).
    pub throttled: Counter,
    /// Calls refused by the plan's quota (429 `Limit Exceeded`).
    pub quota_exceeded: Counter,
}

impl ConnectionMetrics {
    /// Counts a connection accepted, and open until the guard is dropped.
    pub fn open(&self) -> Held<'_> {
        self.accepted.inc();
        self.open.hold()
    }
}

impl std::fmt::Debug for PlanMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PlanMetrics").field(&self.labels).finish()
    }
}

/// Open connections of one listener and protocol.
#[derive(Default)]
pub struct ConnectionMetrics {
    labels: [(&'static str, String); 2],
    /// Open now.
    pub open: Gauge,
    /// Accepted since start.
    pub accepted: Counter,
}

/// One WebSocket API stage.
#[derive(Default)]
pub struct WebSocketMetrics {
    labels: [(&'static str, String); 2],
    /// Connections open now.
    pub open: Gauge,
    /// Messages received from clients.
    pub messages_in: Counter,
    /// Messages sent to clients (two-way answers and `@connections` pushes).
    pub messages_out: Counter,
}

/// A failed request, for the operator view's "last errors".
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRecord {
    /// When, RFC 3339.
    pub time: String,
    /// The request id.
    pub request_id: String,
    /// The API, if one matched.
    pub api: Option<String>,
    /// The stage, if one matched.
    pub stage: Option<String>,
    /// The method.
    pub method: String,
    /// The path (without query).
    pub path: String,
    /// The route key, if one matched.
    pub route_key: Option<String>,
    /// The status sent.
    pub status: u16,
    /// What went wrong.
    pub message: String,
    /// Who is at fault.
    pub blame: &'static str,
}

/// How many failed requests [`Metrics::recent_errors`] keeps.
const RECENT_ERRORS: usize = 50;

/// Every series, created on first use and kept for the life of the process.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<HashMap<(String, String, String), Arc<RouteMetrics>>>,
    authorizers: Mutex<HashMap<(String, String), Arc<AuthorizerMetrics>>>,
    plugins: Mutex<HashMap<String, Arc<PluginMetrics>>>,
    connections: Mutex<HashMap<(String, &'static str), Arc<ConnectionMetrics>>>,
    websockets: Mutex<HashMap<(String, String), Arc<WebSocketMetrics>>>,
    plans: Mutex<HashMap<(String, String, String), Arc<PlanMetrics>>>,
    /// Requests no route answered (no API, no stage, no route).
    pub unmatched: RouteMetrics,
    /// Changes applied (reloads, uploads, deployments, keys).
    pub changes_applied: Counter,
    /// Changes refused (invalid, failed to compile).
    pub changes_rejected: Counter,
    /// The generation being served.
    pub generation: AtomicU64,
    recent_errors: Mutex<VecDeque<ErrorRecord>>,
    /// Set while a thread keeps a failed request, so that others skip
    /// building theirs.
    error_lock_busy: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn get_or_insert<K: std::hash::Hash + Eq, V: Default>(
    map: &Mutex<HashMap<K, Arc<V>>>,
    key: K,
    init: impl FnOnce(&mut V),
) -> Arc<V> {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(key)
        .or_insert_with(|| {
            let mut value = V::default();
            init(&mut value);
            Arc::new(value)
        })
        .clone()
}

impl Metrics {
    /// The process's metrics: one set, as Prometheus' own clients keep a
    /// default registry, so that every layer (plugins, listeners, the
    /// request path) finds its series without being handed a registry.
    pub fn global() -> &'static Arc<Metrics> {
        static GLOBAL: std::sync::OnceLock<Arc<Metrics>> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(Arc::default)
    }

    /// The series of `route_key` on `api`/`stage`.
    pub fn route(&self, api: &str, stage: &str, route_key: &str) -> Arc<RouteMetrics> {
        let key = (api.to_owned(), stage.to_owned(), route_key.to_owned());
        get_or_insert(&self.routes, key, |m| {
            let method = route_key.split_once(' ').map_or("", |(m, _)| m);
            m.labels = [
                ("api", api.to_owned()),
                ("stage", stage.to_owned()),
                ("method", method.to_owned()),
                ("route", route_key.to_owned()),
            ];
        })
    }

    /// The series of authorizer `name` of `api`.
    pub fn authorizer(&self, api: &str, name: &str) -> Arc<AuthorizerMetrics> {
        get_or_insert(&self.authorizers, (api.to_owned(), name.to_owned()), |m| {
            m.labels = [("api", api.to_owned()), ("authorizer", name.to_owned())]
        })
    }

    /// The series of plugin `name`.
    pub fn plugin(&self, name: &str) -> Arc<PluginMetrics> {
        get_or_insert(&self.plugins, name.to_owned(), |m| {
            m.label = name.to_owned()
        })
    }

    /// The series of `listener` serving `protocol` (`http1`, `h2`, `h3`).
    pub fn connections(&self, listener: &str, protocol: &'static str) -> Arc<ConnectionMetrics> {
        get_or_insert(&self.connections, (listener.to_owned(), protocol), |m| {
            m.labels = [
                ("listener", listener.to_owned()),
                ("protocol", protocol.to_owned()),
            ]
        })
    }

    /// The series of usage plan `plan` on `api`/`stage`.
    pub fn plan(&self, api: &str, stage: &str, plan: &str) -> Arc<PlanMetrics> {
        get_or_insert(
            &self.plans,
            (api.to_owned(), stage.to_owned(), plan.to_owned()),
            |m| {
                m.labels = [
                    ("api", api.to_owned()),
                    ("stage", stage.to_owned()),
                    ("plan", plan.to_owned()),
                ]
            },
        )
    }

    /// The series of WebSocket API `api` on `stage`.
    pub fn websocket(&self, api: &str, stage: &str) -> Arc<WebSocketMetrics> {
        get_or_insert(&self.websockets, (api.to_owned(), stage.to_owned()), |m| {
            m.labels = [("api", api.to_owned()), ("stage", stage.to_owned())]
        })
    }

    /// Whether a failed request would be kept now: not while another
    /// thread is keeping one (an outage fails many requests at once; the
    /// last 50 of them are as good as any, and no request waits).
    pub fn recording_errors(&self) -> bool {
        !self.error_lock_busy.load(Ordering::Relaxed)
    }

    /// Keeps a failed request for the operator view (the newest 50); skipped
    /// when another thread holds the list.
    pub fn record_error(&self, record: ErrorRecord) {
        let Ok(mut recent) = self.recent_errors.try_lock() else {
            return;
        };
        self.error_lock_busy.store(true, Ordering::Relaxed);
        if recent.len() == RECENT_ERRORS {
            recent.pop_back();
        }
        recent.push_front(record);
        self.error_lock_busy.store(false, Ordering::Relaxed);
    }

    /// The newest failed requests first.
    pub fn recent_errors(&self) -> Vec<ErrorRecord> {
        let recent = self.recent_errors.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().cloned().collect()
    }

    /// The text exposition format (`GET /metrics`).
    pub fn render(self: &Arc<Self>) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Collected(self.clone())));
        let mut out = String::with_capacity(64 * 1024);
        // Writing into a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// The metrics as a `prometheus-client` collector, read at scrape time.
#[derive(Debug)]
struct Collected(Arc<Metrics>);

type Labels<'a> = Vec<(&'static str, &'a str)>;

fn labels<'a, const N: usize>(set: &'a [(&'static str, String); N]) -> Labels<'a> {
    set.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Writes one family: a descriptor, then one sample per series.
fn family<'s, T>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    series: &'s [T],
    mut each: impl FnMut(&'s T, &mut dyn FnMut(Labels<'s>, Sample<'s>)),
) -> Result<(), std::fmt::Error> {
    let mut samples: Vec<(Labels<'s>, Sample<'s>)> = Vec::new();
    for s in series {
        each(s, &mut |l, v| samples.push((l, v)));
    }
    if samples.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, sample) in &samples {
        let encoder = metric.encode_family(labels)?;
        match sample {
            Sample::Counter(v) => ConstCounter::new(*v).encode(encoder)?,
            Sample::Gauge(v) => ConstGauge::new(*v).encode(encoder)?,
            Sample::Histogram(h) => {
                let (sum, count, buckets) = h.snapshot();
                let mut encoder = encoder;
                encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    sum, count, &buckets, None,
                )?;
            }
        }
    }
    Ok(())
}

/// Which counter of a route a family reads.
type RouteCounter = fn(&RouteMetrics) -> &Counter;

/// One value of a family.
enum Sample<'a> {
    Counter(u64),
    Gauge(i64),
    Histogram(&'a Histogram),
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Collector for Collected {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter as C, Gauge as G, Histogram as H};
        let metrics = &self.0;
        let mut routes: Vec<Arc<RouteMetrics>> = metrics
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        routes.sort_by(|a, b| a.labels.cmp(&b.labels));
        let unmatched = [&metrics.unmatched];
        let all: Vec<&RouteMetrics> = unmatched
            .into_iter()
            .chain(routes.iter().map(|r| r.as_ref()))
            .collect();
        let e = &mut encoder;
        family(
            e,
            "turnpike_requests",
            "Requests by API, stage, route and status class (API Gateway's Count, 4XXError, 5XXError).",
            C,
            &all,
            |r, out| {
                for (class, counter) in CLASSES.iter().zip(&r.requests) {
                    let n = counter.get();
                    if n > 0 {
                        let mut l = labels(&r.labels);
                        l.push(("status_class", class));
                        out(l, Sample::Counter(n));
                    }
                }
            },
        )?;
        let with_requests: Vec<&RouteMetrics> = all
            .iter()
            .copied()
            .filter(|r| r.requests.iter().any(|c| c.get() > 0))
            .collect();
        family(
            e,
            "turnpike_request_duration_seconds",
            "From arrival to response headers (API Gateway's Latency).",
            H,
            &with_requests,
            |r, out| out(labels(&r.labels), Sample::Histogram(&r.latency)),
        )?;
        family(
            e,
            "turnpike_integration_duration_seconds",
            "Time the integration took (API Gateway's IntegrationLatency).",
            H,
            &with_requests,
            |r, out| out(labels(&r.labels), Sample::Histogram(&r.integration_latency)),
        )?;
        let counters: [(&str, &str, RouteCounter); 7] = [
            (
                "turnpike_cache_hits",
                "Answers from the stage cache (API Gateway's CacheHitCount).",
                |r| &r.cache_hits,
            ),
            (
                "turnpike_cache_misses",
                "Requests the stage cache could not answer (API Gateway's CacheMissCount).",
                |r| &r.cache_misses,
            ),
            (
                "turnpike_throttled_requests",
                "Requests refused by a rate: a usage plan's, a stage's or a route's throttle (429).",
                |r| &r.throttled,
            ),
            (
                "turnpike_quota_exceeded_requests",
                "Requests refused by a usage plan's quota (429 Limit Exceeded).",
                |r| &r.quota_exceeded,
            ),
            (
                "turnpike_upstream_retries",
                "Attempts on an upstream beyond the first.",
                |r| &r.upstream_retries,
            ),
            (
                "turnpike_upstream_errors",
                "Requests whose upstream refused, reset or answered garbage (502).",
                |r| &r.upstream_errors,
            ),
            (
                "turnpike_upstream_timeouts",
                "Requests whose upstream did not answer in time (504).",
                |r| &r.upstream_timeouts,
            ),
        ];
        for (name, help, counter) in counters {
            family(e, name, help, C, &all, |r, out| {
                let n = counter(r).get();
                if n > 0 {
                    out(labels(&r.labels), Sample::Counter(n));
                }
            })?;
        }

        let plans: Vec<Arc<PlanMetrics>> = sorted(&metrics.plans, |p| p.labels.clone());
        family(
            e,
            "turnpike_usage_plan_throttled_requests",
            "Calls a usage plan's rate refused (429 Too Many Requests), per API, stage and plan.",
            C,
            &plans,
            |p, out| out(labels(&p.labels), Sample::Counter(p.throttled.get())),
        )?;
        family(
            e,
            "turnpike_usage_plan_quota_exceeded_requests",
            "Calls a usage plan's quota refused (429 Limit Exceeded), per API, stage and plan.",
            C,
            &plans,
            |p, out| out(labels(&p.labels), Sample::Counter(p.quota_exceeded.get())),
        )?;

        let authorizers: Vec<Arc<AuthorizerMetrics>> =
            sorted(&metrics.authorizers, |a| a.labels.clone());
        family(
            e,
            "turnpike_authorizer_decisions",
            "Authorizer decisions: allow, deny, error.",
            C,
            &authorizers,
            |a, out| {
                for (decision, counter) in [
                    ("allow", &a.allowed),
                    ("deny", &a.denied),
                    ("error", &a.failed),
                ] {
                    let mut l = labels(&a.labels);
                    l.push(("decision", decision));
                    out(l, Sample::Counter(counter.get()));
                }
            },
        )?;
        family(
            e,
            "turnpike_authorizer_cache_hits",
            "Authorizer decisions taken from the decision cache.",
            C,
            &authorizers,
            |a, out| out(labels(&a.labels), Sample::Counter(a.cache_hits.get())),
        )?;
        family(
            e,
            "turnpike_authorizer_duration_seconds",
            "Time an authorizer took when it ran (not cached).",
            H,
            &authorizers,
            |a, out| out(labels(&a.labels), Sample::Histogram(&a.latency)),
        )?;

        let plugins: Vec<Arc<PluginMetrics>> = sorted(&metrics.plugins, |p| p.label.clone());
        family(
            e,
            "turnpike_plugin_invocations",
            "Plugin invocations by outcome: ok, trap, timeout, memory.",
            C,
            &plugins,
            |p, out| {
                for (outcome, counter) in [
                    ("ok", &p.ok),
                    ("trap", &p.traps),
                    ("timeout", &p.timeouts),
                    ("memory", &p.memory),
                ] {
                    out(
                        vec![("plugin", p.label.as_str()), ("outcome", outcome)],
                        Sample::Counter(counter.get()),
                    );
                }
            },
        )?;
        family(
            e,
            "turnpike_plugin_duration_seconds",
            "How long plugin invocations took.",
            H,
            &plugins,
            |p, out| {
                out(
                    vec![("plugin", p.label.as_str())],
                    Sample::Histogram(&p.duration),
                )
            },
        )?;

        let connections: Vec<Arc<ConnectionMetrics>> =
            sorted(&metrics.connections, |c| c.labels.clone());
        family(
            e,
            "turnpike_open_connections",
            "Client connections open now, by listener and protocol.",
            G,
            &connections,
            |c, out| out(labels(&c.labels), Sample::Gauge(c.open.get())),
        )?;
        family(
            e,
            "turnpike_accepted_connections",
            "Client connections accepted, by listener and protocol.",
            C,
            &connections,
            |c, out| out(labels(&c.labels), Sample::Counter(c.accepted.get())),
        )?;

        let websockets: Vec<Arc<WebSocketMetrics>> =
            sorted(&metrics.websockets, |w| w.labels.clone());
        family(
            e,
            "turnpike_websocket_connections",
            "WebSocket connections open now.",
            G,
            &websockets,
            |w, out| out(labels(&w.labels), Sample::Gauge(w.open.get())),
        )?;
        family(
            e,
            "turnpike_websocket_messages",
            "WebSocket messages, by direction: in from clients, out to them.",
            C,
            &websockets,
            |w, out| {
                for (direction, counter) in [("in", &w.messages_in), ("out", &w.messages_out)] {
                    let mut l = labels(&w.labels);
                    l.push(("direction", direction));
                    out(l, Sample::Counter(counter.get()));
                }
            },
        )?;

        let one = [()];
        family(
            e,
            "turnpike_snapshot_changes",
            "Changes to what is served (reloads, uploads, deployments, keys), by outcome.",
            C,
            &one,
            |_, out| {
                out(
                    vec![("outcome", "applied")],
                    Sample::Counter(metrics.changes_applied.get()),
                );
                out(
                    vec![("outcome", "rejected")],
                    Sample::Counter(metrics.changes_rejected.get()),
                );
            },
        )?;
        family(
            e,
            "turnpike_snapshot_generation",
            "The generation being served (counts every change since start).",
            G,
            &one,
            |_, out| {
                let generation = metrics.generation.load(Ordering::Relaxed);
                out(
                    Vec::new(),
                    Sample::Gauge(i64::try_from(generation).unwrap_or(i64::MAX)),
                )
            },
        )?;
        Ok(())
    }
}

fn sorted<K, V, S: Ord>(map: &Mutex<HashMap<K, Arc<V>>>, key: impl Fn(&V) -> S) -> Vec<Arc<V>> {
    let mut values: Vec<Arc<V>> = map
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    values.sort_by_key(|v| key(v));
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_sum_and_the_text_format_has_every_family() {
        let metrics = Arc::new(Metrics::default());
        let route = metrics.route("shop", "prod", "GET /items/{id}");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let route = route.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        route.count(200);
                        route.latency.observe(Duration::from_millis(3));
                    }
                    route.count(503);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("join");
        }
        metrics.plugin("tokens").ok.inc();
        let text = metrics.render();
        assert!(text.contains(
            "turnpike_requests_total{api=\"shop\",stage=\"prod\",method=\"GET\",route=\"GET /items/{id}\",status_class=\"2xx\"} 4000"
        ), "{text}");
        assert!(text.contains("status_class=\"5xx\"} 4"), "{text}");
        assert!(text.contains(
            "turnpike_request_duration_seconds_bucket{le=\"0.005\",api=\"shop\",stage=\"prod\",method=\"GET\",route=\"GET /items/{id}\"} 4000"
        ), "{text}");
        assert!(text.contains("turnpike_request_duration_seconds_count{api=\"shop\",stage=\"prod\",method=\"GET\",route=\"GET /items/{id}\"} 4000"), "{text}");
        assert!(
            text.contains("turnpike_plugin_invocations_total{plugin=\"tokens\",outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE turnpike_snapshot_generation gauge"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Arc::new(Metrics::default());
        metrics.route("a\"b", "s\\t", "GET /x").count(200);
        let text = metrics.render();
        assert!(text.contains("api=\"a\\\"b\",stage=\"s\\\\t\""), "{text}");
    }
}
