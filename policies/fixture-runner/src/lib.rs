//! Runs a policy's fixture files (the format `gatehouse policy test` reads) under
//! `cargo test`, so every fixture is also checked natively.
//!
//! A fixture is one JSON case: the policy block (`settings`, merged with
//! `ecosystem_settings` key by key, the ecosystem winning, then stripped of the
//! host-level keys as the host does), an optional context, the advisories and
//! store entries the mock host answers with, one batch of facts, and the
//! expected verdict per version.
//!
//! ```ignore
//! #[test]
//! fn fixtures() {
//!     gatehouse_policy_fixtures::run_fixtures::<MyPolicy>(
//!         std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")),
//!     );
//! }
//! ```
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use gatehouse_sdk::testing::MockHost;
use gatehouse_sdk::{
    Action, Advisory, Context, Dependency, Digest, Policy, Purpose, Severity, Verdict, VersionFacts,
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Keys of a policy block that the host consumes and never passes to the policy.
pub const HOST_KEYS: [&str; 4] = ["mode", "on_error", "timeout_ms", "memory_mb"];

/// The clock fixtures run at unless their context says otherwise.
pub const DEFAULT_NOW: i64 = 1_700_000_000;

/// One case file. Unknown keys are refused: a misspelt `expect` must not pass.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    description: String,
    #[serde(default)]
    settings: Option<Map<String, Value>>,
    #[serde(default)]
    ecosystem_settings: Option<Map<String, Value>>,
    #[serde(default)]
    context: FixtureContext,
    #[serde(default)]
    advisories: Vec<AffectingAdvisory>,
    #[serde(default)]
    store: BTreeMap<String, String>,
    facts: Vec<FixtureFacts>,
    expect: Vec<Expectation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FixtureContext {
    purpose: FixturePurpose,
    now: i64,
    requester: Option<String>,
}

impl Default for FixtureContext {
    fn default() -> Self {
        FixtureContext {
            purpose: FixturePurpose::Metadata,
            now: DEFAULT_NOW,
            requester: None,
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum FixturePurpose {
    Metadata,
    Artifact,
    Check,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AffectingAdvisory {
    ecosystem: String,
    name: String,
    version: String,
    advisory: FixtureAdvisory,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureAdvisory {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    malicious: bool,
    #[serde(default)]
    score: Option<f32>,
    #[serde(default)]
    severity: FixtureSeverity,
    #[serde(default)]
    fixed: Vec<String>,
    #[serde(default)]
    modified: i64,
}

#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum FixtureSeverity {
    #[default]
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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
    digests: Vec<FixtureDigest>,
    #[serde(default)]
    dependencies: Vec<FixtureDependency>,
    #[serde(default)]
    raw: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureDigest {
    algorithm: String,
    hex: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureDependency {
    name: String,
    requirement: String,
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    action: FixtureAction,
    #[serde(default)]
    reason_contains: Vec<String>,
    #[serde(default)]
    advisories: Option<Vec<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "lowercase")]
enum FixtureAction {
    Allow,
    Warn,
    Block,
}

impl From<FixturePurpose> for Purpose {
    fn from(purpose: FixturePurpose) -> Self {
        match purpose {
            FixturePurpose::Metadata => Purpose::Metadata,
            FixturePurpose::Artifact => Purpose::Artifact,
            FixturePurpose::Check => Purpose::Check,
        }
    }
}

impl From<FixtureSeverity> for Severity {
    fn from(severity: FixtureSeverity) -> Self {
        match severity {
            FixtureSeverity::Unknown => Severity::Unknown,
            FixtureSeverity::Low => Severity::Low,
            FixtureSeverity::Medium => Severity::Medium,
            FixtureSeverity::High => Severity::High,
            FixtureSeverity::Critical => Severity::Critical,
        }
    }
}

impl From<FixtureAction> for Action {
    fn from(action: FixtureAction) -> Self {
        match action {
            FixtureAction::Allow => Action::Allow,
            FixtureAction::Warn => Action::Warn,
            FixtureAction::Block => Action::Block,
        }
    }
}

impl From<FixtureAdvisory> for Advisory {
    fn from(a: FixtureAdvisory) -> Self {
        Advisory {
            id: a.id,
            aliases: a.aliases,
            summary: a.summary,
            malicious: a.malicious,
            score: a.score,
            severity: a.severity.into(),
            fixed: a.fixed,
            modified: a.modified,
        }
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

/// The settings document the host would pass: `settings` with `ecosystem_settings`
/// laid over it key by key, minus the host-level keys.
pub fn effective_settings(
    settings: Option<Map<String, Value>>,
    ecosystem_settings: Option<Map<String, Value>>,
) -> String {
    let mut merged = settings.unwrap_or_default();
    merged.extend(ecosystem_settings.unwrap_or_default());
    for key in HOST_KEYS {
        merged.remove(key);
    }
    Value::Object(merged).to_string()
}

/// Runs every `*.json` case in `dir` through policy `P` on a mock host and
/// panics with every mismatch found (file, description, version, what differed).
pub fn run_fixtures<P: Policy>(dir: &Path) {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading fixtures in {}: {e}", dir.display()))
        .map(|entry| entry.expect("fixture directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());

    let failures: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            run_fixture::<P>(path)
                .err()
                .map(|e| format!("{}: {e}", path.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}

fn run_fixture<P: Policy>(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
    let fixture: Fixture =
        serde_json::from_str(&text).map_err(|e| format!("not a fixture: {e}"))?;

    let mut host = MockHost::default();
    for affecting in fixture.advisories {
        host = host.advisory(
            &affecting.ecosystem,
            &affecting.name,
            &affecting.version,
            affecting.advisory.into(),
        );
    }
    for (key, value) in fixture.store {
        host = host.stored(&key, value);
    }
    host.install();

    let context = Context {
        purpose: fixture.context.purpose.into(),
        now: fixture.context.now,
        requester: fixture.context.requester,
    };
    let facts: Vec<VersionFacts> = fixture.facts.into_iter().map(Into::into).collect();
    let settings = effective_settings(fixture.settings, fixture.ecosystem_settings);
    let description = &fixture.description;

    let verdicts = gatehouse_sdk::run::<P>(&settings, &context, &facts)
        .map_err(|e| format!("{description:?}: the policy failed the batch: {e}"))?;
    if verdicts.len() != fixture.expect.len() {
        return Err(format!(
            "{description:?}: {} verdicts, {} expected",
            verdicts.len(),
            fixture.expect.len()
        ));
    }
    let mut mismatches = String::new();
    for ((verdict, expected), facts) in verdicts.iter().zip(&fixture.expect).zip(&facts) {
        for problem in compare(verdict, expected) {
            let _ = write!(
                mismatches,
                "\n  {description:?}, {}@{}: {problem}",
                facts.name, facts.version
            );
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches)
    }
}

/// What differs between a verdict and its expectation, one line each.
fn compare(verdict: &Verdict, expected: &Expectation) -> Vec<String> {
    let mut problems = Vec::new();
    if verdict.action != Action::from(expected.action) {
        problems.push(format!(
            "action {:?}, expected {:?} (reason: {:?})",
            verdict.action, expected.action, verdict.reason
        ));
    }
    if verdict.action != Action::Allow && verdict.reason.trim().is_empty() {
        problems.push("a warn or block must carry a reason".into());
    }
    for needle in &expected.reason_contains {
        if !verdict.reason.contains(needle.as_str()) {
            problems.push(format!(
                "reason {:?} does not contain {needle:?}",
                verdict.reason
            ));
        }
    }
    if let Some(ids) = &expected.advisories {
        let (mut got, mut want) = (verdict.advisories.clone(), ids.clone());
        got.sort();
        want.sort();
        if got != want {
            problems.push(format!("advisories {got:?}, expected {want:?}"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystem_block_wins_and_host_keys_are_stripped() {
        let settings = serde_json::json!({"mode": "dry-run", "action": "warn", "on_error": "allow", "ignore": ["A"]});
        let ecosystem = serde_json::json!({"action": "block", "timeout_ms": 5});
        let merged = effective_settings(
            settings.as_object().cloned(),
            ecosystem.as_object().cloned(),
        );
        assert_eq!(
            serde_json::from_str::<Value>(&merged).expect("json"),
            serde_json::json!({"action": "block", "ignore": ["A"]})
        );
        assert_eq!(effective_settings(None, None), "{}");
    }

    /// Blocks every version, naming its version in the reason.
    struct BlockAll;

    #[derive(Deserialize, Default)]
    struct NoSettings {}

    impl Policy for BlockAll {
        type Settings = NoSettings;

        fn check(_: &NoSettings, _: &Context, facts: &VersionFacts) -> Verdict {
            Verdict::block(format!("{} is blocked", facts.version))
        }
    }

    fn fixture_dir(name: &str, case: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gatehouse-fixtures-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("case.json"), case).expect("fixture written");
        dir
    }

    const CASE: &str = r#"{"description": "d", "settings": null,
        "facts": [{"ecosystem": "npm", "name": "a", "version": "1.0.0"}],
        "expect": [{"action": "block", "reason_contains": ["EXPECTED"]}]}"#;

    #[test]
    fn matching_cases_pass() {
        run_fixtures::<BlockAll>(&fixture_dir("pass", &CASE.replace("EXPECTED", "1.0.0")));
    }

    #[test]
    #[should_panic(expected = "does not contain \"2.0.0\"")]
    fn mismatches_fail_with_the_difference() {
        run_fixtures::<BlockAll>(&fixture_dir("fail", &CASE.replace("EXPECTED", "2.0.0")));
    }

    #[test]
    #[should_panic(expected = "unknown field `expects`")]
    fn misspelt_keys_fail() {
        run_fixtures::<BlockAll>(&fixture_dir("typo", &CASE.replace("expect", "expects")));
    }
}
