//! The instance lifecycle shared by every world: a fresh store per
//! invocation (or a reused one in `reuse` mode), budgets armed before each
//! call, failures classified, trapped instances discarded.
//!
//! Idle `reuse` instances wait in a pool per worker thread. Each pool
//! remembers whether its plugin still lives: when a plugin goes away (the
//! snapshot that held it was replaced and its last request finished), every
//! worker drops that plugin's idle instances, giving their slots in the
//! engine's instance pool back, at once and not only at its next request
//! (see [`release_retired_instances`]).

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use wasmtime::component::InstancePre;
use wasmtime::{Engine, Store, UpdateDeadline};

use super::compile::load_component;
use super::engine::PluginEngine;
use super::host::{HostState, PluginSettings};
use super::{PluginError, PluginErrorKind, PluginLoadError};

/// How a plugin's instances are managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceMode {
    /// A new instance per invocation: no state survives between requests.
    Fresh,
    /// Instances are kept per worker thread and reused up to `max_uses`
    /// times, at most `max_idle` of them; an instance that traps is dropped.
    Reuse {
        /// Invocations per instance before it is replaced.
        max_uses: u32,
        /// Idle instances kept per worker thread.
        max_idle: usize,
    },
}

/// A WIT world's generated host bindings, as the lifecycle needs them.
pub trait World: Sized + Send + 'static {
    /// The generated pre-instantiated form (`XxxPre`).
    type Pre: Send + Sync + 'static;
    /// The world's name, for error messages.
    const NAME: &'static str;
    /// Checks that the linked component exports this world.
    fn pre(instance: InstancePre<HostState>) -> wasmtime::Result<Self::Pre>;
    /// Instantiates into `store`.
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send;
}

/// A loaded plugin of world `W`.
pub struct Plugin<W: World> {
    id: usize,
    settings: Arc<PluginSettings>,
    /// The engine the component was compiled into, picked for its size.
    engine: Engine,
    /// Holds the engines' epoch ticker running for as long as the plugin
    /// lives: without it, a plugin's deadline would never come.
    _clock: PluginEngine,
    pre: W::Pre,
    mode: InstanceMode,
    digest: String,
    /// Alive as long as the plugin: idle pools hold it weakly.
    alive: Arc<()>,
    /// Invocations, outcomes and durations (by plugin name, across
    /// versions).
    metrics: Arc<crate::observe::metrics::PluginMetrics>,
}

impl<W: World> std::fmt::Debug for Plugin<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.settings.name)
            .field("world", &W::NAME)
            .field("sha256", &self.digest)
            .finish()
    }
}

/// An instance on loan to one invocation.
pub struct Lease<W> {
    /// The store to call with.
    pub store: Store<HostState>,
    /// The instance's exports.
    pub instance: W,
    uses: u32,
    /// When the current invocation began (its lease), for the metrics.
    started: Instant,
}

/// The deadline callback's error: the invocation ran out of time.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// The idle instances of one `reuse` plugin on one worker.
struct IdlePool {
    /// Gone once the plugin is dropped.
    plugin: Weak<()>,
    instances: Vec<Box<dyn Any>>,
}

thread_local! {
    /// Idle instances of `reuse` plugins on this worker, by plugin id.
    static REUSABLE: RefCell<HashMap<usize, IdlePool>> = RefCell::new(HashMap::new());
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Counts plugins dropped; workers watch it to release idle instances.
fn retirements() -> &'static tokio::sync::watch::Sender<u64> {
    static RETIRED: OnceLock<tokio::sync::watch::Sender<u64>> = OnceLock::new();
    RETIRED.get_or_init(|| tokio::sync::watch::channel(0).0)
}

/// Drops this thread's idle instances of plugins that no longer exist.
fn release_retired_here() {
    let _ = REUSABLE.try_with(|pools| {
        pools
            .borrow_mut()
            .retain(|_, pool| pool.plugin.strong_count() > 0)
    });
}

/// Runs on every worker for as long as it serves: whenever a plugin is
/// dropped anywhere, drops this worker's idle instances of it.
pub async fn release_retired_instances() {
    let mut retired = retirements().subscribe();
    while retired.changed().await.is_ok() {
        release_retired_here();
    }
}

