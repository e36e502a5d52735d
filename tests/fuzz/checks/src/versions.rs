//! Version order and range matching: `gatehouse-versions` (what policies
//! call) and the OSV mirror's schemes (what advisories match with).
//!
//! Invariants: the order is total (reflexive, antisymmetric, transitive on
//! every triple); equal npm versions satisfy the same ranges; for a version
//! that is not a pre-release, npm's `includePrerelease` mode answers as the
//! plain one; and an OSV scheme's canonical spelling parses back to an equal
//! version with the same canonical spelling.

use std::cmp::Ordering;

use arbitrary::Unstructured;
use gatehouse_osv::version::{Scheme, Version};
use gatehouse_versions::{compare, is_prerelease, satisfies, satisfies_including_prereleases};

use crate::{token_text, total_order};

/// A version-ish string: mostly from `tokens`, sometimes anything.
fn version_text(u: &mut Unstructured<'_>, tokens: &str, separators: &[&str]) -> String {
    if u.ratio(1, 8).unwrap_or(false) {
        return u.arbitrary::<&str>().unwrap_or_default().to_owned();
    }
    token_text(u, tokens, separators)
}

/// Three versions, for the order's laws.
fn triple(u: &mut Unstructured<'_>, tokens: &str, separators: &[&str]) -> [String; 3] {
    [(); 3].map(|()| version_text(u, tokens, separators))
}

/// The laws of `ecosystem`'s order on three versions, when all three parse.
fn order_laws(ecosystem: &str, versions: &[String; 3]) {
    if versions.iter().all(|v| compare(ecosystem, v, v).is_ok()) {
        let [a, b, c] = versions;
        total_order([a, b, c], |x, y| {
            compare(ecosystem, x, y).expect("both parse")
        });
    }
}

/// A range, each parse-able version matched against it, both modes: where
/// both modes read the range, a release is matched the same way. Only where
/// both read it: node-semver refuses `1.2.3 - = 1.2.3` plainly (its upper
/// end becomes `<== 1.2.3`) and reads it with pre-releases included (the end
/// becomes `<1.2.4-0`), and gatehouse answers as node does (the
/// differential tests hold it to node on both modes).
fn range_laws(ecosystem: &str, versions: &[String; 3], range: &str) {
    for version in versions {
        let plain = satisfies(ecosystem, version, range);
        let including = satisfies_including_prereleases(ecosystem, version, range);
        if let (Ok(plain), Ok(including)) = (plain, including)
            && !is_prerelease(ecosystem, version)
        {
            assert_eq!(
                plain, including,
                "{ecosystem}: {version:?} in {range:?} differs with pre-releases included"
            );
        }
    }
}

/// The OSV scheme's canonical spelling is a fixed point: it parses to an equal
/// version whose canonical spelling is itself; and, when `total`, the
/// scheme's order is total on the three.
fn canonical_laws(scheme: Scheme, versions: &[String; 3], total: bool) {
    let parsed: Vec<Version> = versions.iter().filter_map(|v| scheme.parse(v)).collect();
    for version in &parsed {
        let canonical = version.canonical();
        let again = scheme.parse(&canonical).unwrap_or_else(|| {
            panic!("{scheme:?}: canonical {canonical:?} of {version:?} does not parse")
        });
        assert_eq!(
            version.compare(&again),
            Some(Ordering::Equal),
            "{scheme:?}: {version:?} and its canonical {canonical:?} differ ({versions:?})"
        );
        assert_eq!(
            again.canonical(),
            canonical,
            "{scheme:?}: canonical of {canonical:?}"
        );
    }
    if let [a, b, c] = parsed.as_slice()
        && total
    {
        total_order([a, b, c], |x, y| x.compare(y).expect("one scheme"));
    }
}

const NPM_TOKENS: &str = "0 1 2 10 01 x X * v1 alpha beta rc 0-0 1.2.3 1.0.0-rc.1 9007199254740993";
const NPM_RANGE_TOKENS: &str =
    "^ ~ >= < <= > = || 1 0 2 x * 1.2.3 1.0.0-rc.1 0.0.0-0 1.x ^0.0.1 ~1.2 ~>1 >=1.2.3-alpha";

