//! The SDK languages side by side: each template (`sdk/<lang>/template`, the
//! same example rule) is written by `gatehouse policy new`, built by
//! `gatehouse policy build` with its own toolchain, and measured in the
//! production engine: component size, first compile, load from the compile
//! cache (a restart), instantiation, and a call on a batch of 1,000 versions.
//! A language whose toolchain is missing is reported and skipped. JavaScript
//! is measured on both routes: componentize-qjs (the template's `build`) and
//! componentize-js (`build:spidermonkey`). Prints the table of `sdk/README.md`.

// Tests and benchmarks prepare and inspect files directly.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gatehouse::capabilities::CallScope;
use gatehouse::gate::evaluate_policy;
use gatehouse::runtime::engine::{Engine, sha256_hex};
use gatehouse::runtime::guest::{Limits, new_store};
use gatehouse::runtime::{Instantiable, Loaded, LoadedPolicy};

#[path = "harness.rs"]
mod harness;

const VERSIONS: usize = 1_000;
const ROUNDS: usize = 20;
const SETTINGS: &str = r#"{"blocked_names": ["evil-*"], "min_age_days": 3}"#;

/// Runs `command`, describing the failure when it does not succeed.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("{:?}: {e}", command.get_program()))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let last = said.lines().last().unwrap_or_default();
    Err(format!("{:?} failed: {last}", command.get_program()))
}

/// Writes and builds the template for `lang` in `dir`; returns the component.
fn build(lang: &str, dir: &Path) -> Result<PathBuf, String> {
    let gatehouse = env!("CARGO_BIN_EXE_gatehouse");
    let name = format!("bench-{lang}");
    run(Command::new(gatehouse)
        .args(["policy", "new", &name, "--lang", lang, "--dir"])
        .arg(dir))?;
    let project = dir.join(&name);
    run(Command::new(gatehouse)
        .args(["policy", "build"])
        .arg(&project))?;
    Ok(project.join(format!("{name}.wasm")))
}

struct Row {
    label: String,
    size: usize,
    first_compile: Duration,
    cached_load: Duration,
    instantiate: Duration,
    call: Duration,
}

fn measure(label: &str, wasm: &Path, tokio: &tokio::runtime::Runtime) -> anyhow::Result<Row> {
    let bytes = std::fs::read(wasm)?;
    let scratch = tempfile::tempdir()?;
    let cache = scratch.path().join("compiled");
    let digest = sha256_hex(&bytes);
    let started = Instant::now();
    Engine::new(&cache)?.load(&bytes, &digest)?;
    let first_compile = started.elapsed();
    // A new engine, as after a restart.
    let engine = Engine::new(&cache)?;
    let started = Instant::now();
    let (component, info) = engine.load(&bytes, &digest)?;
    let cached_load = started.elapsed();
    anyhow::ensure!(info.from_cache, "{label} did not load from the cache");

    let (caps, runtime) = harness::runtime(&engine, scratch.path())?;
    let policy: LoadedPolicy = Loaded {
        name: label.into(),
        sha256: digest,
        pre: runtime.instantiate_pre(&component)?,
        reads: gatehouse::runtime::reads::Reads::all(),
        reads_advisories: gatehouse::runtime::imports_osv(&component),
    };
    let limits = Limits {
        timeout: Duration::from_secs(30),
        memory_bytes: 512 << 20,
    };
    let generation = runtime.current();
    let context = harness::context();
    let facts = harness::batch(VERSIONS);
    tokio.block_on(async {
        let mut instantiate = Duration::MAX;
        let mut call = Duration::MAX;
        for _ in 0..ROUNDS {
            let mut store = new_store(
                &generation.engine,
                caps.clone(),
                CallScope::Policy,
                policy.name.clone(),
                None,
                limits,
            );
            let started = Instant::now();
            policy.pre.instantiate_async(&mut store).await?;
            instantiate = instantiate.min(started.elapsed());

            let started = Instant::now();
            let (verdicts, _) = evaluate_policy(
                &generation.engine,
                &caps,
                &policy,
                limits,
                SETTINGS,
                &context,
                &facts,
            )
            .await;
            let took = started.elapsed();
            verdicts.map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            call = call.min(took.saturating_sub(instantiate));
        }
        Ok(Row {
            label: label.to_owned(),
            size: bytes.len(),
            first_compile,
            cached_load,
            instantiate,
            call,
        })
    })
}

fn main() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let mut rows = Vec::new();
    for lang in ["rust", "c", "js", "python"] {
        let wasm = match build(lang, work.path()) {
            Ok(wasm) => wasm,
            Err(problem) => {
                println!("{lang}: skipped ({problem})");
                continue;
            }
        };
        let label = if lang == "js" {
            "js (componentize-qjs)"
        } else {
            lang
        };
        rows.push(measure(label, &wasm, &tokio)?);
        if lang == "js" {
            let project = wasm.parent().expect("in its project");
            match run(Command::new("npm")
                .args(["run", "build:spidermonkey"])
                .current_dir(project))
            {
                Ok(()) => rows.push(measure("js (componentize-js)", &wasm, &tokio)?),
                Err(problem) => println!("js (componentize-js): skipped ({problem})"),
            }
        }
    }
    println!(
        "\n| language | component | first compile | cached load | instantiate | call, {VERSIONS} versions | per version |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {:.0} KB | {:.0} ms | {:.1} ms | {:.0} µs | {:.2} ms | {:.2} µs |",
            row.label,
            row.size as f64 / 1000.0,
            row.first_compile.as_secs_f64() * 1e3,
            row.cached_load.as_secs_f64() * 1e3,
            row.instantiate.as_secs_f64() * 1e6,
            row.call.as_secs_f64() * 1e3,
            row.call.as_secs_f64() * 1e6 / VERSIONS as f64,
        );
    }
    Ok(())
}