/// Idle instances of `reuse` plugins kept on this thread (for tests and
/// diagnostics).
pub fn idle_instances_here() -> usize {
    REUSABLE.with(|pools| pools.borrow().values().map(|p| p.instances.len()).sum())
}

impl<W: World> Plugin<W> {
    /// Compiles (or loads from `cache_dir`) and links `bytes`, checking that
    /// they implement world `W` and import nothing Turnpike does not provide.
    pub fn load(
        engine: &PluginEngine,
        settings: PluginSettings,
        bytes: &[u8],
        cache_dir: Option<&std::path::Path>,
        mode: InstanceMode,
    ) -> Result<Plugin<W>, PluginLoadError> {
        let name = settings.name.to_string();
        let error = |message: String| PluginLoadError {
            plugin: name.clone(),
            message,
        };
        let (component, digest, linked) = load_component(engine, &name, bytes, cache_dir)?;
        let pre = linked.linker.instantiate_pre(&component).map_err(|e| {
            error(format!(
                "imports something Turnpike does not provide: {e:#}"
            ))
        })?;
        let pre = W::pre(pre)
            .map_err(|e| error(format!("does not implement the `{}` world: {e:#}", W::NAME)))?;
        Ok(Plugin {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            settings: Arc::new(settings),
            engine: component.engine().clone(),
            _clock: engine.clone(),
            pre,
            mode,
            digest,
            alive: Arc::new(()),
            metrics: crate::observe::Metrics::global().plugin(&name),
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// sha256 of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// An instance with fresh budgets, for one invocation.
    pub async fn lease(&self, request_id: &str) -> Result<Lease<W>, PluginError> {
        let reused = match self.mode {
            InstanceMode::Reuse { .. } => REUSABLE.with(|pools| {
                pools
                    .borrow_mut()
                    .get_mut(&self.id)
                    .and_then(|pool| pool.instances.pop())
                    .and_then(|idle| idle.downcast::<Lease<W>>().ok())
            }),
            InstanceMode::Fresh => None,
        };
        let started = Instant::now();
        let mut lease = match reused {
            Some(lease) => *lease,
            None => self
                .instantiate()
                .await
                .inspect_err(|e| self.count(started, Some(e)))?,
        };
        lease.started = started;
        self.arm(&mut lease.store, request_id)?;
        Ok(lease)
    }

    /// Ends an invocation: keeps a healthy instance for reuse, discards a
    /// trapped one, and turns the call's outcome into the plugin's answer.
    pub fn finish<T>(
        &self,
        mut lease: Lease<W>,
        outcome: wasmtime::Result<Result<T, String>>,
    ) -> Result<T, PluginError> {
        let started = lease.started;
        let result = match outcome {
            Ok(answer) => {
                lease.uses += 1;
                self.give_back(lease);
                answer.map_err(|message| self.error(PluginErrorKind::Failed, message))
            }
            // A trapped instance is dead: dropped here, never reused.
            Err(trap) => {
                let guest = lease.store.data().guest_message();
                Err(self.classify(trap, guest))
            }
        };
        self.count(started, result.as_ref().err());
        result
    }

    /// Counts one invocation and its outcome in the plugin's metrics. A
    /// memory-limit hit is not a trap of its own (the failed `memory.grow`
    /// returns -1 to the guest): it is recognized by the allocation failure
    /// the guest's language reports.
    fn count(&self, started: Instant, error: Option<&PluginError>) {
        let metrics = &self.metrics;
        metrics.duration.observe(started.elapsed());
        match error.map(|e| (&e.kind, e.detail.as_str())) {
            None => metrics.ok.inc(),
            Some((PluginErrorKind::Timeout | PluginErrorKind::OutOfFuel, _)) => {
                metrics.timeouts.inc()
            }
            Some((_, detail))
                if ["memory allocation", "out of memory", "MemoryError"]
                    .iter()
                    .any(|m| detail.contains(m)) =>
            {
                metrics.memory.inc()
            }
            Some(_) => metrics.traps.inc(),
        }
    }

    async fn instantiate(&self) -> Result<Lease<W>, PluginError> {
        let mut store = Store::new(&self.engine, HostState::new(self.settings.clone()));
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_callback(|context| {
            if Instant::now() >= context.data().deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                // Let other requests on this worker run, then carry on.
                // tokio's `yield_now` defers the wake-up until the worker has
                // polled for I/O, so new requests are seen between slices; a
                // plain yield would re-queue at once and starve I/O.
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        self.arm(&mut store, "")?;
        let instance = match W::instantiate(&self.pre, &mut store).await {
            Ok(instance) => instance,
            Err(e) => {
                let guest = store.data().guest_message();
                return Err(self.classify(e, guest));
            }
        };
        Ok(Lease {
            store,
            instance,
            uses: 0,
            started: Instant::now(),
        })
    }

    /// Sets the per-invocation budgets on a new or reused store.
    fn arm(&self, store: &mut Store<HostState>, request_id: &str) -> Result<(), PluginError> {
        let state = store.data_mut();
        state.deadline = Instant::now() + self.settings.timeout;
        state.outbound_calls = 0;
        state.set_request_id(request_id);
        // The first yield comes after one to two epoch ticks, not at the
        // very next tick: an invocation shorter than a tick (almost all of
        // them) then never yields, so it never lets another request start
        // in between and take a second instance of a `reuse` plugin (whose
        // memory would then compete for the CPU's caches). A long-running
        // plugin still yields every tick after that.
        store.set_epoch_deadline(2);
        if let Some(fuel) = self.settings.fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| self.error(PluginErrorKind::Unavailable, format!("{e}")))?;
        }
        Ok(())
    }

    fn give_back(&self, lease: Lease<W>) {
        let InstanceMode::Reuse { max_uses, max_idle } = self.mode else {
            return;
        };
        if lease.uses >= max_uses {
            return;
        }
        REUSABLE.with(|pools| {
            let mut pools = pools.borrow_mut();
            let pool = pools.entry(self.id).or_insert_with(|| IdlePool {
                plugin: Arc::downgrade(&self.alive),
                instances: Vec::new(),
            });
            if pool.instances.len() < max_idle {
                pool.instances.push(Box::new(lease));
            }
        });
    }

    pub(super) fn error(&self, kind: PluginErrorKind, detail: String) -> PluginError {
        PluginError {
            plugin: self.settings.name.to_string(),
            kind,
            detail,
        }
    }

    /// What a failed call means, in one line: the guest's own message when
    /// it wrote one to stderr (a Python exception, a Rust panic message),
    /// else the trap's. The wasm backtrace goes to the debug log only.
    fn classify(&self, error: wasmtime::Error, guest_message: Option<String>) -> PluginError {
        let trap = error.downcast_ref::<wasmtime::Trap>();
        let kind = if error.downcast_ref::<DeadlineExceeded>().is_some() {
            PluginErrorKind::Timeout
        } else {
            match trap {
                Some(wasmtime::Trap::OutOfFuel) => PluginErrorKind::OutOfFuel,
                Some(wasmtime::Trap::Interrupt) => PluginErrorKind::Timeout,
                Some(_) => PluginErrorKind::Trap,
                None if format!("{error:#}").contains("maximum concurrent") => {
                    PluginErrorKind::Unavailable
                }
                None => PluginErrorKind::Trap,
            }
        };
        if let Some(backtrace) = error.downcast_ref::<wasmtime::WasmBacktrace>() {
            tracing::debug!(plugin = &*self.settings.name, %backtrace, "where the plugin failed");
        }
        let detail = match (&kind, guest_message, trap) {
            (PluginErrorKind::Trap, Some(message), _) => message,
            (_, _, Some(trap)) => trap.to_string(),
            _ => error.root_cause().to_string(),
        };
        self.error(kind, detail)
    }
}

impl<W: World> Drop for Plugin<W> {
    fn drop(&mut self) {
        if !matches!(self.mode, InstanceMode::Reuse { .. }) {
            return;
        }
        // Idle instances kept on this thread go now; the other workers
        // hear of it and drop theirs.
        let id = self.id;
        let _ = REUSABLE.try_with(|pools| pools.borrow_mut().remove(&id));
        retirements().send_modify(|count| *count += 1);
    }
}
