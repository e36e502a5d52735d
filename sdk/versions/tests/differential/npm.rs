//! npm: against node's `semver` package, which npm resolves ranges with.

use std::process::Command;

use crate::harness::{self, Batch, Disagreement, Gatehouse, Kind, Rng};

const SEED: u64 = 0x006e_706d;

fn identifier(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "alpha".into(),
        1 => "beta".into(),
        2 => "rc".into(),
        3 => "x-y".into(),
        4 => "alpha1".into(),
        5 => String::new(),
        6 => "-".into(),
        7 => "0a".into(),
        _ => rng.number(),
    }
}

fn dotted(rng: &mut Rng, parts: usize) -> String {
    (0..parts)
        .map(|_| identifier(rng))
        .collect::<Vec<_>>()
        .join(".")
}

fn core(rng: &mut Rng) -> String {
    let parts = match rng.below(100) {
        0..=4 => 1,
        5..=9 => 2,
        10..=11 => 4,
        _ => 3,
    };
    (0..parts)
        .map(|_| rng.number())
        .collect::<Vec<_>>()
        .join(".")
}

fn version(rng: &mut Rng) -> String {
    let mut v = core(rng);
    if rng.chance(30) {
        let n = 1 + rng.below(3);
        v = format!("{v}-{}", dotted(rng, n));
    }
    if rng.chance(10) {
        let n = 1 + rng.below(2);
        v = format!("{v}+{}", dotted(rng, n));
    }
    let prefix = match rng.below(100) {
        0..=4 => "v",
        5..=6 => "=",
        7 => "V",
        8..=9 => " ",
        10 => "v ",
        _ => "",
    };
    let suffix = if rng.chance(2) { " " } else { "" };
    format!("{prefix}{v}{suffix}")
}

/// A version as range syntax writes it: sometimes partial or a wildcard.
fn bound(rng: &mut Rng) -> String {
    let wildcard = || ["x", "X", "*"];
    match rng.below(100) {
        0..=9 => rng.number(),
        10..=19 => format!("{}.{}", rng.number(), rng.number()),
        20..=24 => format!("{}.{}", rng.number(), rng.pick(&wildcard())),
        25..=27 => format!(
            "{}.{}.{}",
            rng.number(),
            rng.number(),
            rng.pick(&wildcard())
        ),
        28..=37 => format!("{}.{}.{}-0", rng.number(), rng.number(), rng.number()),
        _ => version(rng).trim().to_owned(),
    }
}

fn comparator_set(rng: &mut Rng) -> String {
    match rng.below(14) {
        0 => format!("^{}", bound(rng)),
        1 => format!("~{}", bound(rng)),
        2 => format!(">={} <{}", bound(rng), bound(rng)),
        3 => format!("{} - {}", bound(rng), bound(rng)),
        4 => format!(">{}", bound(rng)),
        5 => format!("<={}", bound(rng)),
        6 => format!("={}", bound(rng)),
        7 => bound(rng),
        8 => (*rng.pick(&["*", "", "x", "latest", ">=0.0.0"])).to_owned(),
        9 => format!(">= {}", bound(rng)),
        10 => format!("~>{}", bound(rng)),
        11 => format!(">{} <={}", bound(rng), bound(rng)),
        12 => format!("<{}", bound(rng)),
        _ => format!("^{} {}", bound(rng), comparator_set(rng)),
    }
}

fn range(rng: &mut Rng) -> String {
    let sets = 1 + rng.below(3);
    (0..sets)
        .map(|_| comparator_set(rng))
        .collect::<Vec<_>>()
        .join(" || ")
}

/// Disagreements gatehouse intends, with why.
fn allowed(d: &Disagreement) -> Option<&'static str> {
    let huge_numeric_identifier = |v: &str| {
        v.split(|c: char| "-.+".contains(c) || c.is_whitespace())
            .any(|id| id.len() >= 16 && id.bytes().all(|b| b.is_ascii_digit()))
    };
    (d.kind == Kind::Order
        && d.reference == "Equal"
        && huge_numeric_identifier(d.version)
        && huge_numeric_identifier(d.other))
    .then_some(
        "numeric pre-release identifiers past 2^53: node compares them as rounded floats, \
         making distinct ones equal (not a total order); gatehouse compares them exactly",
    )
}

#[test]
fn npm_agrees_with_node_semver() {
    let batch = Batch::new(SEED, harness::versions(SEED, "npm", version), range);
    let mut node = Command::new("node");
    node.env("NODE_PATH", harness::reference_dir().join("node_modules"))
        .arg(harness::workspace_root().join("sdk/versions/tests/differential/reference/npm.js"));
    let Some(answers) = harness::run_reference("node's semver", node, &batch) else {
        return;
    };
    harness::compare(&Gatehouse::versions("npm", &allowed), &batch, &answers);
}
