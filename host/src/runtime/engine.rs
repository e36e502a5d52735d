//! The wasmtime engine every component runs on: pooling allocation, epoch
//! deadlines, and a precompiled-code cache on disk so a restart (or a big
//! JS/Python guest) loads in milliseconds instead of recompiling.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances; guest deadlines are counted in these.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The largest linear memory any guest may grow to; per-component limits are lower.
pub const MAX_GUEST_MEMORY: usize = 2 << 30;

/// The engine plus where its compiled code is cached.
#[derive(Clone)]
pub struct Engine {
    engine: wasmtime::Engine,
    cache_dir: PathBuf,
    compatibility: String,
}

/// How a component came to be ready.
#[derive(Debug, Clone, Copy)]
pub struct LoadInfo {
    pub from_cache: bool,
    pub took: Duration,
}

impl Engine {
    /// Builds the engine and starts the epoch ticker (it stops with the engine).
    // At start-up, before serving.
    #[allow(clippy::disallowed_methods)]
    pub fn new(cache_dir: &Path) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(1000)
            .total_core_instances(4000)
            .total_memories(1000)
            .total_tables(2000)
            .total_stacks(1000)
            .max_component_instance_size(8 << 20)
            .max_core_instance_size(8 << 20)
            .table_elements(200_000)
            .max_memory_size(MAX_GUEST_MEMORY);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if std::env::var_os("GATEHOUSE_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = wasmtime::Engine::new(&config)?;
        spawn_epoch_ticker(&engine);

        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compatibility = format!("{:016x}", hasher.finish());
        std::fs::create_dir_all(cache_dir)
            .with_context(|| format!("creating the compile cache {}", cache_dir.display()))?;
        Ok(Engine {
            engine,
            cache_dir: cache_dir.to_owned(),
            compatibility,
        })
    }

    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// Compiles `bytes` (whose sha256 is `digest`), or loads the cached compilation.
    // Compiling is blocking work: callers run this on the blocking pool.
    #[allow(clippy::disallowed_methods)]
    pub fn load(&self, bytes: &[u8], digest: &str) -> anyhow::Result<(Component, LoadInfo)> {
        let started = Instant::now();
        let cached = self
            .cache_dir
            .join(format!("{digest}-{}.cwasm", self.compatibility));
        if cached.is_file() {
            // SAFETY: the file was written by `Component::serialize` of this
            // same engine configuration (the name carries the engine's
            // compatibility hash and the source digest) into a directory only
            // gatehouse writes; deserializing trusted artifacts is the
            // documented contract of `deserialize_file`.
            #[allow(unsafe_code)]
            let loaded = unsafe { Component::deserialize_file(&self.engine, &cached) };
            match loaded {
                Ok(component) => {
                    return Ok((
                        component,
                        LoadInfo {
                            from_cache: true,
                            took: started.elapsed(),
                        },
                    ));
                }
                Err(error) => {
                    tracing::warn!(path = %cached.display(), %error, "discarding unusable compile cache entry");
                    let _ = std::fs::remove_file(&cached);
                }
            }
        }
        let component = Component::new(&self.engine, bytes)?;
        if let Err(error) = self.store_compiled(&component, &cached) {
            tracing::warn!(%error, "could not write the compile cache; continuing without it");
        }
        Ok((
            component,
            LoadInfo {
                from_cache: false,
                took: started.elapsed(),
            },
        ))
    }

    fn store_compiled(&self, component: &Component, path: &Path) -> anyhow::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(&self.cache_dir)?;
        std::io::Write::write_all(&mut file, &component.serialize()?)?;
        file.persist(path)?;
        Ok(())
    }
}

/// Advances the epoch every [`EPOCH_TICK`] until the engine is dropped.
fn spawn_epoch_ticker(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("gatehouse-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// The hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
