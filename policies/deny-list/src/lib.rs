//! `deny-list`: blocks what the operator named.
//!
//! Settings: `packages: ["name", "name@version", "name@<range>"]`, ranges in the
//! ecosystem's own syntax (`lodash@<4.17.21`, `requests@>=2.0,<2.5`). npm scopes
//! work as written: `@scope/name@1.2.0`. Names compare as the ecosystem's
//! registry does (PyPI: PEP 503; crates.io: `-` is `_`, any case). A
//! container image is named `repository@tag` or `repository@sha256:…`, the
//! digest matching whatever tag the image is pulled by.

use gatehouse_sdk::names::{PackageSpec, same_package};
use gatehouse_sdk::{Context, Policy, Verdict, VersionFacts, version};

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub packages: Vec<String>,
}

/// Whether the list entry `entry` names this version.
fn matches(entry: PackageSpec, facts: &VersionFacts) -> bool {
    same_package(&facts.ecosystem, entry.name, &facts.name)
        && entry.version.is_none_or(|range| {
            names_digest(range, facts)
            // An entry we cannot read blocks rather than silently allowing.
                || version::satisfies(&facts.ecosystem, &facts.version, range).unwrap_or(true)
        })
}

/// Whether `range` is `sha256:{hex}`, a digest the version declares: a
/// container image (`repository@sha256:…`) is denied by its manifest's
/// digest whatever tag it is pulled by.
fn names_digest(range: &str, facts: &VersionFacts) -> bool {
    range.split_once(':').is_some_and(|(algorithm, hex)| {
        facts
            .digests
            .iter()
            .any(|d| d.algorithm == algorithm && d.hex.eq_ignore_ascii_case(hex))
    })
}

pub struct DenyList;

impl Policy for DenyList {
    type Settings = Settings;

    fn check(settings: &Settings, _: &Context, facts: &VersionFacts) -> Verdict {
        settings
            .packages
            .iter()
            .find(|entry| matches(PackageSpec::parse(entry), facts))
            .map_or_else(Verdict::allow, |entry| {
                Verdict::block(format!(
                    "{}@{} is on the deny list ({entry:?}); ask the platform team for an exception or pick another version",
                    facts.name, facts.version
                ))
            })
    }
}

gatehouse_sdk::export_policy!(DenyList, reads: []);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use gatehouse_sdk::Action;
    use gatehouse_sdk::testing::{evaluate, facts};

    fn actions(settings: &str, batch: &[(&str, &str, &str)]) -> Vec<Action> {
        let batch: Vec<_> = batch.iter().map(|(e, n, v)| facts(e, n, v)).collect();
        evaluate::<DenyList>(settings, &batch)
            .expect("evaluates")
            .into_iter()
            .map(|v| v.action)
            .collect()
    }

    #[test]
    fn names_versions_and_ranges() {
        let settings = r#"{"packages": ["left-pad", "lodash@<4.17.21", "@evil/pkg@1.0.0", "Requests@>=2.0,<2.5"]}"#;
        let got = actions(
            settings,
            &[
                ("npm", "left-pad", "1.3.0"),
                ("npm", "lodash", "4.17.20"),
                ("npm", "lodash", "4.17.21"),
                ("npm", "@evil/pkg", "1.0.0"),
                ("npm", "@evil/pkg", "1.0.1"),
                ("PyPI", "requests", "2.3.0"),
                ("PyPI", "requests", "2.31.0"),
            ],
        );
        use Action::{Allow, Block};
        assert_eq!(got, vec![Block, Block, Allow, Block, Allow, Block, Allow]);
    }

    #[test]
    fn reason_names_the_entry() {
        let verdicts = evaluate::<DenyList>(
            r#"{"packages":["left-pad@1.3.0"]}"#,
            &[facts("npm", "left-pad", "1.3.0")],
        )
        .expect("evaluates");
        assert!(
            verdicts[0].reason.contains("\"left-pad@1.3.0\""),
            "{}",
            verdicts[0].reason
        );
    }

    #[test]
    fn an_image_is_denied_by_its_digest_under_any_tag() {
        let hex = "ab".repeat(32);
        let image = VersionFacts {
            digests: vec![gatehouse_sdk::Digest {
                algorithm: "sha256".into(),
                hex: hex.clone(),
            }],
            ..facts("oci", "library/app", "latest")
        };
        let denied = |entry: &str| {
            evaluate::<DenyList>(
                &gatehouse_sdk::serde_json::json!({ "packages": [entry] }).to_string(),
                std::slice::from_ref(&image),
            )
            .expect("evaluates")[0]
                .action
        };
        assert_eq!(denied(&format!("library/app@sha256:{hex}")), Action::Block);
        assert_eq!(denied("library/app@latest"), Action::Block);
        assert_eq!(
            denied(&format!("library/app@sha256:{}", "cd".repeat(32))),
            Action::Allow
        );
    }

    #[test]
    fn empty_settings_allow_everything() {
        assert_eq!(actions("", &[("npm", "x", "1.0.0")]), vec![Action::Allow]);
        assert!(evaluate::<DenyList>(r#"{"pakages": []}"#, &[]).is_err());
    }
}
