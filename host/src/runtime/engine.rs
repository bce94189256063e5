//! The one wasmtime `Engine`: pooling allocator, epoch interruption and fuel, a linker with
//! WASI p2 (granting nothing) and Nova's imports, and an on-disk cache of compiled modules.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::module_pre::ModulePre;
use super::store::StoreData;
use crate::capabilities;

/// How often the epoch advances; the CPU deadline is checked at this granularity.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Instances kept warm by default: half the pool, which leaves the other half to calls
/// before parked instances make way. A busy tenant runs several calls at once (a portal
/// screen asks for its list, its menu and a new ticket together), each in an instance of its
/// own, so a hundred such tenants need two to three hundred. At 128, a hundred tenants'
/// mixed calls ran warm 57% of the time on PostgreSQL (whose calls wait longer, so overlap
/// more) and 86-87% on SQLite, at 0.85 and 0.80 of one tenant's rate; at 256, 91-93% and
/// 99%, at 1.03 and 0.95 in one run and 0.81 and 0.82 in another, whose rounds drifted by
/// more than the cap changes (`tenant_scale`, docs/PERFORMANCE.md, twenty-second session).
/// The memory is only taken where that many instances were busy: 13-37 MiB more resident
/// after such a run than at 128.
pub(crate) const DEFAULT_WARM_INSTANCES: u32 = 256;

/// How much of each memory slot stays mapped between instances, zeroed in place instead of
/// given back to the kernel. A fresh instance that works inside it takes no page faults
/// (about 2.4 µs each on this machine, 16 per fresh POS call) and its slot goes through no
/// `madvise`; the price is a `memset` at every reset, of the pages ever written in the slot
/// where the kernel has PAGEMAP_SCAN, else of the first 256 KiB (see `wasm_config`). 256 KiB
/// holds a module linked with a 64 KiB stack (`-zstack-size=65536`, as `modules/` and `nova
/// module new` build them): stack, data and the first heap pages. A module with Rust's
/// default 1 MiB stack has its data past the first 256 KiB and, without the scan, gains
/// nothing (`layout.rs` warns at install). The pages stay with the slot while it waits: about
/// 256 KiB per slot ever used, 256 MiB for the whole pool (with the scan, somewhat more where
/// instances of different memory sizes share slots: a scan covers the memory's current size,
/// and pages an earlier, larger instance kept past it stay, zeroed). docs/PERFORMANCE.md,
/// "Memory kept resident".
pub(crate) const KEEP_RESIDENT: usize = 256 << 10;

/// Address space reserved per linear memory where the process has it: every address a
/// 32-bit guest can form (4 GiB, plus the default guard of 32 MiB for constant offsets)
/// falls inside its own memory's slot, so wasmtime compiles loads and stores without bounds
/// checks (and the Spectre guards that go with them) and an access outside the memory traps
/// on pages mapped with no access. A POS read took 5-9% less of the host's CPU than with each
/// access checked (docs/PERFORMANCE.md, "Guest memory without bounds checks"). It is address
/// space only, never committed memory: what a call may use stays `max_memory_bytes`.
const UNCHECKED_RESERVATION: u64 = 4 << 30;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    /// Where compiled modules are cached (`None`: no cache).
    pub(crate) cache_dir: Option<PathBuf>,
    /// The most linear memory any call may get; per-call limits are at most this.
    pub(crate) max_memory_bytes: usize,
    /// Instances that may exist at once (calls running concurrently).
    pub(crate) max_instances: u32,
    /// The most instances kept warm between calls, for modules that opt in (0: none).
    pub(crate) warm_instances: u32,
    /// How long the oldest of a full warm pool is kept before a new instance takes its place.
    pub(crate) warm_make_way_after: std::time::Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_memory_bytes: 256 << 20,
            max_instances: 512,
            warm_instances: DEFAULT_WARM_INSTANCES,
            warm_make_way_after: std::time::Duration::from_millis(
                crate::config::DEFAULT_WARM_MAKE_WAY_MS,
            ),
        }
    }
}

/// Why a component was refused at install.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error("component does not fit a nova:module world (0.1.0 or 0.2.0): {0}")]
    WrongWorld(String),
}

/// The engine and linker, shared by every call.
pub struct WasmEngine {
    engine: Engine,
    linker: Linker<StoreData>,
    config: EngineConfig,
    /// Address space reserved per linear memory: [`UNCHECKED_RESERVATION`], or, where the
    /// process had no room for it, `max_memory_bytes` and bounds checks in guest code.
    reservation: u64,
    ticker_stop: Arc<AtomicBool>,
}

impl WasmEngine {
    /// Build the engine and start the epoch ticker.
    pub(crate) fn new(config: EngineConfig) -> anyhow::Result<Self> {
        Self::new_reserving(config, UNCHECKED_RESERVATION)
    }

