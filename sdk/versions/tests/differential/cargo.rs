//! crates.io: against the `semver` crate, which cargo itself resolves with
//! (asked in-process: cargo has no batch interface of its own).

use crate::harness::{self, Answers, Batch, Disagreement, Gatehouse, Kind, Rng};

const SEED: u64 = 0x6361_7267;

fn identifiers(rng: &mut Rng) -> String {
    let n = 1 + rng.below(3);
    (0..n)
        .map(|_| match rng.below(8) {
            0 => "alpha".to_owned(),
            1 => "beta".to_owned(),
            2 => "rc".to_owned(),
            3 => "x-y".to_owned(),
            4 => String::new(),
            _ => rng.number(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn version(rng: &mut Rng) -> String {
    let parts = match rng.below(100) {
        0..=4 => 2,
        5..=6 => 4,
        _ => 3,
    };
    let mut v = (0..parts)
        .map(|_| rng.number())
        .collect::<Vec<_>>()
        .join(".");
    if rng.chance(30) {
        v = format!("{v}-{}", identifiers(rng));
    }
    if rng.chance(10) {
        v = format!("{v}+{}", identifiers(rng));
    }
    match rng.below(100) {
        0..=2 => format!("v{v}"),
        3..=4 => format!(" {v}"),
        5 => format!("={v}"),
        _ => v,
    }
}

fn bound(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => rng.number(),
        1 => format!("{}.{}", rng.number(), rng.number()),
        2 => format!("{}.{}", rng.number(), rng.pick(&["*", "x", "X"])),
        _ => version(rng).trim().to_owned(),
    }
}

fn range(rng: &mut Rng) -> String {
    let n = 1 + rng.below(3);
    let join = *rng.pick(&[", ", ",", " , ", " "]);
    (0..n)
        .map(|_| {
            let op = *rng.pick(&["", "=", "^", "~", ">", ">=", "<", "<=", "~>", "=="]);
            let space = *rng.pick(&["", "", " "]);
            if rng.chance(3) {
                "*".to_owned()
            } else {
                format!("{op}{space}{}", bound(rng))
            }
        })
        .collect::<Vec<_>>()
        .join(join)
}

/// cargo's answers: `semver::Version`'s order (build metadata breaking ties,
/// as cargo sorts candidates) and `VersionReq::matches`.
fn cargo_answers(batch: &Batch) -> Answers {
    let parsed: Vec<Option<semver::Version>> = batch
        .versions
        .iter()
        .map(|v| semver::Version::parse(v).ok())
        .collect();
    let mut order: Vec<usize> = (0..parsed.len()).filter(|&i| parsed[i].is_some()).collect();
    order.sort_by(|&a, &b| parsed[a].cmp(&parsed[b]));
    let mut rank = vec![None; parsed.len()];
    let mut current = 0;
    for (n, &i) in order.iter().enumerate() {
        if n > 0 && parsed[order[n - 1]] != parsed[i] {
            current += 1;
        }
        rank[i] = Some(current);
    }
    let ranges: Vec<Option<semver::VersionReq>> = batch
        .ranges
        .iter()
        .map(|r| semver::VersionReq::parse(r).ok())
        .collect();
    Answers {
        valid: parsed.iter().map(Option::is_some).collect(),
        rank,
        range_valid: ranges.iter().map(Option::is_some).collect(),
        satisfies: batch
            .pairs
            .iter()
            .map(|&(v, r)| Some(ranges[r].as_ref()?.matches(parsed[v].as_ref()?)))
            .collect(),
        satisfies_including_prereleases: Vec::new(),
    }
}

/// Disagreements gatehouse intends, with why.
fn allowed(d: &Disagreement) -> Option<&'static str> {
    let bare = |text: &str| semver::Version::parse(text).is_ok();
    match d.kind {
        Kind::Order
            if d.gatehouse == "Some(Equal)"
                && (d.version.contains('+') || d.other.contains('+')) =>
        {
            Some(
                "build metadata: SemVer precedence ignores it (crates.io refuses two versions \
             differing only in it); cargo's sort breaks the tie by it",
            )
        }
        Kind::Satisfies if bare(d.other) => Some(
            "a bare version is gatehouse's shorthand for exactly that version (exceptions, \
             deny-lists); in Cargo.toml it means ^version",
        ),
        _ => None,
    }
}

#[test]
fn crates_io_agrees_with_the_semver_crate() {
    let batch = Batch::new(SEED, harness::versions(SEED, "crates", version), range);
    let answers = cargo_answers(&batch);
    harness::compare(
        &Gatehouse::versions("crates.io", &allowed),
        &batch,
        &answers,
    );
}
