//! The fuzz targets' checks, on stable: each target in `tests/fuzz/fuzz_targets`
//! hands its input to one function here, and `cargo test` replays every saved
//! input under `tests/fuzz/regressions/<target>/` (and the seeds under
//! `tests/fuzz/seeds/<target>/`) through the same function (see
//! `tests/replay.rs`). A check panics when an invariant breaks.
//!
//! Structure-aware targets read their input through [`arbitrary::Unstructured`],
//! so a saved input replays to the same document on any toolchain.

use arbitrary::Unstructured;

mod archive;
mod cargo;
mod fake;
mod go;
mod lockfile;
mod maven;
mod npm;
mod oci;
mod osv;
mod pypi;
mod versions;

/// A fuzz target: its name (the file in `fuzz_targets/`) and its check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("versions_npm", versions::npm),
    ("versions_pypi", versions::pypi),
    ("versions_semver", versions::semver),
    ("versions_maven", versions::maven),
    ("osv_ranges", osv::ranges),
    ("osv_record", osv::record),
    ("npm_packument", npm::packument),
    ("npm_packument_raw", npm::packument_raw),
    ("npm_request", npm::request),
    ("pypi_pages", pypi::pages),
    ("pypi_raw", pypi::raw),
    ("cargo_index", cargo::index),
    ("maven_metadata", maven::metadata),
    ("go_list", go::list),
    ("go_zip", go::zip),
    ("archive_raw", archive::raw),
    ("archive_built", archive::built),
    ("archive_layer", archive::layer),
    ("oci_request", oci::request),
    ("lockfile", lockfile::lockfile),
];

/// The check of target `name`.
pub fn check(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// A short string of `tokens` (separated by blanks), joined by `separators`:
/// version-like text that meets the interesting cases (equal spellings,
/// qualifiers) often.
fn token_text(u: &mut Unstructured<'_>, tokens: &str, separators: &[&str]) -> String {
    let tokens: Vec<&str> = tokens.split_whitespace().collect();
    let mut text = String::new();
    let parts = u.int_in_range(1..=5).unwrap_or(1);
    for i in 0..parts {
        if i > 0 {
            text.push_str(u.choose(separators).unwrap_or(&"."));
        }
        text.push_str(u.choose(&tokens).unwrap_or(&"0"));
    }
    text
}

/// Some of `items`, each with odds of one in three: the versions a fake gate
/// blocks.
fn some_of(u: &mut Unstructured<'_>, items: &[&str]) -> std::collections::HashSet<String> {
    items
        .iter()
        .filter(|_| u.ratio(1, 3).unwrap_or(false))
        .map(|item| (*item).to_owned())
        .collect()
}

/// Checks that `cmp` is a total order on `a`, `b`, `c`: reflexive,
/// antisymmetric, transitive.
fn total_order<T: std::fmt::Debug>(items: [&T; 3], cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let [a, b, c] = items;
    for x in items {
        assert_eq!(cmp(x, x), Equal, "{x:?} is not equal to itself");
    }
    for (x, y) in [(a, b), (b, c), (a, c)] {
        assert_eq!(
            cmp(x, y),
            cmp(y, x).reverse(),
            "{x:?} vs {y:?} is not antisymmetric"
        );
    }
    for [x, y, z] in [
        [a, b, c],
        [a, c, b],
        [b, a, c],
        [b, c, a],
        [c, a, b],
        [c, b, a],
    ] {
        let (xy, yz, xz) = (cmp(x, y), cmp(y, z), cmp(x, z));
        if xy != Greater && yz != Greater {
            let expected = if xy == Less || yz == Less {
                Less
            } else {
                Equal
            };
            assert_eq!(
                xz, expected,
                "{x:?} <= {y:?} <= {z:?} but {x:?} vs {z:?} is {xz:?}"
            );
        }
    }
}
