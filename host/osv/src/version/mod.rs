//! Version orderings per ecosystem: which scheme an OSV range uses, and parsing
//! and comparing versions under it.
//!
//! | OSV ecosystem / range type       | scheme  | implementation                 |
//! |----------------------------------|---------|--------------------------------|
//! | `SEMVER` ranges (any ecosystem)  | SemVer  | `semver` crate, see [`semantic`] |
//! | `npm`, `crates.io`               | SemVer  | same                           |
//! | `Go`                             | SemVer  | same, `v` prefix, pseudo-versions |
//! | `PyPI`                           | PEP 440 | `pep440_rs` crate              |
//! | `Maven`                          | Maven   | [`maven`]                      |
//!
//! Other ecosystems have no order here: their records match by `versions[]` only.

pub mod maven;
pub mod semantic;

use std::cmp::Ordering;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A version ordering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scheme {
    #[serde(rename = "s")]
    Semver,
    #[serde(rename = "p")]
    Pep440,
    #[serde(rename = "m")]
    Maven,
}

impl Scheme {
    /// The scheme of an OSV range: `SEMVER` ranges are SemVer whatever the
    /// ecosystem; `ECOSYSTEM` ranges use the ecosystem's own order. `GIT` and
    /// unknown types, and ecosystems without a known order, give `None`.
    pub fn for_range(range_type: &str, ecosystem: &str) -> Option<Scheme> {
        match range_type {
            "SEMVER" => Some(Scheme::Semver),
            "ECOSYSTEM" => Scheme::for_ecosystem(ecosystem),
            _ => None,
        }
    }

    /// The ecosystem's own order, for the five ecosystems gatehouse proxies.
    pub fn for_ecosystem(ecosystem: &str) -> Option<Scheme> {
        match ecosystem {
            "npm" | "crates.io" | "Go" => Some(Scheme::Semver),
            "PyPI" => Some(Scheme::Pep440),
            "Maven" => Some(Scheme::Maven),
            _ => None,
        }
    }

    /// Parses `text` under this scheme; `None` when it is not a version here.
    pub fn parse(self, text: &str) -> Option<Version> {
        match self {
            Scheme::Semver => semantic::parse(text).map(Version::Semver),
            Scheme::Pep440 => pep440_rs::Version::from_str(text.trim())
                .ok()
                .map(Version::Pep440),
            Scheme::Maven => maven::MavenVersion::parse(text).map(Version::Maven),
        }
    }
}

/// A version parsed under one [`Scheme`].
#[derive(Clone, Debug)]
pub enum Version {
    Semver(semver::Version),
    Pep440(pep440_rs::Version),
    Maven(maven::MavenVersion),
}

impl Version {
    /// The order of two versions of the same scheme; `None` across schemes.
    pub fn compare(&self, other: &Version) -> Option<Ordering> {
        match (self, other) {
            (Version::Semver(a), Version::Semver(b)) => Some(semantic::cmp(a, b)),
            (Version::Pep440(a), Version::Pep440(b)) => Some(a.cmp(b)),
            (Version::Maven(a), Version::Maven(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// A spelling shared by all versions equal to this one (`1.0` and `1.0.0`
    /// under PEP 440; `1.2.3+build` and `1.2.3` under SemVer).
    pub fn canonical(&self) -> String {
        match self {
            Version::Semver(v) => {
                let mut s = format!("{}.{}.{}", v.major, v.minor, v.patch);
                if !v.pre.is_empty() {
                    s.push('-');
                    s.push_str(v.pre.as_str());
                }
                s
            }
            Version::Pep440(v) => {
                let release = v.release();
                let mut n = release.len();
                while n > 1 && release[n - 1] == 0 {
                    n -= 1;
                }
                v.clone().with_release(release[..n].to_vec()).to_string()
            }
            Version::Maven(v) => v.canonical(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(scheme: Scheme, a: &str, b: &str) -> Ordering {
        let a = scheme.parse(a).expect("a parses");
        let b = scheme.parse(b).expect("b parses");
        a.compare(&b).expect("same scheme")
    }

    #[test]
    fn schemes_per_range_type_and_ecosystem() {
        assert_eq!(
            Scheme::for_range("SEMVER", "Debian:11"),
            Some(Scheme::Semver)
        );
        assert_eq!(Scheme::for_range("ECOSYSTEM", "PyPI"), Some(Scheme::Pep440));
        assert_eq!(Scheme::for_range("ECOSYSTEM", "Maven"), Some(Scheme::Maven));
        assert_eq!(Scheme::for_range("ECOSYSTEM", "Go"), Some(Scheme::Semver));
        assert_eq!(Scheme::for_range("ECOSYSTEM", "Debian:11"), None);
        assert_eq!(Scheme::for_range("GIT", "npm"), None);
    }

    #[test]
    fn pep440_orders_pre_post_dev_and_local() {
        let p = Scheme::Pep440;
        assert_eq!(cmp(p, "1.0.dev1", "1.0a1"), Ordering::Less);
        assert_eq!(cmp(p, "1.0a1", "1.0b1"), Ordering::Less);
        assert_eq!(cmp(p, "1.0rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp(p, "1.0", "1.0.post1"), Ordering::Less);
        assert_eq!(cmp(p, "1.0", "1.0+local.1"), Ordering::Less);
        assert_eq!(cmp(p, "1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(cmp(p, "1!0.1", "2.0"), Ordering::Greater);
        assert!(p.parse("not a version").is_none());
        let canon = |s: &str| p.parse(s).expect("parses").canonical();
        assert_eq!(canon("1.0"), canon("1.0.0"));
        assert_eq!(canon("1.0-RC1"), canon("1.0rc1"));
        assert_ne!(canon("1.0"), canon("1.0.1"));
    }

    #[test]
    fn cross_scheme_comparison_is_none() {
        let a = Scheme::Semver.parse("1.0.0").expect("semver");
        let b = Scheme::Maven.parse("1.0.0").expect("maven");
        assert_eq!(a.compare(&b), None);
    }
}
