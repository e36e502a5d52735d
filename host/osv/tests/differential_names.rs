//! Name normalisation: the mirror's [`normalize_name`] for PyPI (what
//! deny-lists, exceptions, reviews and advisories are keyed by, through the
//! host's `ecosystem::named_package`) against Python's `packaging`
//! (`canonicalize_name`, PEP 503, what pip uses), over 100,000 generated
//! names. Skipped without python3 and `packaging` unless CI is set. The shared
//! harness is sdk/versions' differential one.
//!
//! npm and Go names are kept as spelled (their registries are case
//! sensitive), and crates.io's folding (`_` as `-`, lower case) is cargo's
//! own rule, with no library to ask.

// Synchronous tests: blocking file access is what they need.
#![allow(clippy::disallowed_methods)]

#[path = "../../../sdk/versions/tests/differential/harness.rs"]
#[allow(dead_code)] // The version half of the harness: names need only the runner.
mod harness;

use std::collections::HashSet;
use std::process::Command;

use gatehouse_osv::normalize_name;
use harness::Rng;
use serde_json::json;

const SEED: u64 = 0x6e61_6d65;
const GENERATED: usize = 100_000;

fn token(rng: &mut Rng) -> String {
    match rng.below(20) {
        0..=5 => (*rng.pick(&[
            "requests",
            "Django",
            "zope",
            "Interface",
            "a",
            "B",
            "py",
            "X",
        ]))
        .to_owned(),
        6..=10 => (*rng.pick(&["-", "_", ".", "--", "._-", "__", ".."])).to_owned(),
        11..=13 => rng.number(),
        14 => (*rng.pick(&[" ", "\t", "+", "@", "/"])).to_owned(),
        // Letters whose lower case is not ASCII's: Kelvin sign, dotted I,
        // sigma (final and not), a titlecase digraph, sharp s.
        _ => (*rng.pick(&[
            "\u{212a}", "\u{130}", "\u{3a3}", "A\u{3a3}", "\u{1c5}", "\u{df}", "\u{c9}",
        ]))
        .to_owned(),
    }
}

fn name(rng: &mut Rng) -> String {
    (0..1 + rng.below(5)).map(|_| token(rng)).collect()
}

#[test]
fn pypi_names_agree_with_packaging() {
    let mut rng = Rng::new(SEED);
    let mut names: Vec<String> = vec![
        "".into(),
        "Zope.Interface".into(),
        "typing_extensions".into(),
    ];
    let mut seen: HashSet<String> = names.iter().cloned().collect();
    while names.len() < GENERATED {
        let n = name(&mut rng);
        if seen.insert(n.clone()) {
            names.push(n);
        }
    }
    let mut python = Command::new("python3");
    python.arg(harness::workspace_root().join("host/osv/tests/reference/names.py"));
    let Some(answer) = harness::run_json("Python's packaging", python, &json!({"names": names}))
    else {
        return;
    };
    let canonical = answer["canonical"].as_array().expect("a list of names");
    assert_eq!(canonical.len(), names.len(), "one answer per name");
    let differ: Vec<(&String, String, &str)> = names
        .iter()
        .zip(canonical)
        .map(|(n, c)| (n, normalize_name("PyPI", n), c.as_str().expect("a name")))
        .filter(|(_, ours, theirs)| ours != theirs)
        .collect();
    for (n, ours, theirs) in differ.iter().take(25) {
        eprintln!("  {n:?}: gatehouse {ours:?}, packaging {theirs:?}");
    }
    assert!(
        differ.is_empty(),
        "{} of {} names normalise differently (above)",
        differ.len(),
        names.len()
    );
}
