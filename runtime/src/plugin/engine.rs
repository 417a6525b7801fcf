//! The one wasmtime engine of the process, and the clock that bounds plugin
//! run time.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances: the granularity of plugin deadlines
/// and of cooperative yields inside long-running plugin calls.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Instances (and memories, tables, stacks) the pooling allocator keeps slots for.
const POOL_INSTANCES: u32 = 1000;

/// The engine plus the ticker thread driving its epoch.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    /// A fingerprint of everything in the engine's configuration that makes
    /// compiled artifacts incompatible, for the on-disk cache key.
    fingerprint: Arc<str>,
}

impl PluginEngine {
    /// Builds the engine. `fuel` turns on fuel metering for every plugin (it
    /// changes the compiled code, so it is engine-wide).
    pub fn new(fuel: bool) -> Result<PluginEngine, String> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.consume_fuel(fuel);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES);
        pool.total_core_instances(POOL_INSTANCES * 4);
        pool.total_memories(POOL_INSTANCES * 2);
        pool.total_tables(POOL_INSTANCES * 2);
        pool.total_stacks(POOL_INSTANCES);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)
            .map_err(|e| format!("cannot create the WebAssembly engine: {e}"))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
        let fingerprint = format!("wasmtime-{}-fuel{}", env!("CARGO_PKG_VERSION"), fuel as u8);
        Ok(PluginEngine {
            engine,
            fingerprint: fingerprint.into(),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Cache key part that changes whenever compiled code would.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}
