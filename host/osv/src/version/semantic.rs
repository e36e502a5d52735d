//! SemVer 2.0 precedence for npm, crates.io, OSV `SEMVER` ranges and Go modules.
//!
//! Parsing is the `semver` crate's; on top of it:
//! - precedence ignores build metadata (`1.0.0+a == 1.0.0+b`), as SemVer and OSV
//!   say (the crate's own `Ord` breaks ties on it);
//! - a leading `v` or `=` and surrounding blanks are tolerated (node-semver and
//!   Go spell versions that way), and a short core (`1`, `1.2`) is padded with
//!   zeros, as Go's `semver` package does for `v1` / `v1.2`;
//! - Go: `+incompatible` is build metadata, so `v2.0.0+incompatible == 2.0.0`;
//!   pseudo-versions (`v0.0.0-20191109021931-daa7c04131f5`,
//!   `v1.2.4-0.20191109021931-daa7c04131f5`) are ordinary pre-releases and
//!   therefore sort after their base and before the next release, by time.

use std::cmp::Ordering;

/// Parses a SemVer version leniently (see the module doc). `None` when it is not
/// a version in any reading.
pub fn parse(text: &str) -> Option<semver::Version> {
    let text = text.trim();
    let text = text.strip_prefix('=').unwrap_or(text).trim_start();
    let text = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('V'))
        .unwrap_or(text);
    if let Ok(v) = semver::Version::parse(text) {
        return Some(v);
    }
    // Pad a short core: "1.2" → "1.2.0", "1-rc.1" → "1.0.0-rc.1".
    let core_end = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(core_end);
    let parts = core.split('.').count();
    if core.is_empty() || parts >= 3 {
        return None;
    }
    let padded = format!("{core}{}{rest}", ".0".repeat(3 - parts));
    semver::Version::parse(&padded).ok()
}

/// SemVer precedence: major, minor, patch, then pre-release (a version without
/// one is greater); build metadata is ignored.
pub fn cmp(a: &semver::Version, b: &semver::Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> semver::Version {
        parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    fn lt(a: &str, b: &str) {
        assert_eq!(cmp(&v(a), &v(b)), Ordering::Less, "{a} < {b}");
        assert_eq!(cmp(&v(b), &v(a)), Ordering::Greater, "{b} > {a}");
    }

    #[test]
    fn precedence_follows_semver() {
        lt("1.0.0-alpha", "1.0.0-alpha.1");
        lt("1.0.0-alpha.1", "1.0.0-alpha.beta");
        lt("1.0.0-alpha.beta", "1.0.0-beta");
        lt("1.0.0-beta.2", "1.0.0-beta.11");
        lt("1.0.0-rc.1", "1.0.0");
        lt("1.0.0", "1.0.1");
        lt("1.9.0", "1.10.0");
        assert_eq!(
            cmp(&v("1.0.0+build.1"), &v("1.0.0+build.2")),
            Ordering::Equal
        );
    }

    #[test]
    fn lenient_prefixes_and_short_cores() {
        assert_eq!(v("v1.2.3"), v("1.2.3"));
        assert_eq!(v("=1.2.3"), v("1.2.3"));
        assert_eq!(v(" 1.2.3 "), v("1.2.3"));
        assert_eq!(cmp(&v("v1.2"), &v("1.2.0")), Ordering::Equal);
        assert_eq!(cmp(&v("v1"), &v("1.0.0")), Ordering::Equal);
        assert_eq!(cmp(&v("1.2-rc.1"), &v("1.2.0-rc.1")), Ordering::Equal);
        for bad in ["", "v", "abc", "1.2.3.4", "1..2", "1.2.x"] {
            assert!(parse(bad).is_none(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn go_incompatible_and_pseudo_versions() {
        assert_eq!(cmp(&v("v2.0.0+incompatible"), &v("2.0.0")), Ordering::Equal);
        lt("v2.0.0+incompatible", "v2.0.1+incompatible");
        // vX.0.0-timestamp-hash: before any release of that major
        lt("v0.0.0-20191109021931-daa7c04131f5", "v0.0.1");
        lt(
            "v0.0.0-20191109021931-daa7c04131f5",
            "v0.0.0-20200101000000-000000000000",
        );
        // vX.Y.(Z+1)-0.timestamp-hash: after X.Y.Z, before X.Y.(Z+1)
        lt("v1.2.3", "v1.2.4-0.20191109021931-daa7c04131f5");
        lt("v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.4");
        // vX.Y.Z-pre.0.timestamp-hash: after the pre-release it builds on
        lt("v1.2.4-pre", "v1.2.4-pre.0.20191109021931-daa7c04131f5");
        lt("v1.2.4-pre.0.20191109021931-daa7c04131f5", "v1.2.4");
    }
}
