//! The version a distribution's filename names, read as installers read it.

use std::str::FromStr;

use crate::name::normalise;

/// Source distribution archive suffixes installers accept.
const SDIST_SUFFIXES: &[&str] = &[
    ".tar.gz",
    ".tgz",
    ".zip",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tar.lz",
    ".tlz",
    ".tar.lzma",
    ".tar",
];

/// A version in PEP 440's normal form (`1.0-RC1` → `1.0rc1`), or `None` when it
/// is not a PEP 440 version.
pub fn normal_version(text: &str) -> Option<String> {
    pep440_rs::Version::from_str(text)
        .ok()
        .map(|version| version.to_string())
}

/// The normalised version `filename` carries when it is a distribution of
/// `project` (a normalised name): a wheel, an sdist or an egg. `None` for
/// anything else, which installers skip too.
pub fn version_of(filename: &str, project: &str) -> Option<String> {
    let raw = if let Some(stem) = filename.strip_suffix(".whl") {
        // {name}-{version}(-{build})?-{python}-{abi}-{platform}
        let parts: Vec<&str> = stem.split('-').collect();
        (matches!(parts.len(), 5 | 6) && normalise(parts[0]) == project).then(|| parts[1])?
    } else if let Some(stem) = filename.strip_suffix(".egg") {
        // {name}-{version}(-py{x.y}(-{platform})?)?
        let mut parts = stem.split('-');
        let name = parts.next()?;
        (normalise(name) == project).then(|| parts.next())??
    } else {
        let stem = SDIST_SUFFIXES
            .iter()
            .find_map(|suffix| filename.strip_suffix(suffix))?;
        sdist_version(stem, project)?
    };
    normal_version(raw)
}

/// `{name}-{version}` where the name may itself contain hyphens: the version
/// starts after the first hyphen whose prefix normalises to the project name.
fn sdist_version<'a>(stem: &'a str, project: &str) -> Option<&'a str> {
    stem.match_indices('-')
        .map(|(at, _)| at)
        .find(|&at| normalise(&stem[..at]) == project)
        .map(|at| &stem[at + 1..])
        .filter(|version| !version.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels() {
        assert_eq!(
            version_of("six-1.16.0-py2.py3-none-any.whl", "six").as_deref(),
            Some("1.16.0")
        );
        assert_eq!(
            version_of(
                "foo_bar-2.0-1-cp311-cp311-manylinux_2_17_x86_64.whl",
                "foo-bar"
            )
            .as_deref(),
            Some("2.0")
        );
        assert_eq!(
            version_of(
                "zope.interface-6.0-cp311-cp311-win_amd64.whl",
                "zope-interface"
            )
            .as_deref(),
            Some("6.0")
        );
        assert_eq!(
            version_of("torch-2.0.0+cpu-cp311-cp311-linux_x86_64.whl", "torch").as_deref(),
            Some("2.0.0+cpu")
        );
        // Another project's wheel, and a malformed one.
        assert_eq!(version_of("other-1.0-py3-none-any.whl", "six"), None);
        assert_eq!(version_of("six-1.0-any.whl", "six"), None);
    }

    #[test]
    fn sdists_with_hyphenated_names() {
        assert_eq!(
            version_of("foo-bar-1.0.tar.gz", "foo-bar").as_deref(),
            Some("1.0")
        );
        assert_eq!(
            version_of("Foo.Bar-1.0.zip", "foo-bar").as_deref(),
            Some("1.0")
        );
        assert_eq!(
            version_of("foo_bar-2.1.0rc1.tar.bz2", "foo-bar").as_deref(),
            Some("2.1.0rc1")
        );
        assert_eq!(
            version_of("python-dateutil-2.8.2.tar.gz", "python-dateutil").as_deref(),
            Some("2.8.2")
        );
        // `foo` must not claim `foo-bar`'s files.
        assert_eq!(version_of("foo-bar-1.0.tar.gz", "foo"), None);
    }

    #[test]
    fn versions_are_normalised() {
        assert_eq!(
            version_of("six-1.0-RC1.tar.gz", "six").as_deref(),
            Some("1.0rc1")
        );
        assert_eq!(normal_version("1.0.POST2").as_deref(), Some("1.0.post2"));
    }

    #[test]
    fn eggs() {
        assert_eq!(
            version_of("foo_bar-1.2-py2.7.egg", "foo-bar").as_deref(),
            Some("1.2")
        );
        assert_eq!(version_of("six-1.0.egg", "six").as_deref(), Some("1.0"));
    }

    #[test]
    fn odd_names_are_skipped() {
        for name in [
            "six-1.0.win32.exe",
            "six-1.0.tar.gz.asc",
            "six.tar.gz",
            "six-.tar.gz",
            "six-not a version.tar.gz",
            "README",
        ] {
            assert_eq!(version_of(name, "six"), None, "{name}");
        }
    }
}
