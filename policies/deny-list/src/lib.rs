//! `deny-list`: blocks what the operator named.
//!
//! Settings: `packages: ["name", "name@version", "name@<range>"]`, ranges in the
//! ecosystem's own syntax (`lodash@<4.17.21`, `requests@>=2.0,<2.5`). npm scopes
//! work as written: `@scope/name@1.2.0`.

use gatehouse_sdk::{Context, Policy, Verdict, VersionFacts, version};

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub packages: Vec<String>,
}

/// One entry of the list: a name and, optionally, a version or range.
struct Entry<'a> {
    text: &'a str,
    name: &'a str,
    range: Option<&'a str>,
}

impl<'a> Entry<'a> {
    fn parse(text: &'a str) -> Self {
        // The first `@` of a scoped npm name is part of the name.
        let search_from = usize::from(text.starts_with('@'));
        match text[search_from..].find('@') {
            Some(at) => {
                let at = at + search_from;
                Entry {
                    text,
                    name: &text[..at],
                    range: Some(&text[at + 1..]),
                }
            }
            None => Entry {
                text,
                name: text,
                range: None,
            },
        }
    }

    fn matches(&self, facts: &VersionFacts) -> bool {
        if !same_name(&facts.ecosystem, self.name, &facts.name) {
            return false;
        }
        match self.range {
            None => true,
            // An entry we cannot read blocks rather than silently allowing.
            Some(range) => {
                version::satisfies(&facts.ecosystem, &facts.version, range).unwrap_or(true)
            }
        }
    }
}

/// Compares names as the ecosystem does (PyPI ignores case and `-_.` runs).
fn same_name(ecosystem: &str, a: &str, b: &str) -> bool {
    if ecosystem == "PyPI" {
        let normalise = |s: &str| {
            s.to_ascii_lowercase()
                .split(['-', '_', '.'])
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("-")
        };
        normalise(a) == normalise(b)
    } else {
        a == b
    }
}

pub struct DenyList;

impl Policy for DenyList {
    type Settings = Settings;

    fn check(settings: &Settings, _: &Context, facts: &VersionFacts) -> Verdict {
        settings
            .packages
            .iter()
            .map(|text| Entry::parse(text))
            .find(|entry| entry.matches(facts))
            .map_or_else(Verdict::allow, |entry| {
                Verdict::block(format!(
                    "{}@{} is on the deny list ({:?}); ask the platform team for an exception or pick another version",
                    facts.name, facts.version, entry.text
                ))
            })
    }
}

gatehouse_sdk::export_policy!(DenyList);

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
    fn empty_settings_allow_everything() {
        assert_eq!(actions("", &[("npm", "x", "1.0.0")]), vec![Action::Allow]);
        assert!(evaluate::<DenyList>(r#"{"pakages": []}"#, &[]).is_err());
    }
}
