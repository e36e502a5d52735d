//! Replays every saved fuzz input through its target's check: the crashes
//! fixed (`tests/fuzz/regressions/<target>/`) and the seeds
//! (`tests/fuzz/seeds/<target>/`). Also holds the targets, the fuzz project's
//! binaries and those directories to the same list of names.

// Synchronous tests: blocking file access is what they need.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use gatehouse_fuzz_checks::{TARGETS, check};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The names of the entries of `dir` (file stems when `stems`).
fn names(dir: &Path, stems: bool) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = if stems {
                path.file_stem()
            } else {
                path.file_name()
            };
            name.expect("a name").to_string_lossy().into_owned()
        })
        .collect()
}

fn replay(kind: &str) -> usize {
    let mut replayed = 0;
    for target in names(&fuzz_dir().join(kind), false) {
        let check = check(&target).unwrap_or_else(|| panic!("{kind}/{target} is not a target"));
        let dir = fuzz_dir().join(kind).join(&target);
        for input in names(&dir, false) {
            let bytes = fs::read(dir.join(&input)).expect("a saved input");
            eprintln!("{kind}/{target}/{input}");
            check(&bytes);
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn every_regression_input_passes_its_check() {
    replay("regressions");
}

#[test]
fn every_seed_passes_its_check() {
    assert!(replay("seeds") > 0, "no seeds");
}

#[test]
fn every_target_has_a_binary_and_seeds() {
    let targets: BTreeSet<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(names(&fuzz_dir().join("fuzz_targets"), true), targets);
    assert_eq!(names(&fuzz_dir().join("seeds"), false), targets);
}
