//! `gatehouse policy test`: runs a policy component on JSON fixtures with the
//! production engine configuration and reports pass/fail and time per case.
//!
//! A fixture is one JSON file: `settings` (+ optional `ecosystem_settings`,
//! merged as the gate-policy file would), optional `context`, the
//! `advisories` the `osv` import answers, the `store` contents, the `facts`,
//! and the `expect`ed raw verdicts (`action`, optional `reason_contains` and
//! `advisories`).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::{Map, Value};

use crate::audit::AuditLog;
use crate::bindings::{Advisory, Context, Dependency, Digest, Purpose, Severity, VersionFacts};
use crate::capabilities::Capabilities;
use crate::capabilities::osv::FixedAdvisories;
use crate::capabilities::store::{HOST_NAMESPACE, KvStore};
use crate::gate::action_name;
use crate::gate_policy::GatePolicy;
use crate::runtime::engine::{Engine, sha256_hex};
use crate::runtime::guest::Limits;
use crate::runtime::{Instantiable, Layout, Runtime};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    #[serde(default)]
    description: String,
    #[serde(default)]
    settings: Map<String, Value>,
    #[serde(default)]
    ecosystem_settings: Option<Map<String, Value>>,
    #[serde(default)]
    context: Option<FixtureContext>,
    #[serde(default)]
    advisories: Vec<FixtureAdvisory>,
    #[serde(default)]
    store: HashMap<String, String>,
    facts: Vec<FixtureFacts>,
    expect: Vec<Expectation>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureContext {
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    now: Option<i64>,
    #[serde(default)]
    requester: Option<String>,
}

#[derive(serde::Deserialize)]
struct FixtureAdvisory {
    ecosystem: String,
    name: String,
    version: String,
    advisory: AdvisoryJson,
}

#[derive(serde::Deserialize)]
struct AdvisoryJson {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    malicious: Option<bool>,
    #[serde(default)]
    score: Option<f32>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    fixed: Vec<String>,
    #[serde(default)]
    modified: i64,
}

#[derive(serde::Deserialize)]
struct DigestJson {
    algorithm: String,
    hex: String,
}

#[derive(serde::Deserialize)]
struct DependencyJson {
    name: String,
    #[serde(default)]
    requirement: String,
    #[serde(default)]
    kind: String,
}

#[derive(serde::Deserialize)]
struct FixtureFacts {
    ecosystem: String,
    name: String,
    version: String,
    #[serde(default)]
    published: Option<i64>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    install_scripts: Vec<String>,
    #[serde(default)]
    deprecated: Option<String>,
    #[serde(default)]
    yanked: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    digests: Vec<DigestJson>,
    #[serde(default)]
    dependencies: Vec<DependencyJson>,
    #[serde(default)]
    raw: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    action: String,
    #[serde(default)]
    reason_contains: Vec<String>,
    #[serde(default)]
    advisories: Option<Vec<String>>,
}

fn severity(text: Option<&str>) -> Severity {
    match text.map(str::to_ascii_lowercase).as_deref() {
        Some("low") => Severity::Low,
        Some("medium" | "moderate") => Severity::Medium,
        Some("high") => Severity::High,
        Some("critical") => Severity::Critical,
        _ => Severity::Unknown,
    }
}

