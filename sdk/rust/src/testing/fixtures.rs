//! Runs a policy's fixture files natively, on the mock host. The format is
//! [`gatehouse_fixtures`]'s, which `gatehouse policy test` reads too, so every
//! case is checked both here and in the production engine.

// Runs in a policy's own tests: reading fixture files directly is the point.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

use gatehouse_fixtures::{Fixture, Observed};

use super::MockHost;
use crate::{Context, Policy, VersionFacts};

gatehouse_fixtures::bindings_conversions!(crate);

/// Runs every `*.json` case in `dir` through policy `P` on a [`MockHost`] and
/// panics listing every mismatch (file, description, version, what differed).
///
/// ```ignore
/// #[test]
/// fn fixtures() {
///     gatehouse_sdk::testing::run_fixtures::<MyPolicy>(std::path::Path::new(concat!(
///         env!("CARGO_MANIFEST_DIR"),
///         "/fixtures"
///     )));
/// }
/// ```
pub fn run_fixtures<P: Policy>(dir: &Path) {
    let paths = gatehouse_fixtures::files(dir)
        .unwrap_or_else(|e| panic!("reading fixtures in {}: {e}", dir.display()));
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
    let fixture = Fixture::read(path)?;
    let mut host = MockHost::default();
    for affecting in &fixture.advisories {
        host = host.advisory(
            &affecting.ecosystem,
            &affecting.name,
            &affecting.version,
            (&affecting.advisory).into(),
        );
    }
    for (key, value) in &fixture.store {
        host = host.stored(key, value.as_str());
    }
    host.install();

    let facts: Vec<VersionFacts> = fixture.facts.iter().map(Into::into).collect();
    let description = &fixture.description;
    let verdicts = crate::run::<P>(
        &fixture.effective_settings(),
        &Context::from(&fixture.context),
        &facts,
    );
    let problems = match &verdicts {
        Ok(verdicts) => {
            let observed: Vec<Observed> = verdicts.iter().map(Into::into).collect();
            fixture.check(&observed)
        }
        Err(error) => fixture.check_error(error),
    };
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{description:?}:\n  {}", problems.join("\n  ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Verdict, host};

    /// Blocks every version, saying what it was given: settings, clock, store, facts.
    struct BlockAll;

    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        #[serde(default)]
        word: String,
    }

    impl Policy for BlockAll {
        type Settings = Settings;

        fn check(settings: &Settings, context: &Context, facts: &VersionFacts) -> Verdict {
            let versions = std::slice::from_ref(&facts.version);
            let advisories = host::osv_affecting(&facts.ecosystem, &facts.name, versions);
            let stored = host::store_get("gatehouse/note").unwrap_or_default();
            Verdict::block(format!(
                "{} {} at {} {}{}",
                facts.version,
                settings.word,
                context.now,
                String::from_utf8_lossy(&stored),
                facts.raw
            ))
            .advisories(advisories.concat().into_iter().map(|a| a.id))
        }
    }

    fn run(case: &str) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("case.json"), case).expect("fixture written");
        run_fixtures::<BlockAll>(dir.path());
    }

    const CASE: &str = r#"{"description": "d",
        "settings": {"word": "default", "mode": "dry-run"},
        "ecosystem_settings": {"word": "npm", "timeout_ms": 9},
        "context": {"now": 42},
        "advisories": [{"ecosystem": "npm", "name": "a", "version": "1.0.0", "advisory": {"id": "GHSA-1"}}],
        "store": {"gatehouse/note": "noted"},
        "facts": [{"ecosystem": "npm", "name": "a", "version": "1.0.0", "raw": "{\"x\":1}"}],
        "expect": [{"action": "block", "reason_contains": ["EXPECTED"], "advisories": ["GHSA-1"]}]}"#;

    #[test]
    fn the_mock_host_answers_as_the_case_says() {
        run(&CASE.replace("EXPECTED", r#"1.0.0 npm at 42 noted{\"x\":1}"#));
    }

    #[test]
    #[should_panic(expected = "does not contain \"2.0.0\"")]
    fn mismatches_fail_with_the_difference() {
        run(&CASE.replace("EXPECTED", "2.0.0"));
    }

    #[test]
    #[should_panic(expected = "unknown field `expects`")]
    fn misspelt_keys_fail() {
        run(&CASE.replace("\"expect\"", "\"expects\""));
    }

    #[test]
    #[should_panic(expected = "no fixtures in")]
    fn an_empty_directory_fails() {
        run_fixtures::<BlockAll>(tempfile::tempdir().expect("temp dir").path());
    }
}
