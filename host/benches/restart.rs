//! Restart cost: loading every default component (adapters and policies) with
//! its compiled code already cached, as `gatehouse serve` does after a restart.
//! Goal: well under a second for ten components.

use std::time::Instant;

use gatehouse::components::{ADAPTERS, POLICIES};
use gatehouse::runtime::engine::{Engine, sha256_hex};

fn main() -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let components: Vec<(&str, &[u8])> = ADAPTERS.iter().chain(POLICIES).copied().collect();

    let cold = Instant::now();
    let engine = Engine::new(cache.path())?;
    for (_, bytes) in &components {
        engine.load(bytes, &sha256_hex(bytes))?;
    }
    let cold = cold.elapsed();
    drop(engine);

    // A new engine, as after a restart: everything comes from the cache.
    let warm = Instant::now();
    let engine = Engine::new(cache.path())?;
    for (name, bytes) in &components {
        let (_, info) = engine.load(bytes, &sha256_hex(bytes))?;
        anyhow::ensure!(
            info.from_cache,
            "{name} was not served from the compile cache"
        );
    }
    let warm = warm.elapsed();

    println!("components: {}", components.len());
    println!(
        "first start (compile all):  {:>8.1} ms",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "restart (cached code):      {:>8.1} ms  (goal: < 1000 ms)",
        warm.as_secs_f64() * 1e3
    );
    Ok(())
}
