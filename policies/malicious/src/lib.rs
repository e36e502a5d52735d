//! `malicious`: refuses versions that an OSV malicious-package report (`MAL-` ids)
//! names.
//!
//! Settings: `action` — `block` (the default) or `warn`. Unknown keys are
//! accepted: the only key defaults to the strictest choice, so a misspelling
//! cannot weaken the rule. One OSV query per package in the batch.
//!
//! While the mirror's data for the ecosystem is missing or stale, the host
//! applies the gate-policy key `on_stale` (`block | warn | allow`, default
//! `warn`) to this policy's verdicts: it imports `osv`, so the host knows its
//! answers are only as current as the mirror.

use gatehouse_sdk::host::osv_affecting_batch;
use gatehouse_sdk::text::excerpt;
use gatehouse_sdk::{Action, Advisory, Context, OnMatch, Policy, Verdict, Verdicts, VersionFacts};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub action: OnMatch,
}

/// Longest advisory summary quoted in a reason, in characters.
const SUMMARY_CHARS: usize = 120;

pub struct Malicious;

impl Policy for Malicious {
    type Settings = Settings;

    fn evaluate(settings: &Settings, _: &Context, facts: &[VersionFacts]) -> Verdicts {
        let affecting = osv_affecting_batch(facts)?;
        Ok(facts
            .iter()
            .zip(&affecting)
            .map(|(facts, advisories)| verdict(settings.action.into(), facts, advisories))
            .collect())
    }
}

fn verdict(action: Action, facts: &VersionFacts, advisories: &[Advisory]) -> Verdict {
    let reports: Vec<&Advisory> = advisories.iter().filter(|a| a.malicious).collect();
    let Some(first) = reports.first() else {
        return Verdict::allow();
    };
    let ids: Vec<&str> = reports.iter().map(|a| a.id.as_str()).collect();
    let summary = first.summary.trim();
    let quoted = if summary.is_empty() {
        String::new()
    } else {
        format!(" ({:?})", excerpt(summary, SUMMARY_CHARS))
    };
    let verb = if ids.len() == 1 { "reports" } else { "report" };
    Verdict::act(
        action,
        format!(
            "{} {verb} {} {} as malicious{quoted}; do not install it: pin a version without a report or drop the package, and rotate the credentials of any machine that already installed it",
            ids.join(", "),
            facts.name,
            facts.version
        ),
    )
    .advisories(ids)
}

gatehouse_sdk::export_policy!(Malicious, reads: []);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use gatehouse_sdk::Severity;
    use gatehouse_sdk::testing::{MockHost, advisory, evaluate, facts};

    fn batch(versions: &[&str]) -> Vec<VersionFacts> {
        versions.iter().map(|v| facts("npm", "chalk", v)).collect()
    }

    #[test]
    fn blocks_only_versions_with_a_malicious_report() {
        MockHost::default()
            .advisory(
                "npm",
                "chalk",
                "5.6.1",
                advisory("MAL-2025-46969", Severity::Critical, None),
            )
            .advisory(
                "npm",
                "chalk",
                "5.6.0",
                advisory("GHSA-aaaa-bbbb-cccc", Severity::High, Some(7.5)),
            )
            .install();
        let verdicts =
            evaluate::<Malicious>("", &batch(&["5.6.0", "5.6.1", "5.6.2"])).expect("evaluates");
        assert_eq!(MockHost::current().osv_calls, 1, "one query for the batch");
        let actions: Vec<_> = verdicts.iter().map(|v| v.action).collect();
        assert_eq!(actions, [Action::Allow, Action::Block, Action::Allow]);
        assert_eq!(verdicts[1].advisories, ["MAL-2025-46969"]);
        assert!(
            verdicts[1]
                .reason
                .starts_with("MAL-2025-46969 reports chalk 5.6.1 as malicious (\"MAL-2025-46969 summary\"); do not install it"),
            "{}",
            verdicts[1].reason
        );
        assert!(verdicts[1].rule.is_empty());
    }

    #[test]
    fn action_warn_and_unknown_keys() {
        MockHost::default()
            .advisory(
                "npm",
                "chalk",
                "5.6.1",
                advisory("MAL-1", Severity::Unknown, None),
            )
            .install();
        let verdicts =
            evaluate::<Malicious>(r#"{"action": "warn", "note": "x"}"#, &batch(&["5.6.1"]))
                .expect("evaluates");
        assert_eq!(verdicts[0].action, Action::Warn);
        assert!(evaluate::<Malicious>(r#"{"action": "alow"}"#, &[]).is_err());
    }

    #[test]
    fn long_summaries_are_cut() {
        let mut report = advisory("MAL-1", Severity::Unknown, None);
        report.summary = "é".repeat(200);
        MockHost::default()
            .advisory("npm", "chalk", "5.6.1", report)
            .install();
        let verdicts = evaluate::<Malicious>("", &batch(&["5.6.1"])).expect("evaluates");
        assert!(
            verdicts[0]
                .reason
                .contains(&format!("(\"{}…\")", "é".repeat(120))),
            "{}",
            verdicts[0].reason
        );
    }

    #[test]
    fn empty_batch_asks_nothing() {
        MockHost::default().install();
        assert_eq!(evaluate::<Malicious>("", &[]), Ok(Vec::new()));
        assert_eq!(MockHost::current().osv_calls, 0);
    }
}
