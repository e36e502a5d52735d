//! PEP 440 specifier matching as Python's `packaging` (pip's library) does it,
//! on `pep440_rs`'s parsed versions and specifiers: `pep440_rs`'s own matching
//! differs in the places the differential tests found (prefix matches against
//! shorter releases, the exclusive `<`/`>` carve-outs).

use std::cmp::Ordering;

use pep440_rs::{Operator, Version, VersionSpecifier};

/// The version without its local label, as ordered comparisons see it.
fn public(version: &Version) -> Version {
    version.clone().without_local()
}

/// Same epoch and release, trailing zeros aside (`1.0` is `1`).
fn same_release(a: &Version, b: &Version) -> bool {
    let trimmed = |v: &Version| {
        let release = v.release();
        let end = release.iter().rposition(|n| *n != 0).map_or(0, |i| i + 1);
        release[..end].to_vec()
    };
    a.epoch() == b.epoch() && trimmed(a) == trimmed(b)
}

/// `V.*`: the epoch matches and the release, padded with zeros to the
/// prefix's length, starts with the prefix's release.
fn prefix_match(version: &Version, prefix: &Version) -> bool {
    let want = prefix.release();
    let have = version.release();
    version.epoch() == prefix.epoch()
        && want
            .iter()
            .enumerate()
            .all(|(i, n)| have.get(i).copied().unwrap_or(0) == *n)
}

/// Whether `version` (spelled `raw`) satisfies one specifier.
pub fn contains(specifier: &VersionSpecifier, version: &Version, raw: &str) -> bool {
    let spec = specifier.version();
    match specifier.operator() {
        Operator::Equal => equal(spec, version),
        Operator::NotEqual => !equal(spec, version),
        Operator::EqualStar => prefix_match(&public(version), spec),
        Operator::NotEqualStar => !prefix_match(&public(version), spec),
        Operator::ExactEqual => raw.trim().eq_ignore_ascii_case(&spec.to_string()),
        Operator::LessThanEqual => public(version) <= *spec,
        Operator::GreaterThanEqual => public(version) >= *spec,
        Operator::TildeEqual => {
            let release = spec.release();
            let prefix =
                Version::new(&release[..release.len().saturating_sub(1)]).with_epoch(spec.epoch());
            public(version) >= *spec && prefix_match(&public(version), &prefix)
        }
        // `<V` leaves out V's own pre-releases unless V is one.
        Operator::LessThan => {
            let version = public(version);
            version.cmp(spec) == Ordering::Less
                && (spec.any_prerelease()
                    || !version.any_prerelease()
                    || !same_release(&version, spec))
        }
        // `>V` leaves out V's post-releases (and local builds of V) unless
        // V is itself a post- or dev release.
        Operator::GreaterThan => {
            let public_version = public(version);
            public_version.cmp(spec) == Ordering::Greater
                && (spec.dev().is_some()
                    || spec.post().is_some()
                    || !same_release(&public_version, spec)
                    || public_version.pre() != spec.pre())
        }
    }
}

fn equal(spec: &Version, version: &Version) -> bool {
    if spec.local().is_empty() {
        public(version) == *spec
    } else {
        version == spec
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use pep440_rs::VersionSpecifiers;

    use super::*;

    fn matches(version: &str, specifiers: &str) -> bool {
        let parsed = Version::from_str(version).unwrap();
        VersionSpecifiers::from_str(specifiers)
            .unwrap()
            .iter()
            .all(|s| contains(s, &parsed, version))
    }

    // Each case below is one the differential test found `pep440_rs`'s own
    // matching answering differently from packaging (and pip).

    #[test]
    fn a_shorter_release_is_zero_padded_for_prefix_matches() {
        assert!(!matches("1", "==1.13.2.*"));
        assert!(matches("0", "!=0.1.0.*"));
        assert!(matches("1.13.2.post1", "==1.13.2.*"));
    }

    #[test]
    fn exclusive_bounds_leave_out_only_the_bounds_own_family() {
        assert!(matches("1.1b0", "<1.1rc0.post0.dev0"));
        assert!(matches("1.18.post2", ">1.18.0rc3"));
        assert!(!matches("1.0.post1", ">1.0"));
        assert!(!matches("1.0rc1", "<1.0"));
        assert!(matches("1.4.9", "~=1.4.2"));
        assert!(!matches("1.5", "~=1.4.2"));
    }
}
