//! The wasmtime engines of the process, and the clock that bounds plugin
//! run time.
//!
//! Plugins run in one of two engines that differ only in how the pooling
//! allocator resets a freed instance's memory (see [`SlotReset`]): small
//! components (Rust, C) in one, components that carry a language runtime
//! (CPython, SpiderMonkey) in the other, created when the first one is
//! loaded. The reset is an allocator-wide setting, and each kind is up to
//! ~20 % slower per fresh instance with the other kind's reset.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::host::{self, HostState};

/// How often the engine's epoch advances: the granularity of plugin deadlines
/// and of cooperative yields inside long-running plugin calls.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Instances (and memories, tables, stacks) the pooling allocator keeps slots for.
const POOL_INSTANCES: u32 = 1000;

/// Bytes of each pooled linear memory reset in place, with `memset` (and
/// copies of the initial data), when an instance is freed, instead of being
/// handed back to the kernel with `madvise` and faulted in again by the next
/// instance in the slot. Small plugins (e.g. Rust built with a 32 KiB stack:
/// one 64 KiB page) fit whole; above this, memory is `madvise`d as before.
const MEMORY_KEEP_RESIDENT: usize = 128 << 10;

/// The same for tables.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// How instances' memories, tables and stacks are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocator {
    /// Preallocated slots, reused (the default: much cheaper instantiation).
    #[default]
    Pooling,
    /// An `mmap` per memory, table and stack.
    OnDemand,
}

/// Engine settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineOptions {
    /// Fuel metering for every plugin (it changes compiled code).
    pub fuel: bool,
    /// Instance allocation strategy.
    pub allocator: Allocator,
    /// How the pooling allocator resets freed slots: `None` (the gateway's
    /// choice) picks by component size; one reset for every plugin lets
    /// benchmarks compare them.
    #[doc(hidden)]
    pub reset: Option<SlotReset>,
    /// For checking only (`turnpike validate`): plugins are compiled and
    /// linked but never run, so no clock thread is started and compiled
    /// artifacts are read from the cache but never written to it.
    pub check_only: bool,
}

/// How the pooling allocator resets a freed memory or table slot.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct SlotReset {
    /// `PoolingAllocationConfig::linear_memory_keep_resident`.
    pub memory_keep_resident: usize,
    /// `PoolingAllocationConfig::table_keep_resident`.
    pub table_keep_resident: usize,
    /// Use `PAGEMAP_SCAN` (Linux 6.7+) to reset only the pages an instance
    /// dirtied, up to the sizes above anywhere in the slot: costs an `ioctl`
    /// per slot, pays off for plugins with large memories.
    pub pagemap_scan: bool,
}

impl Default for SlotReset {
    fn default() -> SlotReset {
        SlotReset {
            memory_keep_resident: MEMORY_KEEP_RESIDENT,
            table_keep_resident: TABLE_KEEP_RESIDENT,
            pagemap_scan: false,
        }
    }
}

/// Components above this size carry a language runtime (CPython,
/// SpiderMonkey): megabytes of initial memory, of which one request dirties
/// a scattered part.
const LARGE_COMPONENT: usize = 1 << 20;

impl SlotReset {
    /// Keeps up to 1 MiB resident and resets only dirtied pages, with
    /// `PAGEMAP_SCAN`.
    pub fn pagemap() -> SlotReset {
        SlotReset {
            memory_keep_resident: 1 << 20,
            table_keep_resident: TABLE_KEEP_RESIDENT,
            pagemap_scan: true,
        }
    }

    /// wasmtime's defaults: `madvise` everything, fault it back in on reuse.
    pub fn madvise() -> SlotReset {
        SlotReset {
            memory_keep_resident: 0,
            table_keep_resident: 0,
            pagemap_scan: false,
        }
    }
}

/// The engines plus the ticker thread driving their epochs.
#[derive(Clone)]
pub struct PluginEngine {
    engines: Arc<Engines>,
    /// A fingerprint of everything in the engines' configuration that makes
    /// compiled artifacts incompatible, for the on-disk cache key. The two
    /// engines compile identical code (only their allocators differ), and a
    /// component always goes to the same one, chosen by its size.
    fingerprint: Arc<str>,
}

