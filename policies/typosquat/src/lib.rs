//! `typosquat`: catches package names that imitate popular ones — a slip of the
//! keyboard away (`lodahs`), differing only in punctuation (`react_dom`), in
//! look-alike characters (`rnoment`, `1odash`, `b0to3`), or in a scope made to
//! pass for a popular one (`@types-x/y`, `@typess/node`).
//!
//! Settings:
//! - `popular`: names to protect (and trust) on top of the built-in list of
//!   the ecosystem ([`popular`]); `@scope/*` covers a whole npm scope.
//! - `max_distance` (default 1, at most 3): the Damerau–Levenshtein distance
//!   within which a name imitates a popular one. It shrinks for short names, to
//!   one edit per four characters past the first (`react`: 1, `ws`: 0), since
//!   nearly every two-letter name is one edit from another.
//! - `action`: `block` (the default) or `warn`.
//!
//! A popular name is never a squat itself, nor is a name the ecosystem treats as
//! the same package (PEP 503 for PyPI: `Foo_Bar` is `foo-bar`; crates.io: `-`
//! is `_`; npm: case, since npm accepts no new names with capitals). Packages in
//! a popular npm scope are trusted: only the scope's owner can publish there.
//! Unknown keys are refused: a misspelt `popular` would silently drop the
//! operator's own names.

pub mod popular;

use std::borrow::Cow;

use gatehouse_sdk::{Context, OnMatch, Policy, Verdict, Verdicts, VersionFacts, names};

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub popular: Vec<String>,
    pub max_distance: usize,
    pub action: OnMatch,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            popular: Vec::new(),
            max_distance: 1,
            action: OnMatch::Block,
        }
    }
}

/// Beyond this, most names would be "close" to some popular one.
const MAX_DISTANCE_LIMIT: usize = 3;

/// Characters that only separate words; games with them imitate a name.
const PUNCTUATION: [char; 5] = ['-', '_', '.', '@', '/'];

/// The name (or npm scope) as compared: as the ecosystem's registry identifies
/// it, and on npm also in lower case, since npm refuses new names with capitals:
/// a case-only variant of a popular name is that name, not an imitation.
fn normalise<'a>(ecosystem: &str, name: &'a str) -> Cow<'a, str> {
    if ecosystem == "npm" && name.contains(|c: char| c.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        names::normalise(ecosystem, name)
    }
}

/// The name without punctuation, in lower case.
fn stripped(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars()
        .filter(|c| !PUNCTUATION.contains(c))
        .map(|c| c.to_ascii_lowercase())
}

/// [`stripped`], with look-alikes made one: `rn`→`m`, `1`→`l`, `0`→`o`.
fn skeleton(name: &str) -> impl Iterator<Item = char> + '_ {
    let mut chars = stripped(name).peekable();
    std::iter::from_fn(move || {
        let c = chars.next()?;
        Some(match c {
            'r' if chars.next_if_eq(&'n').is_some() => 'm',
            '1' => 'l',
            '0' => 'o',
            c => c,
        })
    })
}

/// `name`'s scope, without `@`, when it is a scoped npm name.
fn npm_scope(name: &str) -> Option<&str> {
    name.strip_prefix('@')?
        .split_once('/')
        .map(|(scope, _)| scope)
}

/// A popular name or scope as compared.
struct Known<'a> {
    shown: &'a str,
    normalised: Cow<'a, str>,
    /// The edit distance within which another name imitates this one.
    within: usize,
}

impl<'a> Known<'a> {
    fn new(shown: &'a str, ecosystem: &str, max_distance: usize) -> Self {
        let normalised = normalise(ecosystem, shown);
        let within = max_distance.min(normalised.chars().count().saturating_sub(1) / 4);
        Known {
            shown,
            normalised,
            within,
        }
    }

