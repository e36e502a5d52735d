//! Each ecosystem's own version ordering and range syntax.
//!
//! Ecosystems are named as OSV names them: `npm` (node-semver ranges such as
//! `^1.2.0 || >=3`), `crates.io` (Cargo requirements such as `>=1.2, <2`),
//! `PyPI` (PEP 440 specifiers such as `>=1.0,!=1.3.*`) and `Go` (semver with a
//! leading `v`; a range is a Cargo-style requirement on the version without `v`).
//! Anything else compares only for equality.
//!
//! Each answers as the ecosystem's own library does (node's `semver`, Python's
//! `packaging`, the `semver` crate, Go's `x/mod/semver`): `tests/differential`
//! holds them to those libraries over 100,000 versions each, and lists the few
//! intended differences (a bare version as a range means exactly that version).
//! [`names`] says which spellings of a name are one package, likewise.

use std::cmp::Ordering;
use std::str::FromStr;

pub mod names;
mod npm;
mod pypi;

/// A version or range that does not parse in its ecosystem's syntax.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionError {
    #[error("{ecosystem}: {text:?} is not a valid version: {reason}")]
    Version {
        ecosystem: String,
        text: String,
        reason: String,
    },
    #[error("{ecosystem}: {text:?} is not a valid range: {reason}")]
    Range {
        ecosystem: String,
        text: String,
        reason: String,
    },
    #[error("{ecosystem}: versions have no known order here")]
    Unordered { ecosystem: String },
}

fn version_error(ecosystem: &str, text: &str, reason: impl ToString) -> VersionError {
    VersionError::Version {
        ecosystem: ecosystem.into(),
        text: text.into(),
        reason: reason.to_string(),
    }
}

fn range_error(ecosystem: &str, text: &str, reason: impl ToString) -> VersionError {
    VersionError::Range {
        ecosystem: ecosystem.into(),
        text: text.into(),
        reason: reason.to_string(),
    }
}

fn cargo_version(ecosystem: &str, text: &str) -> Result<semver::Version, VersionError> {
    let parsed = if ecosystem == "Go" {
        semver::Version::parse(&go_semver(text))
    } else {
        semver::Version::parse(text)
    };
    parsed.map_err(|e| version_error(ecosystem, text, e))
}

/// A Go version as semver: without its `v`, and Go's shorthands `v1` and
/// `v1.2` (nothing after them) written out as `1.0.0` and `1.2.0`.
fn go_semver(text: &str) -> String {
    let bare = text.strip_prefix('v').unwrap_or(text);
    let parts = bare.split('.').count();
    let shorthand = parts < 3
        && bare
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if shorthand {
        format!("{bare}{}", ".0".repeat(3 - parts))
    } else {
        bare.to_owned()
    }
}

fn npm_version(text: &str) -> Result<npm::Version, VersionError> {
    npm::Version::parse(text).map_err(|e| version_error("npm", text, e))
}

fn pep440_version(text: &str) -> Result<pep440_rs::Version, VersionError> {
    pep440_rs::Version::from_str(text).map_err(|e| version_error("PyPI", text, e))
}

/// Orders two versions the way `ecosystem`'s clients do.
pub fn compare(ecosystem: &str, a: &str, b: &str) -> Result<Ordering, VersionError> {
    match ecosystem {
        "npm" => Ok(npm_version(a)?.cmp(&npm_version(b)?)),
        "crates.io" | "Go" => {
            let (a, b) = (cargo_version(ecosystem, a)?, cargo_version(ecosystem, b)?);
            Ok(a.cmp_precedence(&b))
        }
        "PyPI" => Ok(pep440_version(a)?.cmp(&pep440_version(b)?)),
        _ if a == b => Ok(Ordering::Equal),
        _ => Err(VersionError::Unordered {
            ecosystem: ecosystem.into(),
        }),
    }
}

/// True when `version` is a pre-release in `ecosystem`'s terms.
pub fn is_prerelease(ecosystem: &str, version: &str) -> bool {
    match ecosystem {
        "npm" => npm_version(version).is_ok_and(|v| v.is_prerelease()),
        "crates.io" | "Go" => cargo_version(ecosystem, version).is_ok_and(|v| !v.pre.is_empty()),
        "PyPI" => pep440_version(version).is_ok_and(|v| v.any_prerelease()),
        _ => false,
    }
}

/// A Go range with the `v` taken off each version (`>=v1.2.0` to `>=1.2.0`);
/// only a `v` that begins a version goes, not one inside a pre-release.
fn strip_go_v(range: &str) -> String {
    let mut out = String::with_capacity(range.len());
    let mut chars = range.chars().peekable();
    let mut starts_version = true;
    while let Some(c) = chars.next() {
        if !(starts_version && c == 'v' && chars.peek().is_some_and(char::is_ascii_digit)) {
            out.push(c);
        }
        starts_version = c.is_whitespace() || "=<>~^,".contains(c);
    }
    out
}

