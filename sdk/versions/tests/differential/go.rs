//! Go: versions against `golang.org/x/mod/semver` as the installed `go`
//! vendors it (no module download: the file is copied from GOROOT). Go has no
//! range syntax, so only validity and order are compared.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{self, Batch, Disagreement, Gatehouse, Kind, Rng};

const SEED: u64 = 0x676f;

fn identifiers(rng: &mut Rng) -> String {
    let n = 1 + rng.below(3);
    (0..n)
        .map(|_| match rng.below(8) {
            0 => "alpha".to_owned(),
            1 => "rc".to_owned(),
            2 => "x-y".to_owned(),
            3 => String::new(),
            _ => rng.number(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn version(rng: &mut Rng) -> String {
    let parts = match rng.below(100) {
        0..=4 => 1,
        5..=9 => 2,
        10..=11 => 4,
        _ => 3,
    };
    let mut v = (0..parts)
        .map(|_| rng.number())
        .collect::<Vec<_>>()
        .join(".");
    match rng.below(100) {
        0..=9 => {
            // A pseudo-version: vX.0.0-, vX.Y.Z-pre.0. or vX.Y.(Z+1)-0. then time and hash.
            let base = *rng.pick(&["-", "-pre.0.", "-0."]);
            v = format!(
                "{v}{base}2019{:010}-{:012x}",
                rng.next() % 10_000_000_000,
                rng.next() >> 16
            );
        }
        10..=34 => v = format!("{v}-{}", identifiers(rng)),
        _ => {}
    }
    if rng.chance(10) {
        v += &match rng.below(2) {
            0 => "+incompatible".to_owned(),
            _ => format!("+{}", identifiers(rng)),
        };
    }
    match rng.below(100) {
        0..=7 => v,
        8 => format!("V{v}"),
        9 => format!(" v{v}"),
        _ => format!("v{v}"),
    }
}

/// Disagreements gatehouse intends, with why.
fn allowed(d: &Disagreement) -> Option<&'static str> {
    if d.kind == Kind::Validity
        && d.gatehouse == "true"
        && !d.version.starts_with('v')
        && gatehouse_versions::compare("Go", &format!("v{}", d.version), "v0.0.0").is_ok()
    {
        return Some("a Go version without its `v` is accepted: OSV records write Go versions so");
    }
    (d.kind == Kind::Validity && d.gatehouse == "false" && harness::past_u64(d.version)).then_some(
        "a major, minor or patch past 2^64: refused (a comparison with it fails, and is \
         treated as equal where one must be chosen); no module version spells one",
    )
}

/// A scratch module holding the toolchain's own copy of `x/mod/semver` and
/// the reference program, or `None` without `go`.
fn reference_module() -> Option<tempfile::TempDir> {
    let goroot = Command::new("go").args(["env", "GOROOT"]).output().ok()?;
    let goroot = PathBuf::from(String::from_utf8_lossy(&goroot.stdout).trim());
    let vendored = goroot.join("src/cmd/vendor/golang.org/x/mod/semver/semver.go");
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("semver")).expect("create semver/");
    std::fs::copy(&vendored, dir.path().join("semver/semver.go")).ok()?;
    std::fs::write(
        dir.path().join("go.mod"),
        "module differential\n\ngo 1.19\n",
    )
    .expect("write go.mod");
    std::fs::copy(
        harness::workspace_root().join("sdk/versions/tests/differential/reference/go.go"),
        dir.path().join("main.go"),
    )
    .expect("copy main.go");
    Some(dir)
}

#[test]
fn go_agrees_with_x_mod_semver() {
    let versions = harness::versions(SEED, "go", version);
    let batch = Batch {
        versions,
        ranges: Vec::new(),
        pairs: Vec::new(),
    };
    let module = reference_module();
    let mut go = Command::new("go");
    go.args(["run", "."])
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOWORK", "off")
        .env("GOTOOLCHAIN", "local");
    if let Some(module) = &module {
        go.current_dir(module.path());
    }
    let Some(answers) = harness::run_reference("go (x/mod/semver)", go, &batch) else {
        return;
    };
    harness::compare(&Gatehouse::versions("Go", &allowed), &batch, &answers);
}
