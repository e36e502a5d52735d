//! `license`: judges each version's declared license, as an SPDX expression,
//! against the registry's deny and warn lists.
//!
//! Settings:
//! - `deny`, `warn`: SPDX license ids (or `LicenseRef-…`). A listed id covers its
//!   `-only`, `-or-later` and `+` variants: `GPL-3.0` lists `GPL-3.0-only` too.
//!   Exceptions (`WITH …`) do not change which license it is.
//! - `allow_unknown` (default `true`): an unreadable or non-standard license
//!   warns; `false` makes it block.
//! - `missing` (`allow`, the default, `warn` or `block`): what a version that
//!   declares no license at all comes to. Judged at the artifact (and by
//!   `check`) only: several indexes (PyPI's simple pages, cargo's sparse index)
//!   carry no license, so on metadata a missing license says nothing.
//!
//! Expressions are evaluated as licensees read them: `MIT OR GPL-3.0` is fine
//! when MIT is, `MIT AND GPL-3.0` is denied when GPL-3.0 is. Ids match
//! case-insensitively (as SPDX says), `/` reads as `OR`, npm's legacy
//! `{"type": "MIT"}` and `licenses: [...]` forms are understood, and free text
//! (`BSD License`, PyPI classifiers, whole license texts) is unknown.
//! Unknown keys, and list entries that are not SPDX ids, are refused: a typo
//! would silently let a denied license through.

use std::borrow::Cow;

use gatehouse_sdk::text::excerpt;
use gatehouse_sdk::{
    Action, Context, Policy, Purpose, Verdict, Verdicts, VersionFacts, serde_json,
};
use spdx::{Expression, LicenseItem, LicenseReq, ParseMode};

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub deny: Vec<String>,
    pub warn: Vec<String>,
    pub allow_unknown: bool,
    pub missing: Missing,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            deny: Vec::new(),
            warn: Vec::new(),
            allow_unknown: true,
            missing: Missing::Allow,
        }
    }
}

/// What a version declaring no license comes to (at the artifact).
#[derive(Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    Allow,
    Warn,
    Block,
}

/// SPDX syntax plus what registries carry in practice: `/` for `OR`, deprecated
/// ids (`GPL-2.0`), `GPL-2.0+`. No guessing at free text.
const PARSE_MODE: ParseMode = ParseMode {
    allow_slash_as_or_operator: true,
    allow_imprecise_license_names: false,
    allow_postfix_plus_on_gpl: true,
    allow_deprecated: true,
    allow_unknown: false,
};

/// Longest declared text quoted in a reason, in characters.
const QUOTED_CHARS: usize = 120;

/// One entry of `deny` or `warn`.
#[derive(Clone, Copy)]
enum Listed<'a> {
    /// A license family: the id without `-only`, `-or-later` or `+`.
    Family(&'a str),
    /// The name after `LicenseRef-`.
    Ref(&'a str),
}

impl<'a> Listed<'a> {
    fn parse(entry: &'a str, list: &str) -> Result<Self, String> {
        let entry = entry.trim();
        if let Some(name) = strip_prefix_ignore_case(entry, "LicenseRef-") {
            return Ok(Listed::Ref(name));
        }
        let wanted = family(entry);
        if spdx::identifiers::LICENSES
            .iter()
            .any(|license| family(license.name).eq_ignore_ascii_case(wanted))
        {
            Ok(Listed::Family(wanted))
        } else {
            Err(format!(
                "license policy: {entry:?} in `{list}` is not an SPDX license id or LicenseRef-…; correct the gate-policy file"
            ))
        }
    }

    fn covers(self, license: &LicenseItem) -> bool {
        match (self, license) {
            (Listed::Family(listed), LicenseItem::Spdx { id, .. }) => {
                family(id.name).eq_ignore_ascii_case(listed)
            }
            (Listed::Ref(listed), LicenseItem::Other(other)) => {
                other.lic_ref.eq_ignore_ascii_case(listed)
            }
            _ => false,
        }
    }
}

/// `GPL-3.0-or-later`, `GPL-3.0-only`, `GPL-3.0+` → `GPL-3.0`.
fn family(id: &str) -> &str {
    let id = id.strip_suffix('+').unwrap_or(id);
    ["-or-later", "-only"]
        .iter()
        .find_map(|suffix| strip_suffix_ignore_case(id, suffix))
        .unwrap_or(id)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(suffix.len())?;
    let tail = text.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..cut])
}

