//! `min-age`: holds back versions published too recently, so a malicious release
//! has time to be reported before anyone installs it.
//!
//! Settings:
//! - `min_age`: how old a version must be (`48h`, `7d`, `1w 2d`); absent = off.
//! - `exempt`: `name` or `name@version` entries the rule does not apply to (npm
//!   scopes as written: `@scope/name@1.2.0`; names compare as the ecosystem's
//!   registry does: PyPI by PEP 503, crates.io with `-` as `_` in any case).
//!
//! Age is `context.now` minus the version's publish time, for every purpose
//! alike (metadata, artifact, check). A version without a publish time warns:
//! its age cannot be checked, but refusing every such version would break
//! registries that do not record one. Unknown keys are refused: a misspelt
//! `min_age` would silently turn the rule off.

use std::time::{Duration, SystemTime};

use gatehouse_sdk::names::{PackageSpec, same_package};
use gatehouse_sdk::{Context, Policy, Verdict, Verdicts, VersionFacts, duration, version};

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub min_age: Option<String>,
    pub exempt: Vec<String>,
}

/// Whether the `exempt` entry `exempt` covers this version: the package, or
/// the one version it names.
fn covers(exempt: &PackageSpec, facts: &VersionFacts) -> bool {
    same_package(&facts.ecosystem, exempt.name, &facts.name)
        && exempt.version.is_none_or(|listed| {
            listed == facts.version
                || version::compare(&facts.ecosystem, listed, &facts.version)
                    .is_ok_and(|order| order.is_eq())
        })
}

pub struct MinAge;

impl Policy for MinAge {
    type Settings = Settings;

    fn evaluate(settings: &Settings, context: &Context, facts: &[VersionFacts]) -> Verdicts {
        let Some(min_age_text) = settings.min_age.as_deref() else {
            return Ok(facts.iter().map(|_| Verdict::allow()).collect());
        };
        let min_age =
            duration::parse(min_age_text).map_err(|e| format!("min-age policy: `min_age`: {e}"))?;
        let rule = Rule {
            min_age_text: min_age_text.trim(),
            min_age_secs: i64::try_from(min_age.as_secs()).unwrap_or(i64::MAX),
            exemptions: settings
                .exempt
                .iter()
                .map(|e| PackageSpec::parse(e))
                .collect(),
            now: context.now,
        };
        Ok(facts.iter().map(|facts| rule.check(facts)).collect())
    }
}

/// The settings, compiled once per batch.
struct Rule<'a> {
    min_age_text: &'a str,
    min_age_secs: i64,
    exemptions: Vec<PackageSpec<'a>>,
    now: i64,
}

impl Rule<'_> {
    fn check(&self, facts: &VersionFacts) -> Verdict {
        if self.exemptions.iter().any(|e| covers(e, facts)) {
            return Verdict::allow();
        }
        let Some(published) = facts.published else {
            return Verdict::warn(format!(
                "{} {} has no publish time upstream, so this registry cannot check it is older than the {} minimum age; prefer a version with a known release date, or ask for an exemption if you trust it",
                facts.name, facts.version, self.min_age_text
            ));
        };
        let age = self.now.saturating_sub(published);
        if age >= self.min_age_secs {
            return Verdict::allow();
        }
        let subject = format!("{} {}", facts.name, facts.version);
        let when = if age < 0 {
            format!(
                "carries a publish time in the future ({})",
                timestamp(published)
            )
        } else {
            format!(
                "was published {} ago ({})",
                rounded(age),
                timestamp(published)
            )
        };
        Verdict::block(format!(
            "{subject} {when}; this registry serves releases only once they are {} old, so that malicious releases are caught first — use an earlier version, retry after {}, or ask for an exemption",
            self.min_age_text,
            timestamp(published.saturating_add(self.min_age_secs))
        ))
    }
}

/// `seconds` as the gate-policy file writes durations: `2d 5h 12m`, `45s`
/// (minutes are precise enough once past a minute).
fn rounded(seconds: i64) -> String {
    if seconds < 60 {
        return format!("{seconds}s");
    }
    let parts = [
        (seconds / 86_400, "d"),
        (seconds % 86_400 / 3600, "h"),
        (seconds % 3600 / 60, "m"),
    ];
    parts
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, unit)| format!("{count}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds since the epoch as an RFC 3339 UTC time.
fn timestamp(seconds: i64) -> String {
    let since_epoch = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + since_epoch).to_string()
}