    /// How `candidate` (normalised, and not this name) imitates this name, if it does.
    fn imitated_by(&self, candidate: &str) -> Option<Resemblance> {
        let known = self.normalised.as_ref();
        if stripped(candidate).eq(stripped(known)) {
            return Some(Resemblance::Punctuation);
        }
        if skeleton(candidate).eq(skeleton(known)) {
            return Some(Resemblance::LookAlike);
        }
        // The distance is at least the difference in length: skip the costly
        // comparison for names that cannot be close.
        if self.within == 0 || candidate.len().abs_diff(known.len()) > self.within {
            return None;
        }
        let distance = strsim::damerau_levenshtein(candidate, known);
        (distance <= self.within).then_some(Resemblance::Edits(distance))
    }
}

enum Resemblance {
    Punctuation,
    LookAlike,
    Edits(usize),
}

/// The popular names and scopes of one ecosystem, compiled once per batch.
struct Index<'a> {
    ecosystem: &'a str,
    names: Vec<Known<'a>>,
    scopes: Vec<Known<'a>>,
}

impl<'a> Index<'a> {
    fn new(settings: &'a Settings, ecosystem: &'a str) -> Self {
        let mut index = Index {
            ecosystem,
            names: Vec::new(),
            scopes: Vec::new(),
        };
        let entries = settings
            .popular
            .iter()
            .map(|entry| entry.trim())
            .chain(popular::built_in(ecosystem).iter().copied());
        for entry in entries {
            if ecosystem == "npm"
                && let Some(scope) = npm_scope(entry)
                && !index.scopes.iter().any(|known| known.shown == scope)
            {
                index
                    .scopes
                    .push(Known::new(scope, ecosystem, settings.max_distance));
            }
            if !entry.ends_with("/*") {
                index
                    .names
                    .push(Known::new(entry, ecosystem, settings.max_distance));
            }
        }
        index
    }

    /// Why `name` looks like a squat, or `None` when it does not.
    fn judge(&self, name: &str) -> Option<String> {
        let candidate = normalise(self.ecosystem, name);
        if self.names.iter().any(|known| known.normalised == candidate) {
            return None;
        }
        if self.ecosystem == "npm"
            && let Some(scope) = npm_scope(&candidate)
        {
            if self.scopes.iter().any(|known| known.normalised == scope) {
                return None;
            }
            if let Some(known) = self
                .scopes
                .iter()
                .find(|known| imitates_scope(scope, known))
            {
                return Some(format!(
                    "{name} looks like a typosquat: its scope @{scope} imitates the popular scope @{}; if you meant a package under @{}, fix the scope in your manifest; if @{scope} is really the one you want, ask the platform team to add `@{scope}/*` to the typosquat policy's `popular` list",
                    known.shown, known.shown
                ));
            }
        }
        let (known, resemblance) = self
            .names
            .iter()
            .find_map(|known| Some((known, known.imitated_by(&candidate)?)))?;
        let popular = known.shown;
        let how = match resemblance {
            Resemblance::Punctuation => {
                format!("it differs from the popular package {popular} only in punctuation or case")
            }
            Resemblance::LookAlike => format!(
                "it differs from the popular package {popular} only in look-alike characters (rn/m, 1/l, 0/o)"
            ),
            Resemblance::Edits(1) => format!(
                "it is one typo (a changed, added, dropped or swapped character) away from the popular package {popular}"
            ),
            Resemblance::Edits(n) => {
                format!("it is {n} typos away from the popular package {popular}")
            }
        };
        Some(format!(
            "{name} looks like a typosquat: {how}; if you meant {popular}, fix the name in your manifest; if {name} is really the package you want, ask the platform team to add it to the typosquat policy's `popular` list"
        ))
    }
}

/// `@typess`, `@tyeps`, `@type5`… and `@types-x`, `@types_js`: a popular scope
/// with something tacked on.
fn imitates_scope(scope: &str, known: &Known) -> bool {
    let extends = scope
        .strip_prefix(known.normalised.as_ref())
        .is_some_and(|rest| rest.starts_with(['-', '_', '.']));
    extends || known.imitated_by(scope).is_some()
}

pub struct Typosquat;

impl Policy for Typosquat {
    type Settings = Settings;

