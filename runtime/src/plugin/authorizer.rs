//! Authorizer plugins: components of the `authorizer` world.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use wasmtime::component::Linker;
use wasmtime::{Store, UpdateDeadline};

use super::compile::load_component;
use super::engine::PluginEngine;
use super::host::{self, HostState, PluginSettings};
use super::{PluginError, PluginErrorKind, PluginLoadError};

/// Host bindings of the `authorizer` world, generated from `wit/`.
#[allow(missing_docs, clippy::all)]
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "turnpike:gateway/authorizer",
        imports: { "turnpike:gateway/outbound-http.send": async },
        exports: { default: async },
    });
}

pub use bindings::exports::turnpike::gateway::authorize::{
    Allow, AuthorizationRequest as AuthorizeInput, Decision,
};
pub use bindings::turnpike::gateway::types::RequestInfo;

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

/// A loaded authorizer, ready to be invoked from any worker thread.
pub struct AuthorizerPlugin {
    id: usize,
    settings: Arc<PluginSettings>,
    engine: PluginEngine,
    pre: bindings::AuthorizerPre<HostState>,
    mode: InstanceMode,
    digest: String,
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

struct Pooled {
    store: Store<HostState>,
    instance: bindings::Authorizer,
    uses: u32,
}

thread_local! {
    static REUSABLE: RefCell<HashMap<usize, Vec<Pooled>>> = RefCell::new(HashMap::new());
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

impl AuthorizerPlugin {
    /// Compiles (or loads from `cache_dir`) and links `bytes`, checking that
    /// they implement the `authorizer` world.
    pub fn load(
        engine: &PluginEngine,
        settings: PluginSettings,
        bytes: &[u8],
        cache_dir: Option<&std::path::Path>,
        mode: InstanceMode,
    ) -> Result<AuthorizerPlugin, PluginLoadError> {
        let name = settings.name.to_string();
        let error = |message: String| PluginLoadError {
            plugin: name.clone(),
            message,
        };
        let (component, digest) = load_component(engine, &name, bytes, cache_dir)?;
        let mut linker = Linker::<HostState>::new(engine.engine());
        host::add_to_linker(&mut linker)
            .map_err(|e| error(format!("cannot link host functions: {e:#}")))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            error(format!(
                "imports something Turnpike does not provide: {e:#}"
            ))
        })?;
        let pre = bindings::AuthorizerPre::new(pre)
            .map_err(|e| error(format!("does not implement the `authorizer` world: {e:#}")))?;
        Ok(AuthorizerPlugin {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            settings: Arc::new(settings),
            engine: engine.clone(),
            pre,
            mode,
            digest,
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

    /// Asks the plugin for a decision.
    pub async fn authorize(
        &self,
        request_id: &str,
        input: &AuthorizeInput,
    ) -> Result<Decision, PluginError> {
        let (mut store, instance, uses) = match self.mode {
            InstanceMode::Reuse { .. } => match self.take_reusable() {
                Some(pooled) => (pooled.store, pooled.instance, pooled.uses),
                None => self.instantiate().await?,
            },
            InstanceMode::Fresh => self.instantiate().await?,
        };
        self.arm(&mut store, request_id)?;
        let result = instance
            .turnpike_gateway_authorize()
            .call_authorize(&mut store, input)
            .await;
        match result {
            Ok(Ok(decision)) => {
                self.give_back(store, instance, uses + 1);
                Ok(decision)
            }
            Ok(Err(message)) => {
                self.give_back(store, instance, uses + 1);
                Err(self.error(PluginErrorKind::Failed, message))
            }
            // A trapped instance is dead: it is dropped here, never reused.
            Err(trap) => Err(self.classify(trap)),
        }
    }

    async fn instantiate(
        &self,
    ) -> Result<(Store<HostState>, bindings::Authorizer, u32), PluginError> {
        let mut store = Store::new(self.engine.engine(), HostState::new(self.settings.clone()));
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
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.classify(e))?;
        Ok((store, instance, 0))
    }

    /// Sets the per-invocation budgets on a new or reused store.
    fn arm(&self, store: &mut Store<HostState>, request_id: &str) -> Result<(), PluginError> {
        let state = store.data_mut();
        state.deadline = Instant::now() + self.settings.timeout;
        state.outbound_calls = 0;
        state.request_id.clear();
        state.request_id.push_str(request_id);
        store.set_epoch_deadline(1);
        if let Some(fuel) = self.settings.fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| self.error(PluginErrorKind::Unavailable, format!("{e}")))?;
        }
        Ok(())
    }

    fn take_reusable(&self) -> Option<Pooled> {
        REUSABLE.with(|pools| pools.borrow_mut().get_mut(&self.id).and_then(Vec::pop))
    }

    fn give_back(&self, store: Store<HostState>, instance: bindings::Authorizer, uses: u32) {
        let InstanceMode::Reuse { max_uses, max_idle } = self.mode else {
            return;
        };
        if uses >= max_uses {
            return;
        }
        REUSABLE.with(|pools| {
            let mut pools = pools.borrow_mut();
            let idle = pools.entry(self.id).or_default();
            if idle.len() < max_idle {
                idle.push(Pooled {
                    store,
                    instance,
                    uses,
                });
            }
        });
    }

    fn error(&self, kind: PluginErrorKind, detail: String) -> PluginError {
        PluginError {
            plugin: self.settings.name.to_string(),
            kind,
            detail,
        }
    }

    fn classify(&self, error: wasmtime::Error) -> PluginError {
        let kind = if error.downcast_ref::<DeadlineExceeded>().is_some() {
            PluginErrorKind::Timeout
        } else {
            match error.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::OutOfFuel) => PluginErrorKind::OutOfFuel,
                Some(wasmtime::Trap::Interrupt) => PluginErrorKind::Timeout,
                Some(_) => PluginErrorKind::Trap,
                None if format!("{error:#}").contains("maximum concurrent") => {
                    PluginErrorKind::Unavailable
                }
                None => PluginErrorKind::Trap,
            }
        };
        self.error(kind, format!("{error:#}"))
    }
}

impl Drop for AuthorizerPlugin {
    fn drop(&mut self) {
        // Instances kept on this thread for a plugin that is going away.
        let id = self.id;
        let _ = REUSABLE.try_with(|pools| pools.borrow_mut().remove(&id));
    }
}
