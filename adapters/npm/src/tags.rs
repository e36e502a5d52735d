//! Keeping dist-tags off blocked versions.
//!
//! `npm install pkg` installs `latest`, and pnpm takes `latest` whenever it
//! satisfies a range, deprecated or not. So a tag that names a blocked version
//! moves to an allowed one of the same kind: a stable tag to the highest allowed
//! stable version, a prerelease tag (`next`, `beta` ...) to the highest allowed
//! prerelease. The highest one *not above* the blocked version wins when there
//! is one, so that a tag maintainers kept on an older line stays on it. With no
//! candidate the tag is dropped.

use std::cmp::Ordering;

use gatehouse_versions::{compare, is_prerelease};

/// `tags` with every tag naming a blocked version repointed or dropped.
///
/// `versions` are the package's versions with whether each is blocked. A tag
/// naming a version that is not listed is left alone (upstream's own mistake).
pub fn repoint(tags: &[(String, String)], versions: &[(&str, bool)]) -> Vec<(String, String)> {
    tags.iter()
        .filter_map(|(tag, target)| {
            let blocked = versions.iter().any(|(v, blocked)| *blocked && v == target);
            if !blocked {
                return Some((tag.clone(), target.clone()));
            }
            replacement(target, versions).map(|version| (tag.clone(), version.to_owned()))
        })
        .collect()
}

/// The allowed version a tag on blocked `target` should name instead.
fn replacement<'v>(target: &str, versions: &[(&'v str, bool)]) -> Option<&'v str> {
    let prerelease = is_prerelease("npm", target);
    let order = |a: &str, b: &str| compare("npm", a, b).ok();
    let higher = |best: Option<&'v str>, candidate: &'v str| match best {
        Some(best) if order(candidate, best) != Some(Ordering::Greater) => Some(best),
        _ => Some(candidate),
    };
    let (mut highest_below, mut highest) = (None, None);
    for &(candidate, blocked) in versions {
        // Versions that are not SemVer have no place in an order; skip them.
        if blocked
            || order(candidate, candidate).is_none()
            || is_prerelease("npm", candidate) != prerelease
        {
            continue;
        }
        highest = higher(highest, candidate);
        if order(candidate, target) != Some(Ordering::Greater) {
            highest_below = higher(highest_below, candidate);
        }
    }
    highest_below.or(highest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(t, v)| ((*t).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn versions<'a>(all: &[&'a str], blocked: &[&str]) -> Vec<(&'a str, bool)> {
        all.iter().map(|v| (*v, blocked.contains(v))).collect()
    }

    const ALL: [&str; 7] = [
        "1.0.0",
        "1.1.0",
        "2.0.0-beta.1",
        "2.0.0-beta.2",
        "2.0.0",
        "3.0.0",
        "not-semver",
    ];

    #[test]
    fn latest_blocked_moves_to_highest_allowed_stable_below() {
        let got = repoint(
            &tags(&[("latest", "2.0.0"), ("next", "2.0.0-beta.2")]),
            &versions(&ALL, &["2.0.0"]),
        );
        assert_eq!(got, tags(&[("latest", "1.1.0"), ("next", "2.0.0-beta.2")]));
    }

    #[test]
    fn with_nothing_below_the_highest_allowed_wins() {
        let got = repoint(
            &tags(&[("latest", "1.0.0")]),
            &versions(&ALL, &["1.0.0", "1.1.0"]),
        );
        assert_eq!(got, tags(&[("latest", "3.0.0")]));
    }

    #[test]
    fn prerelease_tags_stay_on_prereleases() {
        let got = repoint(
            &tags(&[("next", "2.0.0-beta.2")]),
            &versions(&ALL, &["2.0.0-beta.2"]),
        );
        assert_eq!(got, tags(&[("next", "2.0.0-beta.1")]));
        let none_left = repoint(
            &tags(&[("next", "2.0.0-beta.2")]),
            &versions(&ALL, &["2.0.0-beta.1", "2.0.0-beta.2"]),
        );
        assert!(none_left.is_empty());
    }

    #[test]
    fn tags_drop_when_nothing_is_allowed() {
        let got = repoint(
            &tags(&[("latest", "3.0.0"), ("legacy", "1.0.0")]),
            &versions(&["1.0.0", "3.0.0"], &["1.0.0", "3.0.0"]),
        );
        assert!(got.is_empty());
    }

    #[test]
    fn unblocked_and_unknown_targets_stay() {
        let original = tags(&[("latest", "3.0.0"), ("ghost", "9.9.9")]);
        assert_eq!(repoint(&original, &versions(&ALL, &["1.0.0"])), original);
    }
}
