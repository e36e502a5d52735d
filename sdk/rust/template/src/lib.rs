//! `gatehouse-example`: the example rule every SDK template implements
//! (`sdk/example/RULE.md`): block names matching a pattern, versions reported
//! malicious and versions younger than a minimum age; warn on other advisories.

use gatehouse_sdk::{Context, Policy, Verdict, Verdicts, VersionFacts, host};

const RULE: &str = "example";
const DAY_SECONDS: i64 = 86_400;

/// Unknown keys are refused: a misspelt setting must not turn the rule off.
#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub blocked_names: Vec<String>,
    pub min_age_days: u32,
}

pub struct Example;

impl Policy for Example {
    type Settings = Settings;

    fn evaluate(settings: &Settings, context: &Context, facts: &[VersionFacts]) -> Verdicts {
        // One OSV question for the whole batch.
        let advisories = host::osv_affecting_batch(facts)?;
        Ok(facts
            .iter()
            .zip(&advisories)
            .map(|(facts, advisories)| check(settings, context, facts, advisories).rule(RULE))
            .collect())
    }
}

fn check(
    settings: &Settings,
    context: &Context,
    facts: &VersionFacts,
    advisories: &[gatehouse_sdk::Advisory],
) -> Verdict {
    let (name, version) = (&facts.name, &facts.version);
    if let Some(pattern) = settings.blocked_names.iter().find(|p| matches(p, name)) {
        return Verdict::block(format!(
            "{name} matches the blocked name pattern \"{pattern}\"; choose another package"
        ));
    }
    let malicious: Vec<&str> = advisories
        .iter()
        .filter(|a| a.malicious)
        .map(|a| a.id.as_str())
        .collect();
    if let Some(first) = malicious.first() {
        return Verdict::block(format!("{name} {version} is reported malicious ({first})"))
            .advisories(malicious);
    }
    let min_age = i64::from(settings.min_age_days) * DAY_SECONDS;
    if facts
        .published
        .is_some_and(|published| context.now - published < min_age)
    {
        return Verdict::block(format!(
            "{name} {version} is younger than {} days; use an earlier version",
            settings.min_age_days
        ));
    }
    if !advisories.is_empty() {
        let ids: Vec<&str> = advisories.iter().map(|a| a.id.as_str()).collect();
        return Verdict::warn(format!(
            "{name} {version} has known advisories: {}",
            ids.join(", ")
        ))
        .advisories(ids);
    }
    Verdict::allow()
}

/// `*` matches any run of characters; everything else matches itself.
fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

gatehouse_sdk::export_policy!(Example, reads: []);

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns_match_as_globs() {
        assert!(matches("evil-*", "evil-utils"));
        assert!(matches("left-pad", "left-pad"));
        assert!(!matches("left-pad", "left-pad2"));
        assert!(matches("*-pad", "left-pad"));
        assert!(matches("a*b*c", "aXbYc"));
        assert!(!matches("a*b*c", "aXc"));
        assert!(matches("*", ""));
        assert!(!matches("ab*ba", "aba"));
    }
}
