//! `review`: requires a recorded human review, with a minimum score, before a
//! version is used.
//!
//! Settings: `require` (default `false`: the rule is off) and `min_score`
//! (default `0.0`). When required, a version passes only with a review record
//! scoring at least `min_score`.
//!
//! Records come from the host's store: `gatehouse/reviews/{ecosystem}/{name}/{version}`,
//! else the package-wide `gatehouse/reviews/{ecosystem}/{name}`, each a JSON
//! `{"score": 4.2, "reviews": 3}`. A record that does not parse blocks (and is
//! logged): it is the host's data and should never be wrong. Unknown keys are
//! refused: a misspelt `require` would silently turn the rule off.

use gatehouse_sdk::{Context, Policy, Verdict, Verdicts, VersionFacts, host, serde_json};

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub require: bool,
    pub min_score: f64,
}

/// A review record as the host publishes it.
#[derive(serde::Deserialize, Clone, Debug, PartialEq)]
struct Record {
    score: f64,
    #[serde(default)]
    reviews: Option<u32>,
}

/// Whose record applies to a version.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scope {
    Version,
    Package,
}

#[derive(Clone, Debug, PartialEq)]
enum Lookup {
    Found(Record, Scope),
    Missing,
    Unreadable { key: String, error: String },
}

fn read(key: String, scope: Scope) -> Option<Lookup> {
    let bytes = host::store_get(&key)?;
    Some(match serde_json::from_slice::<Record>(&bytes) {
        Ok(record) => Lookup::Found(record, scope),
        Err(e) => Lookup::Unreadable {
            key,
            error: e.to_string(),
        },
    })
}

pub struct Review;

impl Policy for Review {
    type Settings = Settings;

    fn evaluate(settings: &Settings, _: &Context, facts: &[VersionFacts]) -> Verdicts {
        if !settings.require {
            return Ok(facts.iter().map(|_| Verdict::allow()).collect());
        }
        if !settings.min_score.is_finite() || settings.min_score < 0.0 {
            return Err(format!(
                "review policy: `min_score` must be a number of at least 0, not {}",
                settings.min_score
            ));
        }
        // The package-wide record is the same for every version of a package:
        // read it once per package in the batch.
        let mut package_record: Option<(&str, &str, Lookup)> = None;
        Ok(facts
            .iter()
            .map(|facts| {
                let (ecosystem, name) = (facts.ecosystem.as_str(), facts.name.as_str());
                let version_key = format!("gatehouse/reviews/{ecosystem}/{name}/{}", facts.version);
                let lookup = match read(version_key, Scope::Version) {
                    Some(lookup) => lookup,
                    None => match &package_record {
                        Some((e, n, lookup)) if *e == ecosystem && *n == name => lookup.clone(),
                        _ => {
                            let lookup = read(
                                format!("gatehouse/reviews/{ecosystem}/{name}"),
                                Scope::Package,
                            )
                            .unwrap_or(Lookup::Missing);
                            package_record = Some((ecosystem, name, lookup.clone()));
                            lookup
                        }
                    },
                };
                verdict(settings.min_score, facts, lookup)
            })
            .collect())
    }
}

fn verdict(min_score: f64, facts: &VersionFacts, lookup: Lookup) -> Verdict {
    let subject = || format!("{} {}", facts.name, facts.version);
    match lookup {
        Lookup::Found(record, _) if record.score >= min_score => Verdict::allow(),
        Lookup::Found(record, scope) => {
            let count = match record.reviews {
                Some(1) => " (1 review)".to_owned(),
                Some(n) => format!(" ({n} reviews)"),
                None => String::new(),
            };
            let whose = match scope {
                Scope::Version => "",
                Scope::Package => " for the package as a whole",
            };
            Verdict::block(format!(
                "{} has a review score of {}{count}{whose}, below the {min_score} this registry requires; use a better-reviewed version, or ask the platform team for a new review",
                subject(),
                record.score
            ))
        }
        Lookup::Missing => Verdict::block(format!(
            "{} has no recorded review, and this registry requires one scoring at least {min_score}; ask the platform team to review it, or use a reviewed package",
            subject()
        )),
        Lookup::Unreadable { key, error } => {
            host::log_warn(&format!("review record {key} is unreadable: {error}"));
            Verdict::block(format!(
                "{} cannot be checked: its review record is unreadable; ask the platform team to repair {key}",
                subject()
            ))
        }
    }
}