gatehouse_sdk::export_policy!(MinAge, reads: []);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use gatehouse_sdk::testing::{evaluate, facts};
    use gatehouse_sdk::{Action, Purpose};

    const NOW: i64 = 1_700_000_000;
    const HOUR: i64 = 3600;

    fn published(ecosystem: &str, name: &str, version: &str, at: Option<i64>) -> VersionFacts {
        let mut f = facts(ecosystem, name, version);
        f.published = at;
        f
    }

    fn verdicts(settings: &str, batch: &[VersionFacts]) -> Vec<Verdict> {
        evaluate::<MinAge>(settings, batch).expect("evaluates")
    }

    #[test]
    fn too_young_blocks_old_enough_allows() {
        let batch = [
            published("npm", "left-pad", "1.0.0", Some(NOW - 5 * HOUR - 720)),
            published("npm", "left-pad", "0.9.0", Some(NOW - 48 * HOUR)),
            published("npm", "left-pad", "0.8.0", Some(NOW - 400 * HOUR)),
        ];
        let got = verdicts(r#"{"min_age": "48h"}"#, &batch);
        let actions: Vec<_> = got.iter().map(|v| v.action).collect();
        assert_eq!(actions, [Action::Block, Action::Allow, Action::Allow]);
        assert_eq!(
            got[0].reason,
            "left-pad 1.0.0 was published 5h 12m ago (2023-11-14T17:01:20Z); this registry serves releases only once they are 48h old, so that malicious releases are caught first — use an earlier version, retry after 2023-11-16T17:01:20Z, or ask for an exemption"
        );
    }

    #[test]
    fn off_unless_configured() {
        let batch = [published("npm", "x", "1.0.0", Some(NOW))];
        assert_eq!(verdicts("", &batch)[0].action, Action::Allow);
        assert_eq!(verdicts("{}", &batch)[0].action, Action::Allow);
    }

    #[test]
    fn missing_publish_time_warns() {
        let got = verdicts(
            r#"{"min_age": "7d"}"#,
            &[published("Go", "m", "v1.0.0", None)],
        );
        assert_eq!(got[0].action, Action::Warn);
        assert!(
            got[0].reason.contains("older than the 7d minimum age"),
            "{}",
            got[0].reason
        );
    }

    #[test]
    fn future_publish_times_block() {
        let got = verdicts(
            r#"{"min_age": "1h"}"#,
            &[published("npm", "x", "1.0.0", Some(NOW + 60))],
        );
        assert_eq!(got[0].action, Action::Block);
        assert!(
            got[0].reason.contains("publish time in the future"),
            "{}",
            got[0].reason
        );
    }

    #[test]
    fn exemptions_by_name_or_version() {
        let settings =
            r#"{"min_age": "48h", "exempt": ["@acme/tool", "Django@5.0", "lodash@4.17.21"]}"#;
        let batch = [
            published("npm", "@acme/tool", "1.0.0", Some(NOW)),
            published("PyPI", "django", "5.0.0", Some(NOW)),
            published("PyPI", "django", "5.0.1", Some(NOW)),
            published("npm", "lodash", "4.17.21", Some(NOW)),
            published("npm", "lodash", "4.17.22", Some(NOW)),
        ];
        let actions: Vec<_> = verdicts(settings, &batch)
            .iter()
            .map(|v| v.action)
            .collect();
        use Action::{Allow, Block};
        assert_eq!(actions, [Allow, Allow, Block, Allow, Block]);
    }

    #[test]
    fn every_purpose_alike() {
        for purpose in [Purpose::Metadata, Purpose::Artifact, Purpose::Check] {
            let context = Context {
                purpose,
                now: NOW,
                requester: None,
            };
            let got = gatehouse_sdk::run::<MinAge>(
                r#"{"min_age": "48h"}"#,
                &context,
                &[published("npm", "x", "1.0.0", Some(NOW - HOUR))],
            )
            .expect("evaluates");
            assert_eq!(got[0].action, Action::Block);
        }
    }

    #[test]
    fn bad_settings_fail_the_batch() {
        assert!(evaluate::<MinAge>(r#"{"min_age": "soon"}"#, &[]).is_err());
        assert!(evaluate::<MinAge>(r#"{"minage": "48h"}"#, &[]).is_err());
    }
}