/// npm (node-semver) versions and ranges.
pub fn npm(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let versions = triple(&mut u, NPM_TOKENS, &[".", "-", "+", "."]);
    let range = version_text(&mut u, NPM_RANGE_TOKENS, &["", " ", ".", "-", " - "]);
    order_laws("npm", &versions);
    range_laws("npm", &versions, &range);
    let [a, b, _] = &versions;
    if compare("npm", a, b) == Ok(Ordering::Equal) {
        for mode in [satisfies, satisfies_including_prereleases] {
            assert_eq!(
                mode("npm", a, &range).ok(),
                mode("npm", b, &range).ok(),
                "npm: equal {a:?} and {b:?} answer {range:?} differently"
            );
        }
    }
    canonical_laws(Scheme::Semver, &versions, true);
}

const PYPI_TOKENS: &str = "0 1 2 10 01 1! a b rc c pre preview alpha post rev r dev +local +ubuntu.1 * v 1.0 \
     18446744073709551616";
const PYPI_RANGE_TOKENS: &str =
    "== != >= <= > < ~= === , 1 1.0 2.0 .* 1.0a1 1.0.post1 1!1.0 1.0+local 1.0.dev0";

/// PEP 440 versions and specifiers.
pub fn pypi(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let versions = triple(&mut u, PYPI_TOKENS, &[".", "-", "_", ""]);
    let range = version_text(&mut u, PYPI_RANGE_TOKENS, &["", " ", ","]);
    order_laws("PyPI", &versions);
    range_laws("PyPI", &versions, &range);
    canonical_laws(Scheme::Pep440, &versions, true);
}

const SEMVER_TOKENS: &str = "0 1 2 10 01 v1 alpha beta rc 0-0 incompatible 20191109021931 daa7c04131f5 1.2.3 \
     v0.0.0-20191109021931-daa7c04131f5";
const SEMVER_RANGE_TOKENS: &str =
    "^ ~ >= < <= > = , 1 0 2 * 1.2.3 v1.2.3 1.0.0-rc.1 1.* v2 0.0.0-0";

/// crates.io (the `semver` crate) and Go (semver with `v`): the first byte
/// picks one.
pub fn semver(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let ecosystem = if u.arbitrary::<bool>().unwrap_or(false) {
        "Go"
    } else {
        "crates.io"
    };
    let versions = triple(&mut u, SEMVER_TOKENS, &[".", "-", "+", "."]);
    let range = version_text(&mut u, SEMVER_RANGE_TOKENS, &["", " ", ".", ","]);
    order_laws(ecosystem, &versions);
    range_laws(ecosystem, &versions, &range);
    canonical_laws(Scheme::Semver, &versions, true);
}

const MAVEN_TOKENS: &str = "0 1 2 10 01 alpha a beta b milestone m rc cr snapshot SNAPSHOT ga final release sp x \
     1.0 1-1";

/// Maven (the OSV mirror's `ComparableVersion`): the canonical spelling, and
/// the laws Maven's order keeps: antisymmetry, and equality exactly where the
/// canonical spellings are equal. Not transitivity: Maven's own order is not
/// transitive, and the mirror follows it: `post1 < 0-rc < 0 < post1` (a
/// qualifier is below a list whatever either holds).
pub fn maven(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let versions = triple(&mut u, MAVEN_TOKENS, &[".", "-", "", "_", ".."]);
    canonical_laws(Scheme::Maven, &versions, false);
    let parsed: Vec<Version> = versions
        .iter()
        .filter_map(|v| Scheme::Maven.parse(v))
        .collect();
    for a in &parsed {
        for b in &parsed {
            let order = a.compare(b).expect("one scheme");
            assert_eq!(b.compare(a), Some(order.reverse()), "{a:?} against {b:?}");
            assert_eq!(
                order.is_eq(),
                a.canonical() == b.canonical(),
                "{a:?} against {b:?}: equal exactly when spelled alike"
            );
        }
    }
}