    /// [`Self::new`], reserving `preferred` bytes of address space per linear memory where
    /// the process has that much left, else only what a call may use.
    fn new_reserving(config: EngineConfig, preferred: u64) -> anyhow::Result<Self> {
        let least = config.max_memory_bytes as u64;
        let preferred = preferred.max(least);
        let (engine, reservation) = match Engine::new(&wasm_config(&config, preferred)) {
            Ok(engine) => (engine, preferred),
            // Nothing smaller to fall back to: the same settings would fail the same way.
            Err(e) if preferred == least => return Err(e.into()),
            Err(e) => {
                // The pool maps every slot's reservation at once (PROT_NONE): 1,024 slots of
                // 4 GiB are 4 TiB of a process's 128 TiB, so a process running many engines
                // at once (the tests do), or one under a `ulimit -v`, can run out of address
                // space. Whatever the failure, the fallback is the reservation the host used
                // before this one; if that fails too, its error is the one returned.
                tracing::warn!(
                    error = %format!("{e:#}"),
                    preferred_bytes = preferred,
                    "could not reserve the address space that lets guest code run without bounds checks; guest code runs with them"
                );
                let engine =
                    Engine::new(&wasm_config(&config, least)).map_err(anyhow::Error::from)?;
                (engine, least)
            }
        };

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        // Every contract the host serves: a component is linked against the one it imports.
        capabilities::add_to_linker(&mut linker).map_err(anyhow::Error::from)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let stop = ticker_stop.clone();
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("nova-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .context("starting the epoch thread")?;

        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let engine = Self {
            engine,
            linker,
            config,
            reservation,
            ticker_stop,
        };
        // Whether memory slots are reset by PAGEMAP_SCAN depends on the kernel (see
        // `wasm_config`); asked (an ioctl) only when the line is logged.
        tracing::debug!(
            reserved_per_memory = engine.reservation,
            bounds_checks = engine.checks_bounds(),
            slots_reset_by_scan = PoolingAllocationConfig::is_pagemap_scan_available(),
            "wasm engine ready"
        );
        Ok(engine)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether compiled guest code checks the bounds of each memory access, because the
    /// process had no address space for [`UNCHECKED_RESERVATION`].
    fn checks_bounds(&self) -> bool {
        self.reservation < UNCHECKED_RESERVATION
    }

    /// The hex SHA-256 of component bytes: a version's content hash and cache key.
    pub(crate) fn content_hash(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// Compile (or load from the disk cache) and link a component against the Nova world.
    pub fn prepare(&self, bytes: &[u8]) -> Result<ModulePre, CompileError> {
        let component = self.compile(bytes)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| CompileError::WrongWorld(for_people(&format!("{e:#}"))))?;
        ModulePre::new(pre).map_err(|e| CompileError::WrongWorld(for_people(&format!("{e:#}"))))
    }

    fn compile(&self, bytes: &[u8]) -> Result<Component, CompileError> {
        let cached = self.config.cache_dir.as_ref().map(|dir| {
            let mut key = Sha256::new();
            key.update(bytes);
            let mut compat = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&self.engine.precompile_compatibility_hash(), &mut compat);
            key.update(std::hash::Hasher::finish(&compat).to_le_bytes());
            dir.join(format!("{}.cwasm", hex::encode(key.finalize())))
        });
        if let Some(path) = &cached
            && path.exists()
        {
            // SAFETY: the file was written by `Component::serialize` of an engine with the same
            // compatibility hash (part of its name), into a directory only Nova writes.
            match unsafe { Component::deserialize_file(&self.engine, path) } {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable compile cache entry")
                }
            }
        }
        if !is_component_binary(bytes) {
            return Err(CompileError::Invalid(NOT_A_COMPONENT.into()));
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| CompileError::Invalid(for_people(&format!("{e:#}"))))?;
        if let Some(path) = &cached {
            // Write then rename so a crash never leaves a truncated entry behind.
            let result = component
                .serialize()
                .map_err(anyhow::Error::from)
                .and_then(|blob| {
                    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                    std::fs::write(&tmp, blob)?;
                    std::fs::rename(&tmp, path)?;
                    Ok(())
                });
            if let Err(e) = result {
                tracing::warn!(path = %path.display(), error = %e, "could not write compile cache entry");
            }
        }
        Ok(component)
    }
}

/// True for the binary encoding of a component (a core module has layer 0, version 1).
/// Why bytes that do not start as a component are refused.
pub(crate) const NOT_A_COMPONENT: &str = "expected a WebAssembly component: build the module for wasm32-wasip2 (a core module or any other file is refused)";

