//! `gatehouse policy test`: runs a policy component on JSON fixtures with the
//! production engine configuration and reports pass/fail and time per case.
//!
//! The fixture format, and how a case is judged, are `gatehouse_fixtures`'
//! (the SDK's native runner reads the same files). The settings go through the
//! gate-policy file's own merge: `settings` as the `default` block and
//! `ecosystem_settings` as the block of the batch's ecosystem, so the host keeps
//! its keys (`timeout_ms`, `memory_mb` ...) and applies them as in production.

// A one-shot command (policy test).
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use gatehouse_fixtures::{Fixture, Observed};
use serde_json::{Map, Value};

use crate::bindings::{Context, VersionFacts};
use crate::capabilities::Capabilities;
use crate::capabilities::audit::AuditLog;
use crate::capabilities::osv::FixedAdvisories;
use crate::capabilities::store::{HOST_NAMESPACE, KvStore};
use crate::gate_policy::GatePolicy;
use crate::runtime::engine::{Engine, sha256_hex};
use crate::runtime::guest::Limits;
use crate::runtime::{Instantiable, Layout, Runtime};

gatehouse_fixtures::bindings_conversions!(crate::bindings);

/// The result of one fixture.
pub struct CaseResult {
    pub file: String,
    pub description: String,
    pub failures: Vec<String>,
    pub micros: u128,
    pub peak_memory: usize,
}

/// Runs every `*.json` fixture in `dir` against `component`; exit code 0 when all pass.
pub async fn run(component: &Path, dir: &Path) -> anyhow::Result<i32> {
    let results = run_all(component, dir).await?;
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    for result in &results {
        let status = if result.failures.is_empty() {
            "pass"
        } else {
            "FAIL"
        };
        println!(
            "{status} {} ({} µs, {} KiB) {}",
            result.file,
            result.micros,
            result.peak_memory >> 10,
            result.description
        );
        for failure in &result.failures {
            println!("     {failure}");
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(i32::from(failed > 0))
}

pub async fn run_all(component: &Path, dir: &Path) -> anyhow::Result<Vec<CaseResult>> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let name: Arc<str> = component
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("policy")
        .into();
    let scratch = tempfile::tempdir()?;
    let engine = Engine::new(&scratch.path().join("compiled"))?;
    let (compiled, _) = engine.load(&bytes, &sha256_hex(&bytes))?;
    let audit = Arc::new(AuditLog::open(&scratch.path().join("audit.log"))?);
    let layout = Layout {
        adapters_dir: scratch.path().join("adapters"),
        policies_dir: scratch.path().join("policies"),
        gate_policy: scratch.path().join("gate-policy.yaml"),
    };
    let files =
        gatehouse_fixtures::files(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut results = Vec::new();
    for file in files {
        let label = file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fixture =
            Fixture::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;

        let mut advisories = FixedAdvisories::default();
        for entry in &fixture.advisories {
            advisories
                .0
                .entry((
                    entry.ecosystem.clone(),
                    entry.name.clone(),
                    entry.version.clone(),
                ))
                .or_default()
                .push((&entry.advisory).into());
        }
        let store = KvStore::default();
        for (key, value) in &fixture.store {
            let (namespace, key) = match key.strip_prefix("gatehouse/") {
                Some(rest) => (HOST_NAMESPACE, rest),
                None => (&*name, key.as_str()),
            };
            store
                .set(namespace, key, value.clone().into_bytes(), None)
                .map_err(anyhow::Error::msg)?;
        }
        let caps = Arc::new(Capabilities {
            osv: Arc::new(advisories),
            store: Arc::new(store),
            audit: audit.clone(),
            exceptions: Default::default(),
            bounds: Default::default(),
        });
        let runtime = Runtime::new(engine.clone(), caps.clone(), layout.clone())?;
        let pre = runtime.instantiate_pre(&compiled)?;
        let facts: Vec<VersionFacts> = fixture.facts.iter().map(Into::into).collect();
        let ecosystem = facts.first().map_or("", |f| f.ecosystem.as_str());
        let (controls, settings) = merged_settings(&name, ecosystem, &fixture)?;
        let context = Context::from(&fixture.context);
        let policy = crate::runtime::Loaded {
            name: name.clone(),
            sha256: String::new(),
            pre,
            reads: crate::runtime::reads::Reads::all(),
            reads_advisories: crate::runtime::imports_osv(&compiled),
        };
        let limits = Limits {
            timeout: controls.timeout,
            memory_bytes: controls.memory_bytes,
        };
        let started = Instant::now();
        let (outcome, peak_memory) = crate::gate::evaluate_policy(
            &runtime.current().engine,
            &caps,
            &policy,
            limits,
            &settings,
            &context,
            &facts,
        )
        .await;
        let micros = started.elapsed().as_micros();
        let failures = match outcome {
            Err(crate::runtime::guest::GuestFailure::Guest(error)) => fixture.check_error(&error),
            Err(failure) => vec![format!("policy failed: {failure}")],
            Ok(verdicts) => fixture.check(&verdicts.iter().map(Observed::from).collect::<Vec<_>>()),
        };
        results.push(CaseResult {
            file: label,
            description: fixture.description,
            failures,
            micros,
            peak_memory,
        });
    }
    Ok(results)
}

/// The host's controls and the policy's settings as a gate-policy file holding
/// the fixture's blocks would give them.
fn merged_settings(
    policy: &str,
    ecosystem: &str,
    fixture: &Fixture,
) -> anyhow::Result<(crate::gate_policy::Controls, String)> {
    let block = |settings: &Option<Map<String, Value>>| {
        let settings = settings.clone().unwrap_or_default();
        Value::Object(Map::from_iter([(
            policy.to_owned(),
            Value::Object(settings),
        )]))
    };
    let mut sections = Map::new();
    sections.insert("default".into(), block(&fixture.settings));
    if fixture.ecosystem_settings.is_some() {
        let section = if ecosystem == "crates.io" {
            "cargo".to_owned()
        } else {
            ecosystem.to_lowercase()
        };
        sections.insert(section, block(&fixture.ecosystem_settings));
    }
    let file = serde_json::json!({ "policies": sections }).to_string();
    let gate_policy = GatePolicy::parse(&file).map_err(anyhow::Error::msg)?;
    Ok(gate_policy.settings_for(policy, ecosystem))
}