struct Engines {
    options: EngineOptions,
    /// Small components, or every component with an explicit reset.
    small: Linked,
    /// Components above [`LARGE_COMPONENT`] bytes, decided on first need:
    /// `None` where the host swaps (see [`swap_in_use`]), which keeps them
    /// in `small`.
    large: OnceLock<Option<Linked>>,
}

/// An engine and the host functions linked for it, built once: every plugin
/// compiled into the engine is instantiated through the same linker.
pub struct Linked {
    /// The engine.
    pub engine: Engine,
    /// WASI, `wasi:http` and Turnpike's host interfaces.
    pub linker: Linker<HostState>,
}

impl Linked {
    fn new(options: &EngineOptions, reset: SlotReset) -> Result<Linked, String> {
        let engine = build_engine(options, reset)?;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker)
            .map_err(|e| format!("cannot link the host functions: {e:#}"))?;
        Ok(Linked { engine, linker })
    }
}

impl PluginEngine {
    /// Builds the engine. `fuel` turns on fuel metering for every plugin (it
    /// changes the compiled code, so it is engine-wide).
    pub fn new(fuel: bool) -> Result<PluginEngine, String> {
        PluginEngine::with_options(EngineOptions {
            fuel,
            ..EngineOptions::default()
        })
    }

    /// Builds the engine with explicit options.
    pub fn with_options(options: EngineOptions) -> Result<PluginEngine, String> {
        let small = Linked::new(&options, options.reset.unwrap_or_default())?;
        let engines = Arc::new(Engines {
            options,
            small,
            large: OnceLock::new(),
        });
        if !options.check_only {
            let weak = Arc::downgrade(&engines);
            std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(move || {
                    while let Some(engines) = weak.upgrade() {
                        engines.small.engine.increment_epoch();
                        if let Some(Some(large)) = engines.large.get() {
                            large.engine.increment_epoch();
                        }
                        drop(engines);
                        std::thread::sleep(EPOCH_TICK);
                    }
                })
                .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
        }
        let fingerprint = format!(
            "wasmtime-{}-fuel{}",
            env!("CARGO_PKG_VERSION"),
            options.fuel as u8
        );
        Ok(PluginEngine {
            engines,
            fingerprint: fingerprint.into(),
        })
    }

    /// The engine for a component of `size` bytes, unless the options fixed
    /// one reset for all. Small plugins (Rust, C: one 64 KiB page) are
    /// fastest reset whole with `memset`; a plugin that carries a language
    /// runtime gains from resetting only the pages it dirtied, kept resident
    /// ([`SlotReset::pagemap`], where the kernel has `PAGEMAP_SCAN`): a
    /// fresh JavaScript instance ~950 -> ~500 µs, Python ~1.5 -> ~1.15 ms,
    /// while that reset costs the small ones ~1 µs more per instance (up to
    /// ~20 % fewer fresh authorizations/s through the gateway). Where the
    /// host swaps, every plugin gets the small ones' reset.
    pub fn engine_for(&self, size: usize) -> Result<&Linked, String> {
        let engines = &*self.engines;
        if engines.options.reset.is_some() || size <= LARGE_COMPONENT {
            return Ok(&engines.small);
        }
        let large = match engines.large.get() {
            Some(large) => large,
            None => {
                let built = if swap_in_use() {
                    tracing::warn!(
                        "swap is in use: plugins that carry a language runtime get the slower memory reset, \
                         which (unlike the dirtied-page one) also resets pages the kernel swapped out"
                    );
                    None
                } else {
                    let built = Linked::new(&engines.options, SlotReset::pagemap())?;
                    tracing::info!(
                        "a plugin carries a language runtime: its instances' memory is reset by dirtied pages"
                    );
                    Some(built)
                };
                engines.large.get_or_init(|| built)
            }
        };
        Ok(large.as_ref().unwrap_or(&engines.small))
    }

    /// Whether this engine only checks plugins (see
    /// [`EngineOptions::check_only`]).
    pub fn check_only(&self) -> bool {
        self.engines.options.check_only
    }