    fn evaluate(settings: &Settings, _: &Context, facts: &[VersionFacts]) -> Verdicts {
        if settings.max_distance > MAX_DISTANCE_LIMIT {
            return Err(format!(
                "typosquat policy: `max_distance` {} would flag most names; use 0 to {MAX_DISTANCE_LIMIT}",
                settings.max_distance
            ));
        }
        let mut index: Option<Index> = None;
        // A batch is one package: judge each distinct name once.
        let mut last: Option<(&str, &str, Verdict)> = None;
        Ok(facts
            .iter()
            .map(|facts| {
                if let Some((ecosystem, name, verdict)) = &last
                    && *ecosystem == facts.ecosystem
                    && *name == facts.name
                {
                    return verdict.clone();
                }
                if index
                    .as_ref()
                    .is_some_and(|i| i.ecosystem != facts.ecosystem)
                {
                    index = None;
                }
                let index = index.get_or_insert_with(|| Index::new(settings, &facts.ecosystem));
                let verdict = index
                    .judge(&facts.name)
                    .map_or_else(Verdict::allow, |reason| {
                        Verdict::act(settings.action, reason)
                    });
                last = Some((&facts.ecosystem, &facts.name, verdict.clone()));
                verdict
            })
            .collect())
    }
}

gatehouse_sdk::export_policy!(Typosquat, reads: []);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use gatehouse_sdk::Action;
    use gatehouse_sdk::testing::{evaluate, facts};

    fn judge(settings: &str, ecosystem: &str, name: &str) -> Verdict {
        evaluate::<Typosquat>(settings, &[facts(ecosystem, name, "1.0.0")])
            .expect("evaluates")
            .remove(0)
    }

    fn flagged(ecosystem: &str, name: &str) -> bool {
        judge("", ecosystem, name).action == Action::Block
    }

    #[test]
    fn one_typo_from_a_popular_name() {
        for squat in [
            "lodahs", "lodas", "lodashh", "l0dash", "1odash", "expres", "axois",
        ] {
            assert!(flagged("npm", squat), "{squat}");
        }
        for squat in ["reqeusts", "request", "numpi", "djang0", "python-dateutl"] {
            assert!(flagged("PyPI", squat), "{squat}");
        }
        for squat in ["serde_jsom", "tokioo", "proc-macro3", "thiserrror"] {
            assert!(flagged("crates.io", squat), "{squat}");
        }
    }

    #[test]
    fn popular_and_unrelated_names_pass() {
        for name in [
            "lodash", "react", "preact", "colors", "color", "left-pad", "my-app",
        ] {
            assert!(!flagged("npm", name), "{name}");
        }
        for name in ["requests", "scrapy", "scapy", "flask-login", "attrs"] {
            assert!(!flagged("PyPI", name), "{name}");
        }
        assert!(!flagged("Go", "example.test/any/module"));
    }

    #[test]
    fn short_names_need_more_than_one_edit() {
        for name in ["wss", "qz", "mss", "pgg", "vu"] {
            assert!(!flagged("npm", name), "{name}");
        }
    }

    #[test]
    fn the_ecosystems_own_spellings_are_the_same_package() {
        for same in [
            "Requests",
            "typing_extensions",
            "Typing.Extensions",
            "PyYAML",
            "charset_normalizer",
        ] {
            assert!(!flagged("PyPI", same), "{same}");
        }
        for same in ["serde-json", "proc_macro2", "Tokio"] {
            assert!(!flagged("crates.io", same), "{same}");
        }
        assert!(!flagged("npm", "Lodash"));
        // On npm punctuation is not normalised: these are other packages.
        assert!(flagged("npm", "react_dom"));
        assert!(flagged("npm", "reactdom"));
        assert!(flagged("npm", "types-node"));
        assert!(flagged("PyPI", "python-date-util"));
    }

    #[test]
    fn pep503_spellings_of_one_name_are_one_package() {
        let settings = r#"{"popular": ["lodash-"]}"#;
        for same in ["lodash-", "lodash_", "lodash.", "LODASH__"] {
            assert_eq!(
                judge(settings, "PyPI", same).action,
                Action::Allow,
                "{same}"
            );
        }
    }

    #[test]
    fn look_alike_characters() {
        assert!(flagged("npm", "rnoment"));
        assert!(flagged("PyPI", "b0t03"));
        let verdict = judge("", "npm", "rnongoose");
        assert!(
            verdict.reason.contains("look-alike characters"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn scope_games() {
        for squat in [
            "@types-x/y",
            "@types_node/node",
            "@typess/node",
            "@tyeps/react",
            "@bab3l/core",
            "@angu1ar/core",
        ] {
            let verdict = judge("", "npm", squat);
            assert_eq!(verdict.action, Action::Block, "{squat}");
            assert!(
                verdict.reason.contains("imitates the popular scope @"),
                "{}",
                verdict.reason
            );
        }
        // Only a scope's owner publishes in it: any name there is trusted.
        for trusted in ["@types/nodee", "@angular-devkit/core", "@sentry-internal/x"] {
            assert!(!flagged("npm", trusted), "{trusted}");
        }
        assert!(!flagged("npm", "@acme/lodash"));
        let operator = r#"{"popular": ["@acme/*"]}"#;
        assert_eq!(judge(operator, "npm", "@acme-corp/x").action, Action::Block);
        assert_eq!(
            judge(operator, "npm", "@acme/anything").action,
            Action::Allow
        );
    }

    #[test]
    fn reason_says_what_to_do() {
        let verdict = judge("", "npm", "lodahs");
        assert_eq!(
            verdict.reason,
            "lodahs looks like a typosquat: it is one typo (a changed, added, dropped or swapped character) away from the popular package lodash; if you meant lodash, fix the name in your manifest; if lodahs is really the package you want, ask the platform team to add it to the typosquat policy's `popular` list"
        );
        let verdict = judge("", "npm", "react_dom");
        assert!(
            verdict
                .reason
                .contains("differs from the popular package react-dom only in punctuation"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn settings_extend_tune_and_soften() {
        let settings = r#"{"popular": ["internal-billing"], "max_distance": 2, "action": "warn"}"#;
        assert_eq!(
            judge(settings, "npm", "internal-biling").action,
            Action::Warn
        );
        assert_eq!(
            judge(settings, "npm", "intrenal-bilting").action,
            Action::Warn
        );
        assert_eq!(
            judge(settings, "npm", "internal-billing").action,
            Action::Allow
        );
        // A name on the list is trusted even when it is close to another.
        assert_eq!(
            judge(r#"{"popular": ["lodahs"]}"#, "npm", "lodahs").action,
            Action::Allow
        );
        assert_eq!(
            judge(r#"{"max_distance": 0}"#, "npm", "lodahs").action,
            Action::Allow
        );
        assert_eq!(
            judge(r#"{"max_distance": 0}"#, "npm", "l0dash").action,
            Action::Block
        );
    }

    #[test]
    fn bad_settings_fail() {
        assert!(evaluate::<Typosquat>(r#"{"max_distance": 9}"#, &[]).is_err());
        assert!(evaluate::<Typosquat>(r#"{"populr": ["x"]}"#, &[]).is_err());
    }

    #[test]
    fn one_judgement_per_package() {
        let batch: Vec<_> = ["1.0.0", "1.0.1", "2.0.0"]
            .iter()
            .map(|v| facts("npm", "lodahs", v))
            .collect();
        let verdicts = evaluate::<Typosquat>("", &batch).expect("evaluates");
        assert!(verdicts.iter().all(|v| v.action == Action::Block));
    }

    #[test]
    fn built_in_lists_do_not_flag_each_other_and_hold_no_duplicates() {
        for ecosystem in ["npm", "PyPI", "crates.io"] {
            let names = popular::built_in(ecosystem);
            for (i, name) in names.iter().enumerate() {
                assert!(!names[..i].contains(name), "{ecosystem}: {name} twice");
                assert!(!flagged(ecosystem, name), "{ecosystem}: {name}");
            }
        }
    }
}
