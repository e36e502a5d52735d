//! The cost of the default policy set per version: each default policy
//! evaluates one 5,000-version batch (the shape of a big packument) in a fresh
//! instance, as the gate does. Goal: ≤ 2 µs per version per policy.

use std::time::{Duration, Instant};

use gatehouse::components::POLICIES;
use gatehouse::gate::evaluate_policy;
use gatehouse::gate_policy::GatePolicy;
use gatehouse::runtime::engine::{Engine, sha256_hex};
use gatehouse::runtime::guest::Limits;
use gatehouse::runtime::{Instantiable, Loaded};

#[path = "harness.rs"]
mod harness;

const VERSIONS: usize = 5_000;
const ROUNDS: usize = 5;

fn main() -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let engine = Engine::new(&scratch.path().join("compiled"))?;
    let (caps, runtime) = harness::runtime(&engine, scratch.path())?;
    let gate_policy = GatePolicy::parse(
        "policies:\n  default:\n    min-age: {min_age: 7d}\n    license: {deny: [AGPL-3.0]}\n    deny-list: {packages: [other]}\n    review: {require: false}\n",
    )
    .map_err(anyhow::Error::msg)?;
    let facts = harness::batch(VERSIONS);
    let context = harness::context();
    let runtime_tokio = tokio::runtime::Runtime::new()?;
    println!("{VERSIONS} versions per batch, best of {ROUNDS} rounds");
    let mut total = Duration::ZERO;
    for (name, bytes) in POLICIES {
        let (component, _) = engine.load(bytes, &sha256_hex(bytes))?;
        let policy = Loaded {
            name: (*name).into(),
            sha256: String::new(),
            pre: runtime.instantiate_pre(&component)?,
            reads: gatehouse::runtime::reads::Reads::all(),
            reads_advisories: gatehouse::runtime::imports_osv(&component),
        };
        let (controls, settings) = gate_policy.settings_for(name, "npm");
        let limits = Limits {
            timeout: Duration::from_secs(30),
            memory_bytes: controls.memory_bytes,
        };
        let generation = runtime.current();
        let best = runtime_tokio.block_on(async {
            let mut best = Duration::MAX;
            for _ in 0..ROUNDS {
                let started = Instant::now();
                let (verdicts, _) = evaluate_policy(
                    &generation.engine,
                    &caps,
                    &policy,
                    limits,
                    &settings,
                    &context,
                    &facts,
                )
                .await;
                let took = started.elapsed();
                verdicts.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                best = best.min(took);
            }
            anyhow::Ok(best)
        })?;
        total += best;
        println!(
            "{name:>16}: {:>8.2} ms per batch, {:>6.2} µs per version",
            best.as_secs_f64() * 1e3,
            best.as_secs_f64() * 1e6 / VERSIONS as f64
        );
    }
    println!(
        "{:>16}: {:>8.2} ms per batch, {:>6.2} µs per version ({:.2} µs per version per policy; goal ≤ 2)",
        "whole set",
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e6 / VERSIONS as f64,
        total.as_secs_f64() * 1e6 / VERSIONS as f64 / POLICIES.len() as f64
    );
    Ok(())
}