/// A wasmparser or wasmtime error as one line for people: their messages can end with a
/// debug dump of the bytes they expected, over several lines.
pub(crate) fn for_people(text: &str) -> String {
    let text = text.split(" - expected").next().unwrap_or(text);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn is_component_binary(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [0x0d, 0x00, 0x01, 0x00]
}

/// The engine's settings, reserving `reservation` bytes of address space per linear memory.
fn wasm_config(config: &EngineConfig, reservation: u64) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(config.max_instances)
        .total_core_instances(config.max_instances * 4)
        .total_memories(config.max_instances * 2)
        .total_tables(config.max_instances * 4)
        .total_stacks(config.max_instances)
        .max_memory_size(config.max_memory_bytes)
        // Returning a slot with madvise flushes every core's TLB; measured on 2 cores that
        // was a third of all CPU. Give slots back in batches, and reset small tables in
        // place. (Fiber stacks are not reset at all: wasmtime leaves `async_stack_zeroing`
        // off, as guest code cannot read the native stack, so a keep-resident size for
        // them would do nothing.) Up to `KEEP_RESIDENT` bytes of each linear memory stay
        // mapped and are zeroed in place with memset; the rest is given back. Where Linux
        // has PAGEMAP_SCAN (6.7 and later) those are the first `KEEP_RESIDENT` bytes, by
        // address, of the pages ever written in the slot (a page zeroed in place stays
        // mapped, so it counts at every later reset too), wherever they lie: a slot whose
        // modules write few pages pays for those, not for 256 KiB, and one whose written
        // pages fit goes through no madvise. The scan takes pages that are swapped out or
        // being migrated as well as present ones (wasmtime 48.0.11 and 50.0.2, pull
        // request 14357): before that a written page the kernel had moved out of memory
        // was neither reset nor given back, and the next instance in the slot, possibly
        // another tenant's, would have read it (docs/PERFORMANCE.md, "Fresh instances").
        // Elsewhere (`Auto`) every byte of the first `KEEP_RESIDENT` is zeroed, written or
        // not. `fresh_instances` checks that no call sees another's pages, with whichever
        // of the two the test machine's kernel takes.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto)
        // Reuse a freed slot before touching one never used, so the slots holding those
        // kept pages are about as many as the instances that ran at once (plus those
        // waiting in the decommit batches), not the whole pool: wasmtime's default prefers
        // never-used slots until 100 sit unused. Slots have no module image to be affine
        // to (`memory_init_cow(false)`), so nothing is lost.
        .max_unused_warm_slots(0)
        .table_keep_resident(64 << 10)
        .decommit_batch_size(32);
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        // Off, as it was before wasmtime 50 turned it on by default: a Wasm proposal is
        // more compiler facing tenants' code, and what modules may use is the host's
        // contract with their authors, changed on purpose, not by a dependency's update.
        .wasm_wide_arithmetic(false)
        .epoch_interruption(true)
        .consume_fuel(true)
        // `UNCHECKED_RESERVATION`, or less and bounds checks (see `WasmEngine::new_reserving`).
        .memory_reservation(reservation)
        // Copy a module's data into each fresh instance instead of mapping its image
        // copy-on-write: the first write to every mapped page faulted, and each fault
        // flushed the TLB of every core (an IPI), which was a tenth of all CPU on the
        // trivial path. A copy of a few pages costs less than one of those faults.
        .memory_init_cow(false)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // `NOVA_PERFMAP=1` names guest code in `perf report` (through /tmp/perf-<pid>.map),
    // so a profile shows which of a module's functions the time goes to
    // (docs/PERFORMANCE.md); off by default, as the map grows with every compile.
    if std::env::var("NOVA_PERFMAP").is_ok_and(|v| v == "1") {
        wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    wasm
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_reserves_enough_to_leave_out_bounds_checks() {
        let engine = WasmEngine::new(EngineConfig::default()).unwrap();
        assert!(!engine.checks_bounds());
    }

    #[test]
    fn a_component_using_wide_arithmetic_is_refused() {
        let engine = WasmEngine::new(EngineConfig::default()).unwrap();
        let wide = wat::parse_str(
            "(component (core module (func (param i64 i64 i64 i64) (result i64 i64)
                local.get 0 local.get 1 local.get 2 local.get 3 i64.add128)))",
        )
        .unwrap();
        let Err(CompileError::Invalid(why)) = engine.compile(&wide) else {
            panic!("a component using wide arithmetic compiled");
        };
        assert!(why.contains("wide arithmetic"), "{why}");
        // The same function adding plain i64s compiles: the refusal is the proposal's.
        let plain = wat::parse_str(
            "(component (core module (func (param i64 i64) (result i64)
                local.get 0 local.get 1 i64.add)))",
        )
        .unwrap();
        assert!(engine.compile(&plain).is_ok());
    }

    #[test]
    fn an_engine_without_room_for_its_reservation_checks_bounds_instead() {
        // 1,024 memories of 64 TiB each cannot be mapped in any process.
        let engine = WasmEngine::new_reserving(EngineConfig::default(), 64 << 40).unwrap();
        assert!(engine.checks_bounds());
        assert_eq!(engine.reservation, 256 << 20);
    }
}