/// The settings, compiled once per batch.
struct Rules<'a> {
    deny: Vec<Listed<'a>>,
    warn: Vec<Listed<'a>>,
    unknown: Action,
    missing: Action,
}

impl<'a> Rules<'a> {
    fn compile(settings: &'a Settings, purpose: Purpose) -> Result<Self, String> {
        let list = |entries: &'a [String], name: &str| {
            entries
                .iter()
                .map(|entry| Listed::parse(entry, name))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Rules {
            deny: list(&settings.deny, "deny")?,
            warn: list(&settings.warn, "warn")?,
            unknown: if settings.allow_unknown {
                Action::Warn
            } else {
                Action::Block
            },
            missing: match (purpose, settings.missing) {
                (Purpose::Metadata, _) | (_, Missing::Allow) => Action::Allow,
                (_, Missing::Warn) => Action::Warn,
                (_, Missing::Block) => Action::Block,
            },
        })
    }

    /// What one license of an expression would do on its own, and why.
    fn judge(&self, req: &LicenseReq) -> (Action, &'static str) {
        if self.deny.iter().any(|listed| listed.covers(&req.license)) {
            (Action::Block, "denied here")
        } else if self.warn.iter().any(|listed| listed.covers(&req.license)) {
            (Action::Warn, "flagged for review here")
        } else if matches!(req.license, LicenseItem::Other(_)) {
            (self.unknown, "not a standard license")
        } else {
            (Action::Allow, "")
        }
    }

    /// The verdict on a declared license text (`None`: nothing declared).
    fn assess(&self, declared: Option<&str>) -> Assessment {
        let Some(text) = declared else {
            return match self.missing {
                Action::Allow => Assessment::Acceptable,
                action => Assessment::Unknown {
                    action,
                    declared: None,
                },
            };
        };
        let Some(expression) = parse(text) else {
            return Assessment::Unknown {
                action: self.unknown,
                declared: Some(excerpt(text, QUOTED_CHARS)),
            };
        };
        // The expression is as bad as its best choice: OR takes the better
        // side, AND the worse; checked one tier at a time.
        let clears = |tier: Action| expression.evaluate(|req| self.judge(req).0 < tier);
        let action = if !clears(Action::Block) {
            Action::Block
        } else if !clears(Action::Warn) {
            Action::Warn
        } else {
            return Assessment::Acceptable;
        };
        let mut culprits: Vec<String> = Vec::new();
        for req in expression.requirements() {
            let (level, why) = self.judge(&req.req);
            let culprit = format!("{} ({why})", req.req);
            if level == action && !culprits.contains(&culprit) {
                culprits.push(culprit);
            }
        }
        Assessment::Flagged {
            action,
            expression: excerpt(text, QUOTED_CHARS),
            culprits,
        }
    }
}

/// What a declared license comes to; shared by every version declaring it.
enum Assessment {
    Acceptable,
    Flagged {
        action: Action,
        expression: String,
        culprits: Vec<String>,
    },
    Unknown {
        action: Action,
        declared: Option<String>,
    },
}

impl Assessment {
    fn verdict(&self, facts: &VersionFacts) -> Verdict {
        let subject = || format!("{} {}", facts.name, facts.version);
        match self {
            Assessment::Acceptable => Verdict::allow(),
            Assessment::Flagged {
                action,
                expression,
                culprits,
            } => {
                let advice = match action {
                    Action::Block => {
                        "use another package or version, or ask the platform team for an exception"
                    }
                    _ => "check those terms suit your project before depending on it",
                };
                Verdict::act(
                    *action,
                    format!(
                        "{} is licensed `{expression}`, which offers no choice without {}; {advice}",
                        subject(),
                        culprits.join(", ")
                    ),
                )
            }
            Assessment::Unknown { action, declared } => {
                let found = match declared {
                    None => format!("{} declares no license", subject()),
                    Some(text) => format!(
                        "{} declares its license as {text:?}, which is not an SPDX expression",
                        subject()
                    ),
                };
                let advice = match action {
                    Action::Block => {
                        ", and this registry accepts only recognised licenses; ask its maintainers to declare an SPDX license, or ask the platform team for an exception"
                    }
                    _ => "; check its terms before depending on it",
                };
                Verdict::act(*action, format!("{found}{advice}"))
            }
        }
    }
}