/// True when `version` satisfies `range` in `ecosystem`'s range syntax.
///
/// A range that is a bare version means exactly that version.
pub fn satisfies(ecosystem: &str, version: &str, range: &str) -> Result<bool, VersionError> {
    match ecosystem {
        "npm" => {
            let range =
                npm::Range::parse(range, false).map_err(|e| range_error(ecosystem, range, e))?;
            Ok(range.satisfies(&npm_version(version)?))
        }
        "crates.io" | "Go" => {
            let version = cargo_version(ecosystem, version)?;
            if let Ok(exact) = cargo_version(ecosystem, range) {
                return Ok(exact == version);
            }
            // Go writes `v1.2.3`; its requirements are parsed on the bare numbers.
            let bare = if ecosystem == "Go" {
                strip_go_v(range)
            } else {
                range.to_owned()
            };
            let req =
                semver::VersionReq::parse(&bare).map_err(|e| range_error(ecosystem, range, e))?;
            Ok(req.matches(&version))
        }
        "PyPI" => {
            let raw = version;
            let version = pep440_version(version)?;
            if let Ok(exact) = pep440_rs::Version::from_str(range) {
                return Ok(exact == version);
            }
            let specifiers = pep440_rs::VersionSpecifiers::from_str(range)
                .map_err(|e| range_error(ecosystem, range, e))?;
            Ok(specifiers.iter().all(|s| pypi::contains(s, &version, raw)))
        }
        _ => Ok(version == range),
    }
}

/// Like [`satisfies`], but a pre-release matches wherever the order puts it,
/// as a security tool asks "is this installed version affected". In npm that
/// is node-semver's `includePrerelease`, which `npm audit` tests vulnerable
/// ranges with; PyPI's specifiers already match pre-releases so; cargo and Go
/// requirements have no such mode and answer as [`satisfies`].
pub fn satisfies_including_prereleases(
    ecosystem: &str,
    version: &str,
    range: &str,
) -> Result<bool, VersionError> {
    match ecosystem {
        "npm" => {
            let range =
                npm::Range::parse(range, true).map_err(|e| range_error(ecosystem, range, e))?;
            Ok(range.satisfies(&npm_version(version)?))
        }
        _ => satisfies(ecosystem, version, range),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_ranges_and_order() {
        assert_eq!(satisfies("npm", "1.3.0", "^1.2.0"), Ok(true));
        assert_eq!(satisfies("npm", "2.0.0", "^1.2.0"), Ok(false));
        assert_eq!(satisfies("npm", "3.1.0", "1.x || >=3"), Ok(true));
        assert_eq!(satisfies("npm", "1.2.0", "1.2.0"), Ok(true));
        assert_eq!(compare("npm", "1.0.0-rc.1", "1.0.0"), Ok(Ordering::Less));
        assert!(is_prerelease("npm", "2.0.0-beta.1"));
        assert!(satisfies("npm", "x", "^1").is_err());
    }

    #[test]
    fn pypi_specifiers_and_order() {
        assert_eq!(satisfies("PyPI", "1.5", ">=1.0,<2"), Ok(true));
        assert_eq!(satisfies("PyPI", "1.3.1", "!=1.3.*"), Ok(false));
        assert_eq!(satisfies("PyPI", "1.5.0", "1.5"), Ok(true));
        assert_eq!(compare("PyPI", "1.0rc1", "1.0"), Ok(Ordering::Less));
        assert!(is_prerelease("PyPI", "2.0b1"));
    }

    #[test]
    fn cargo_and_go() {
        assert_eq!(satisfies("crates.io", "1.4.0", ">=1.2, <2"), Ok(true));
        assert_eq!(satisfies("crates.io", "1.4.0", "1.4.0"), Ok(true));
        assert_eq!(satisfies("crates.io", "1.5.0", "=1.4.0"), Ok(false));
        assert_eq!(satisfies("Go", "v1.4.0", "v1.4.0"), Ok(true));
        assert_eq!(satisfies("Go", "v1.4.0", ">=1.2, <2"), Ok(true));
        assert_eq!(compare("Go", "v1.10.0", "v1.9.0"), Ok(Ordering::Greater));
    }

    // Found by the differential test: the Go `v` was taken off crates.io
    // ranges too (accepting `v0.0.4`, which cargo refuses), and off a `v`
    // inside a Go pre-release.
    #[test]
    fn only_go_ranges_lose_a_leading_v() {
        assert!(satisfies("crates.io", "0.0.4", "v0.0.4").is_err());
        assert!(satisfies("crates.io", "3.0.1", "=v3.0.1").is_err());
        assert_eq!(satisfies("Go", "v1.0.0-v2", "=v1.0.0-v2"), Ok(true));
        assert_eq!(satisfies("Go", "v1.0.0-2", "=v1.0.0-v2"), Ok(false));
        assert_eq!(satisfies("Go", "v1.3.0", ">= v1.2, <v2"), Ok(true));
    }

    // Found by the differential test: Go's shorthands were refused.
    #[test]
    fn go_shorthands_are_their_zero_versions() {
        assert_eq!(compare("Go", "v1.2", "v1.2.0"), Ok(Ordering::Equal));
        assert_eq!(compare("Go", "v1", "v0.9.9"), Ok(Ordering::Greater));
        assert!(compare("Go", "v1.2-pre", "v1.2.0").is_err());
        assert!(compare("Go", "v1.", "v1.0.0").is_err());
    }

    #[test]
    fn unknown_ecosystems_compare_for_equality_only() {
        assert_eq!(satisfies("Maven", "1.0", "1.0"), Ok(true));
        assert_eq!(compare("Maven", "1.0", "1.0"), Ok(Ordering::Equal));
        assert!(compare("Maven", "1.0", "2.0").is_err());
    }
}