    /// Component instances alive in the engines' pools now (running or kept
    /// for reuse), and how many the pools have room for.
    pub fn pooled_instances(&self) -> (u64, u64) {
        let count = |engine: &Engine| {
            engine
                .pooling_allocator_metrics()
                .map_or(0, |m| m.component_instances())
        };
        let mut live = count(&self.engines.small.engine);
        if let Some(Some(large)) = self.engines.large.get() {
            live += count(&large.engine);
        }
        (live, u64::from(POOL_INSTANCES))
    }

    /// Whether plugins are compiled with fuel metering.
    pub fn fuel(&self) -> bool {
        self.engines.options.fuel
    }

    /// Cache key part that changes whenever compiled code would.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Whether the kernel may swap out the plugins' memory: `/proc/swaps` lists
/// an active swap area, or cannot be read.
///
/// wasmtime 48's `PAGEMAP_SCAN` reset looks only at pages present in RAM: a
/// page an instance dirtied that is swapped out when its slot is freed is
/// neither reset nor released, and the next instance in the slot would read
/// it back with the previous request's data (wasmtime pull request #14357).
fn swap_in_use() -> bool {
    std::fs::read_to_string("/proc/swaps").map_or(true, |table| swap_areas(&table) > 0)
}

/// The number of swap areas in the text of `/proc/swaps` (a header line,
/// then one line per area).
fn swap_areas(proc_swaps: &str) -> usize {
    proc_swaps
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .count()
}

/// One wasmtime engine with the process's plugin settings and `reset`.
fn build_engine(options: &EngineOptions, reset: SlotReset) -> Result<Engine, String> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(options.fuel);
    // Names plugin functions in `perf` profiles (`/tmp/perf-PID.map`);
    // for investigating a slow plugin, off otherwise.
    if std::env::var_os("TURNPIKE_WASM_PERFMAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    match options.allocator {
        Allocator::Pooling => {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(POOL_INSTANCES);
            pool.total_core_instances(POOL_INSTANCES * 4);
            pool.total_memories(POOL_INSTANCES * 2);
            pool.total_tables(POOL_INSTANCES * 2);
            pool.total_stacks(POOL_INSTANCES);
            // A freed slot is reset to its initial contents either way (no
            // instance sees another's memory); in place is cheaper than
            // `madvise` plus page faults at the next instantiation.
            pool.linear_memory_keep_resident(reset.memory_keep_resident);
            pool.table_keep_resident(reset.table_keep_resident);
            if reset.pagemap_scan {
                pool.pagemap_scan(Enabled::Auto);
            }
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        Allocator::OnDemand => {
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        }
    }
    Engine::new(&config).map_err(|e| format!("cannot create the WebAssembly engine: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: usize = 70 << 10;
    const LARGE: usize = 18 << 20;

    #[test]
    fn language_runtimes_get_their_own_engine_and_small_plugins_keep_theirs() {
        let plugins = PluginEngine::new(false).unwrap();
        let small = plugins.engine_for(SMALL).unwrap().engine.clone();
        let large = plugins.engine_for(LARGE).unwrap().engine.clone();
        // Where the host swaps, the dirtied-page reset is off: one engine.
        assert_eq!(Engine::same(&small, &large), swap_in_use());
        assert!(Engine::same(&small, &plugins.engine_for(1).unwrap().engine));
        assert!(Engine::same(
            &large,
            &plugins.engine_for(LARGE * 2).unwrap().engine
        ));
    }

    #[test]
    fn swap_areas_are_the_lines_after_the_header() {
        let header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert_eq!(swap_areas(""), 0);
        assert_eq!(swap_areas(header), 0);
        let two = format!(
            "{header}/swapfile                               file\t\t4194300\t\t0\t\t-2\n\
             /dev/zram0                              partition\t8388604\t\t1024\t\t100\n"
        );
        assert_eq!(swap_areas(&two), 2);
    }

    #[test]
    fn an_explicit_reset_puts_every_plugin_in_one_engine() {
        let plugins = PluginEngine::with_options(EngineOptions {
            reset: Some(SlotReset::madvise()),
            ..EngineOptions::default()
        })
        .unwrap();
        let small = &plugins.engine_for(SMALL).unwrap().engine;
        assert!(Engine::same(
            small,
            &plugins.engine_for(LARGE).unwrap().engine
        ));
    }
}