gatehouse_sdk::export_policy!(Review, reads: []);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use gatehouse_sdk::Action;
    use gatehouse_sdk::testing::{MockHost, evaluate, facts};

    fn actions(settings: &str, versions: &[&str]) -> Vec<Action> {
        let batch: Vec<_> = versions.iter().map(|v| facts("npm", "pkg", v)).collect();
        evaluate::<Review>(settings, &batch)
            .expect("evaluates")
            .iter()
            .map(|v| v.action)
            .collect()
    }

    fn host() -> MockHost {
        MockHost::default()
            .stored(
                "gatehouse/reviews/npm/pkg/1.0.0",
                r#"{"score": 4.5, "reviews": 2}"#,
            )
            .stored(
                "gatehouse/reviews/npm/pkg/1.1.0",
                r#"{"score": 2.0, "reviews": 1}"#,
            )
            .stored("gatehouse/reviews/npm/pkg", r#"{"score": 3.5}"#)
    }

    #[test]
    fn off_unless_required() {
        MockHost::default().install();
        assert_eq!(actions("", &["1.0.0"]), [Action::Allow]);
        assert_eq!(actions(r#"{"min_score": 5}"#, &["1.0.0"]), [Action::Allow]);
    }

    #[test]
    fn version_record_then_package_record() {
        host().install();
        let settings = r#"{"require": true, "min_score": 3.0}"#;
        use Action::{Allow, Block};
        assert_eq!(
            actions(settings, &["1.0.0", "1.1.0", "1.2.0"]),
            [Allow, Block, Allow]
        );
        let settings = r#"{"require": true, "min_score": 4.0}"#;
        assert_eq!(actions(settings, &["1.0.0", "1.2.0"]), [Allow, Block]);
    }

    #[test]
    fn reasons() {
        host().install();
        let batch = [facts("npm", "pkg", "1.1.0"), facts("npm", "pkg", "1.2.0")];
        let got = evaluate::<Review>(r#"{"require": true, "min_score": 4.0}"#, &batch)
            .expect("evaluates");
        assert_eq!(
            got[0].reason,
            "pkg 1.1.0 has a review score of 2 (1 review), below the 4 this registry requires; use a better-reviewed version, or ask the platform team for a new review"
        );
        assert!(
            got[1].reason.contains("3.5 for the package as a whole"),
            "{}",
            got[1].reason
        );

        MockHost::default().install();
        let got = evaluate::<Review>(r#"{"require": true}"#, &[facts("npm", "new", "0.1.0")])
            .expect("evaluates");
        assert_eq!(got[0].action, Action::Block);
        assert!(
            got[0]
                .reason
                .starts_with("new 0.1.0 has no recorded review"),
            "{}",
            got[0].reason
        );
    }

    #[test]
    fn unreadable_records_block_and_are_logged() {
        MockHost::default()
            .stored("gatehouse/reviews/npm/pkg/1.0.0", "4.5")
            .install();
        assert_eq!(actions(r#"{"require": true}"#, &["1.0.0"]), [Action::Block]);
        assert_eq!(MockHost::current().logs.len(), 1);
    }

    #[test]
    fn bad_settings_fail() {
        assert!(evaluate::<Review>(r#"{"requir": true}"#, &[]).is_err());
        assert!(evaluate::<Review>(r#"{"require": true, "min_score": -1}"#, &[]).is_err());
        assert!(evaluate::<Review>(r#"{"require": "yes"}"#, &[]).is_err());
    }
}
