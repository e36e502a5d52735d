//! The adapter's block of the gatehouse config.
//!
//! ```json
//! { "blocked_versions": "deprecate", "advisory_url": "https://advisories.example/{id}" }
//! ```
//!
//! `advisory_url` is the link `npm audit` prints for an advisory (`{id}` is
//! replaced by its OSV id); without it npm prints the id.
//!
//! ## How blocked versions appear in packuments
//!
//! What the clients do with a deprecated version (read from their resolvers):
//! - npm (`npm-pick-manifest`): skips a deprecated `latest`, and sorts every
//!   non-deprecated version that satisfies a range before any deprecated one;
//!   an exact pin (`pkg@1.2.3`) still picks the deprecated version.
//! - pnpm 10 (`pickVersionByVersionRange`): takes `latest` when it satisfies
//!   the range, deprecated or not (hence dist-tags are always repointed);
//!   otherwise, when the highest match is deprecated, the highest
//!   non-deprecated match. It prints the deprecation message.
//! - Yarn 2+ (`NpmSemverResolver`): drops deprecated candidates whenever a
//!   non-deprecated one satisfies the range.
//! - Yarn 1: ignores deprecation; it takes the highest match.
//!
//! So with `deprecate` (the default) ranges resolve around blocked versions in
//! npm, pnpm and Yarn 2+, and whatever still lands on one (an exact pin, Yarn 1,
//! a lockfile) prints the deprecation, rule and reason included, then fails on
//! the tarball's 403. With `remove`, a blocked version is gone and an exact pin
//! fails as "no matching version", which names no reason. To keep the reason in
//! npm's output, `remove` lists the removed versions under
//! `policyRestrictions`, which npm reads: it never picks such a version over
//! another, and when one is the only match it fails with `E403 Could not
//! download ... due to policy violations:` and the message. pnpm and Yarn ignore
//! that field and just see the version missing.
//!
//! Checked with npm 11.19 and pnpm 10.34 and 12.21 against a fake registry:
//! both modes keep ranges and `latest` on allowed versions; for an exact pin of
//! a blocked version npm prints the reason in both modes, pnpm 10 only with
//! `deprecate`, and pnpm 12 prints neither deprecation messages nor 403 bodies.

use serde::Deserialize;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub blocked_versions: BlockedVersions,
    pub advisory_url: Option<String>,
}

/// What a packument does with a version the gate blocked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockedVersions {
    /// Drop it from `versions` and `time`; list it under `policyRestrictions`.
    Remove,
    /// Keep it, with `deprecated` set to the rule and reason.
    #[default]
    Deprecate,
}

impl Settings {
    /// Reads the settings JSON; an empty document means the defaults.
    pub fn parse(json: &str) -> Result<Self, String> {
        if json.trim().is_empty() {
            return Ok(Settings::default());
        }
        serde_json::from_str(json).map_err(|e| format!("invalid npm adapter settings: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_choices() {
        assert_eq!(
            Settings::parse("").unwrap().blocked_versions,
            BlockedVersions::Deprecate
        );
        assert_eq!(
            Settings::parse("{}").unwrap().blocked_versions,
            BlockedVersions::Deprecate
        );
        assert_eq!(
            Settings::parse(r#"{"blocked_versions": "remove"}"#)
                .unwrap()
                .blocked_versions,
            BlockedVersions::Remove
        );
        assert!(Settings::parse(r#"{"blocked_versions": "hide"}"#).is_err());
    }
}