/// Parses `text` as SPDX, retrying with ids and operators in their canonical
/// case (SPDX ids are case-insensitive; the parser is not).
fn parse(text: &str) -> Option<Expression> {
    Expression::parse_mode(text, PARSE_MODE).ok().or_else(|| {
        let canonical = canonical_case(text)?;
        Expression::parse_mode(&canonical, PARSE_MODE).ok()
    })
}

/// `text` with every word that names an operator, license or exception in a
/// different case respelt canonically; `None` when nothing changed.
fn canonical_case(text: &str) -> Option<String> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+');
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(start) = rest.find(is_word) {
        out.push_str(&rest[..start]);
        let word_len = rest[start..]
            .find(|c| !is_word(c))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        let canonical = canonical_word(word);
        changed |= canonical != word;
        out.push_str(&canonical);
        rest = &rest[start + word_len..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

fn canonical_word(word: &str) -> Cow<'_, str> {
    if ["AND", "OR", "WITH"]
        .iter()
        .any(|op| op.eq_ignore_ascii_case(word))
    {
        return Cow::Owned(word.to_ascii_uppercase());
    }
    let (bare, plus) = match word.strip_suffix('+') {
        Some(bare) => (bare, "+"),
        None => (word, ""),
    };
    let license = spdx::identifiers::LICENSES
        .iter()
        .map(|l| l.name)
        .find(|name| name.eq_ignore_ascii_case(bare));
    let exception = || {
        spdx::identifiers::EXCEPTIONS
            .iter()
            .map(|e| e.name)
            .find(|name| name.eq_ignore_ascii_case(bare))
    };
    match license.or_else(exception) {
        Some(name) => Cow::Owned(format!("{name}{plus}")),
        None => Cow::Borrowed(word),
    }
}

/// The license a version declares: `license` as given (or npm's legacy object
/// form if an adapter passed it through as JSON), else npm's legacy
/// `license`/`licenses` fields of the raw metadata.
fn declared(facts: &VersionFacts) -> Option<Cow<'_, str>> {
    match facts.license.as_deref().map(str::trim) {
        Some(text) if text.starts_with(['{', '[']) => {
            Some(legacy(text).map_or(Cow::Borrowed(text), Cow::Owned))
        }
        Some("") | None => raw_license(&facts.raw).map(Cow::Owned),
        Some(text) => Some(Cow::Borrowed(text)),
    }
}

/// npm's legacy license forms: `"MIT"`, `{"type": "MIT", "url": …}`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum LegacyLicense {
    Text(String),
    Object {
        #[serde(rename = "type")]
        kind: String,
    },
}

impl LegacyLicense {
    fn text(&self) -> &str {
        match self {
            LegacyLicense::Text(text) | LegacyLicense::Object { kind: text } => text,
        }
    }
}

/// One or several legacy licenses; several mean a choice (`licenses: [...]`).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum LegacyLicenses {
    One(LegacyLicense),
    Choice(Vec<LegacyLicense>),
}

impl LegacyLicenses {
    fn expression(&self) -> Option<String> {
        match self {
            LegacyLicenses::One(one) => Some(one.text().trim().to_owned()),
            LegacyLicenses::Choice(choice) => {
                let parts: Vec<String> = choice
                    .iter()
                    .map(|l| format!("({})", l.text().trim()))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" OR "))
            }
        }
        .filter(|text| !text.is_empty())
    }
}

fn legacy(json: &str) -> Option<String> {
    serde_json::from_str::<LegacyLicenses>(json)
        .ok()?
        .expression()
}

/// Only the fields this policy reads; the rest of the document is skipped.
#[derive(serde::Deserialize)]
struct RawLicenseFields {
    license: Option<LegacyLicenses>,
    licenses: Option<LegacyLicenses>,
}

fn raw_license(raw: &str) -> Option<String> {
    let fields: RawLicenseFields = serde_json::from_str(raw).ok()?;
    fields
        .license
        .as_ref()
        .and_then(LegacyLicenses::expression)
        .or_else(|| fields.licenses.as_ref()?.expression())
}

pub struct License;

impl Policy for License {
    type Settings = Settings;

    fn evaluate(settings: &Settings, context: &Context, facts: &[VersionFacts]) -> Verdicts {
        let rules = Rules::compile(settings, context.purpose)?;
        // Versions of a package mostly declare the same license: assess each
        // distinct text once.
        let mut last: Option<(Option<Cow<str>>, Assessment)> = None;
        Ok(facts
            .iter()
            .map(|facts| {
                let text = declared(facts);
                let assessment = match last.take() {
                    Some((seen, assessment)) if seen == text => assessment,
                    _ => rules.assess(text.as_deref()),
                };
                let verdict = assessment.verdict(facts);
                last = Some((text, assessment));
                verdict
            })
            .collect())
    }
}

