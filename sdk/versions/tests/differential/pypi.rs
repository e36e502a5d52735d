//! PyPI: against Python's `packaging`, the PEP 440 implementation pip uses.

use std::process::Command;

use crate::harness::{self, Batch, Disagreement, Gatehouse, Kind, Rng};

const SEED: u64 = 0x7079_7069;

fn release(rng: &mut Rng) -> String {
    let parts = match rng.below(10) {
        0 => 1,
        1..=4 => 2,
        5..=8 => 3,
        _ => 4,
    };
    (0..parts)
        .map(|_| rng.number())
        .collect::<Vec<_>>()
        .join(".")
}

/// PEP 440's optional separators, none most often.
const SEPARATORS: [&str; 6] = ["", "", "", ".", "-", "_"];

fn separator(rng: &mut Rng) -> &'static str {
    SEPARATORS[rng.below(SEPARATORS.len())]
}

fn version(rng: &mut Rng) -> String {
    let mut v = String::new();
    if rng.chance(5) {
        v += &format!("{}!", rng.number());
    }
    v += &release(rng);
    if rng.chance(25) {
        let tag = rng.pick(&[
            "a", "b", "rc", "c", "alpha", "beta", "pre", "preview", "A", "RC",
        ]);
        let n = if rng.chance(85) {
            rng.number()
        } else {
            String::new()
        };
        v += &format!("{}{tag}{}{n}", separator(rng), separator(rng));
    }
    if rng.chance(15) {
        v += &match rng.below(4) {
            0 => format!("-{}", rng.number()),
            _ => {
                let tag = rng.pick(&["post", "rev", "r", "POST"]);
                let n = if rng.chance(85) {
                    rng.number()
                } else {
                    String::new()
                };
                format!("{}{tag}{}{n}", separator(rng), separator(rng))
            }
        };
    }
    if rng.chance(15) {
        let n = if rng.chance(85) {
            rng.number()
        } else {
            String::new()
        };
        v += &format!("{}dev{n}", separator(rng));
    }
    if rng.chance(8) {
        let parts = 1 + rng.below(3);
        let local: Vec<String> = (0..parts)
            .map(|_| match rng.below(4) {
                0 => (*rng.pick(&["ubuntu", "cpu", "cu118", "Local", "abc"])).to_owned(),
                1 => String::new(),
                _ => rng.number(),
            })
            .collect();
        v += &format!("+{}", local.join(*rng.pick(&[".", "-", "_"])));
    }
    match rng.below(100) {
        0..=2 => format!("v{v}"),
        3 => format!("V{v}"),
        4..=5 => format!(" {v} "),
        6 => format!("{v}.*"),
        7 => format!("{v}."),
        8 => v.replace('.', ".."),
        _ => v,
    }
}

fn specifier(rng: &mut Rng) -> String {
    let operator = *rng.pick(&["==", "!=", ">=", "<=", ">", "<", "~=", "===", "=", ""]);
    let mut v = version(rng).trim().to_owned();
    if rng.chance(20) && !v.ends_with(".*") {
        v += ".*";
    }
    let space = *rng.pick(&["", "", "", " "]);
    format!("{operator}{space}{v}")
}

fn range(rng: &mut Rng) -> String {
    let n = 1 + rng.below(3);
    let join = *rng.pick(&[",", ",", ", ", " ,"]);
    (0..n)
        .map(|_| specifier(rng))
        .collect::<Vec<_>>()
        .join(join)
}

/// Disagreements gatehouse intends, with why.
fn allowed(d: &Disagreement) -> Option<&'static str> {
    if harness::past_u64(d.version) || harness::past_u64(d.other) {
        return Some(
            "numbers from 2^64 - 1 up: pep440_rs keeps every number in 64 bits (the \
             largest a marker), so such versions are refused and such local segments \
             read as text; no release spells one",
        );
    }
    if d.kind != Kind::RangeValidity {
        return None;
    }
    if d.gatehouse == "true" && gatehouse_versions::compare("PyPI", d.other, d.other).is_ok() {
        return Some(
            "a bare version is gatehouse's shorthand for exactly that version \
             (exceptions, deny-lists), which packaging has no spelling for",
        );
    }
    (d.gatehouse == "false" && d.other.contains("===")).then_some(
        "`===` on text that is not a PEP 440 version (arbitrary equality, which PEP 440 \
         discourages) is refused: an exception with it is rejected, a deny-list fails closed",
    )
}

#[test]
fn pypi_agrees_with_packaging() {
    let batch = Batch::new(SEED, harness::versions(SEED, "pypi", version), range);
    let mut python = Command::new("python3");
    python.arg(harness::workspace_root().join("sdk/versions/tests/differential/reference/pypi.py"));
    let Some(answers) = harness::run_reference("Python's packaging", python, &batch) else {
        return;
    };
    harness::compare(&Gatehouse::versions("PyPI", &allowed), &batch, &answers);
}