impl From<FixtureFacts> for VersionFacts {
    fn from(f: FixtureFacts) -> Self {
        VersionFacts {
            ecosystem: f.ecosystem,
            name: f.name,
            version: f.version,
            published: f.published,
            license: f.license,
            install_scripts: f.install_scripts,
            deprecated: f.deprecated,
            yanked: f.yanked,
            size: f.size,
            digests: f
                .digests
                .into_iter()
                .map(|d| Digest {
                    algorithm: d.algorithm,
                    hex: d.hex,
                })
                .collect(),
            dependencies: f
                .dependencies
                .into_iter()
                .map(|d| Dependency {
                    name: d.name,
                    requirement: d.requirement,
                    kind: d.kind,
                })
                .collect(),
            raw: f.raw.unwrap_or_else(|| "{}".into()),
        }
    }
}

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
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut results = Vec::new();
    for file in files {
        let label = file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&file)?;
        let fixture: Fixture = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a fixture", file.display()))?;

        let mut advisories = FixedAdvisories::default();
        for entry in fixture.advisories {
            let a = entry.advisory;
            advisories
                .0
                .entry((entry.ecosystem, entry.name, entry.version))
                .or_default()
                .push(Advisory {
                    malicious: a.malicious.unwrap_or(a.id.starts_with("MAL-")),
                    id: a.id,
                    aliases: a.aliases,
                    summary: a.summary,
                    score: a.score,
                    severity: severity(a.severity.as_deref()),
                    fixed: a.fixed,
                    modified: a.modified,
                });
        }
        let store = KvStore::default();
        for (key, value) in fixture.store {
            let (namespace, key) = match key.strip_prefix("gatehouse/") {
                Some(rest) => (HOST_NAMESPACE.to_owned(), rest.to_owned()),
                None => (name.to_string(), key),
            };
            store
                .set(&namespace, &key, value.into_bytes(), None)
                .map_err(anyhow::Error::msg)?;
        }
        let caps = Arc::new(Capabilities {
            osv: Arc::new(advisories),
            store: Arc::new(store),
            audit: audit.clone(),
        });
        let runtime = Runtime::new(engine.clone(), caps.clone(), layout.clone())?;
        let pre = runtime.instantiate_pre(&compiled)?;
        let facts: Vec<VersionFacts> = fixture.facts.into_iter().map(Into::into).collect();
        let ecosystem = facts
            .first()
            .map(|f| f.ecosystem.clone())
            .unwrap_or_default();
        let (controls, settings) = merged_settings(
            &name,
            &ecosystem,
            fixture.settings,
            fixture.ecosystem_settings,
        )?;
        let context = fixture.context.unwrap_or(FixtureContext {
            purpose: None,
            now: None,
            requester: None,
        });
        let context = Context {
            purpose: match context.purpose.as_deref() {
                Some("artifact") => Purpose::Artifact,
                Some("check") => Purpose::Check,
                _ => Purpose::Metadata,
            },
            now: context.now.unwrap_or(1_700_000_000),
            requester: context.requester,
        };
        let policy = crate::runtime::Loaded {
            name: name.clone(),
            sha256: String::new(),
            pre,
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
            Err(failure) => vec![format!("policy failed: {failure}")],
            Ok(verdicts) => compare(&fixture.expect, &verdicts),
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

fn merged_settings(
    policy: &str,
    ecosystem: &str,
    settings: Map<String, Value>,
    ecosystem_settings: Option<Map<String, Value>>,
) -> anyhow::Result<(crate::gate_policy::Controls, String)> {
    let mut sections = Map::new();
    sections.insert(
        "default".into(),
        Value::Object(Map::from_iter([(
            policy.to_owned(),
            Value::Object(settings),
        )])),
    );
    if let Some(overrides) = ecosystem_settings {
        let section = if ecosystem == "crates.io" {
            "cargo".to_owned()
        } else {
            ecosystem.to_lowercase()
        };
        sections.insert(
            section,
            Value::Object(Map::from_iter([(
                policy.to_owned(),
                Value::Object(overrides),
            )])),
        );
    }
    let file = serde_json::json!({ "policies": sections }).to_string();
    let gate_policy = GatePolicy::parse(&file).map_err(anyhow::Error::msg)?;
    Ok(gate_policy.settings_for(policy, ecosystem))
}

fn compare(expect: &[Expectation], verdicts: &[crate::bindings::Verdict]) -> Vec<String> {
    let mut failures = Vec::new();
    if expect.len() != verdicts.len() {
        failures.push(format!(
            "expected {} verdicts, got {}",
            expect.len(),
            verdicts.len()
        ));
    }
    for (i, (want, got)) in expect.iter().zip(verdicts).enumerate() {
        if want.action != action_name(got.action) {
            failures.push(format!(
                "#{i}: expected {}, got {} ({})",
                want.action,
                action_name(got.action),
                got.reason
            ));
        }
        for needle in &want.reason_contains {
            if !got.reason.contains(needle.as_str()) {
                failures.push(format!("#{i}: reason {:?} lacks {needle:?}", got.reason));
            }
        }
        // Advisory ids are a set: their order carries no meaning.
        if let Some(ids) = &want.advisories
            && ids.iter().collect::<BTreeSet<_>>() != got.advisories.iter().collect::<BTreeSet<_>>()
        {
            failures.push(format!(
                "#{i}: advisories {:?}, expected {ids:?}",
                got.advisories
            ));
        }
    }
    failures
}