gatehouse_sdk::export_policy!(License, reads: [raw("license", "licenses")]);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use gatehouse_sdk::testing::{evaluate, facts};

    fn licensed(license: Option<&str>, raw: &str) -> VersionFacts {
        let mut f = facts("npm", "pkg", "1.0.0");
        f.license = license.map(Into::into);
        f.raw = raw.into();
        f
    }

    fn judge(settings: &str, license: Option<&str>) -> Verdict {
        evaluate::<License>(settings, &[licensed(license, "{}")])
            .expect("evaluates")
            .remove(0)
    }

    fn action(settings: &str, license: &str) -> Action {
        judge(settings, Some(license)).action
    }

    const DENY_GPL: &str = r#"{"deny": ["GPL-3.0"], "warn": ["MPL-2.0"]}"#;

    #[test]
    fn expressions_are_evaluated_as_choices() {
        use Action::{Allow, Block, Warn};
        assert_eq!(action(DENY_GPL, "MIT"), Allow);
        assert_eq!(action(DENY_GPL, "GPL-3.0-only"), Block);
        assert_eq!(action(DENY_GPL, "MIT OR GPL-3.0-only"), Allow);
        assert_eq!(action(DENY_GPL, "MIT AND GPL-3.0-or-later"), Block);
        assert_eq!(action(DENY_GPL, "(MIT OR Apache-2.0)"), Allow);
        assert_eq!(action(DENY_GPL, "MPL-2.0 OR GPL-3.0+"), Warn);
        assert_eq!(action(DENY_GPL, "MIT AND (MPL-2.0 OR GPL-3.0)"), Warn);
        assert_eq!(action(DENY_GPL, "(MIT OR GPL-3.0) AND GPL-3.0-only"), Block);
        assert_eq!(action(DENY_GPL, "MIT/GPL-3.0"), Allow);
        assert_eq!(
            action(DENY_GPL, "GPL-3.0-only WITH GCC-exception-3.1"),
            Block
        );
    }

    #[test]
    fn variants_of_a_listed_id_count_as_it() {
        for listed in ["GPL-2.0", "GPL-2.0-only", "gpl-2.0-or-later", "GPL-2.0+"] {
            let settings = format!(r#"{{"deny": [{listed:?}]}}"#);
            for declared in ["GPL-2.0", "GPL-2.0-only", "GPL-2.0-or-later", "GPL-2.0+"] {
                assert_eq!(
                    action(&settings, declared),
                    Action::Block,
                    "{listed} vs {declared}"
                );
            }
            assert_eq!(action(&settings, "LGPL-2.0-only"), Action::Allow);
            assert_eq!(action(&settings, "GPL-3.0-only"), Action::Allow);
        }
    }

    #[test]
    fn ids_match_whatever_their_case() {
        assert_eq!(action(DENY_GPL, "mit or gpl-3.0-only"), Action::Allow);
        assert_eq!(action(DENY_GPL, "gpl-3.0-only"), Action::Block);
        assert_eq!(action(DENY_GPL, "apache-2.0"), Action::Allow);
    }

    #[test]
    fn reasons_name_the_culprits() {
        let verdict = judge(DENY_GPL, Some("MIT AND GPL-3.0-only"));
        assert_eq!(
            verdict.reason,
            "pkg 1.0.0 is licensed `MIT AND GPL-3.0-only`, which offers no choice without GPL-3.0-only (denied here); use another package or version, or ask the platform team for an exception"
        );
        let verdict = judge(DENY_GPL, Some("MPL-2.0"));
        assert!(
            verdict
                .reason
                .contains("without MPL-2.0 (flagged for review here); check those terms"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn a_missing_license_is_judged_at_the_artifact_only_when_asked() {
        let at = |purpose: Purpose, settings: &str| {
            let context = Context {
                purpose,
                now: 1_700_000_000,
                requester: None,
            };
            gatehouse_sdk::run::<License>(settings, &context, &[licensed(None, "{}")])
                .expect("evaluates")
                .remove(0)
        };
        assert_eq!(at(Purpose::Artifact, "{}").action, Action::Allow);
        assert_eq!(
            at(Purpose::Metadata, r#"{"missing": "block"}"#).action,
            Action::Allow
        );
        let warn = at(Purpose::Artifact, r#"{"missing": "warn"}"#);
        assert_eq!(warn.action, Action::Warn);
        assert_eq!(
            warn.reason,
            "pkg 1.0.0 declares no license; check its terms before depending on it"
        );
        assert_eq!(
            at(Purpose::Check, r#"{"missing": "block"}"#).action,
            Action::Block
        );
    }

    #[test]
    fn unknown_licenses_warn_or_block() {
        assert_eq!(judge("", None).action, Action::Allow);
        let strict = r#"{"allow_unknown": false}"#;
        assert_eq!(judge(strict, None).action, Action::Allow);
        for text in [
            "BSD License",
            "License :: OSI Approved :: MIT License",
            "SEE LICENSE IN LICENSE.md",
            "UNLICENSED",
            "Copyright (c) 2024 Someone\n\nPermission is hereby granted, free of charge",
        ] {
            let verdict = judge(strict, Some(text));
            assert_eq!(verdict.action, Action::Block, "{text}");
            assert!(
                verdict.reason.contains("not an SPDX expression"),
                "{}",
                verdict.reason
            );
        }
        assert_eq!(action("", "LicenseRef-Proprietary"), Action::Warn);
        assert_eq!(action(strict, "LicenseRef-Proprietary"), Action::Block);
        assert_eq!(
            action(strict, "MIT OR LicenseRef-Proprietary"),
            Action::Allow
        );
        assert_eq!(
            action(
                r#"{"deny": ["LicenseRef-Proprietary"]}"#,
                "LicenseRef-proprietary"
            ),
            Action::Block
        );
    }

    #[test]
    fn npm_legacy_forms() {
        let object = r#"{"type": "GPL-3.0", "url": "x"}"#;
        assert_eq!(action(DENY_GPL, object), Action::Block);
        let deny = |raw: &str| {
            evaluate::<License>(DENY_GPL, &[licensed(None, raw)])
                .expect("evaluates")
                .remove(0)
                .action
        };
        assert_eq!(deny(r#"{"license": {"type": "GPL-3.0"}}"#), Action::Block);
        assert_eq!(deny(r#"{"license": "MIT", "name": "pkg"}"#), Action::Allow);
        assert_eq!(
            deny(r#"{"licenses": [{"type": "MIT"}, {"type": "GPL-3.0"}]}"#),
            Action::Allow
        );
        assert_eq!(
            deny(r#"{"licenses": [{"type": "GPL-3.0"}]}"#),
            Action::Block
        );
        assert_eq!(deny(r#"{"licenses": []}"#), Action::Allow);
        assert_eq!(deny("not json"), Action::Allow);
    }

    #[test]
    fn list_entries_must_be_spdx_ids() {
        let err = evaluate::<License>(r#"{"deny": ["GLP-3.0"]}"#, &[]).expect_err("typo");
        assert!(err.contains("\"GLP-3.0\" in `deny`"), "{err}");
        assert!(evaluate::<License>(r#"{"deny": ["MIT"], "alow_unknown": false}"#, &[]).is_err());
        assert!(evaluate::<License>(r#"{"warn": ["LicenseRef-Internal"]}"#, &[]).is_ok());
    }

    #[test]
    fn each_distinct_text_is_assessed_and_reported_per_version() {
        let batch = [
            licensed(Some("GPL-3.0-only"), "{}"),
            licensed(Some("GPL-3.0-only"), "{}"),
            licensed(Some("MIT"), "{}"),
            licensed(Some("GPL-3.0-only"), "{}"),
        ];
        let actions: Vec<Action> = evaluate::<License>(DENY_GPL, &batch)
            .expect("evaluates")
            .iter()
            .map(|v| v.action)
            .collect();
        assert_eq!(
            actions,
            [Action::Block, Action::Block, Action::Allow, Action::Block]
        );
    }

    #[test]
    fn families() {
        assert_eq!(family("GPL-3.0-or-later"), "GPL-3.0");
        assert_eq!(family("GPL-3.0+"), "GPL-3.0");
        assert_eq!(family("gpl-3.0-ONLY"), "gpl-3.0");
        assert_eq!(family("GFDL-1.3-invariants-only"), "GFDL-1.3-invariants");
        assert_eq!(family("MIT"), "MIT");
    }
}
