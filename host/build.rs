//! Builds the default adapter and policy components (wasm32-wasip2) so the
//! `gatehouse` binary can embed them and `gatehouse init` can write them out.
//!
//! Every crate under `adapters/` and `policies/` whose manifest declares a
//! `cdylib` is a component. They are built by a nested cargo into their own
//! target directory (as wasmtime builds its test programs), so the outer
//! build's lock is never contended.

// A build script: blocking file work is all it does.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest
        .parent()
        .expect("host/ is inside the workspace")
        .to_owned();
    for dir in ["adapters", "policies", "sdk", "wit", "tests/policies"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let adapters = component_crates(&root.join("adapters"));
    let policies = component_crates(&root.join("policies"));
    // Built with the defaults (one cargo run) but not embedded: the tests load
    // them, the Rust template among them.
    let mut test_policies = component_crates(&root.join("tests").join("policies"));
    test_policies.extend(component_crates(&root.join("sdk").join("rust")));
    let target_dir = root.join("target").join("components");

    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "component",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (krate, _) in adapters.iter().chain(&policies).chain(&test_policies) {
        cargo.args(["-p", krate]);
    }
    // The outer build's flags are for the host, not for wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo.status().expect("running cargo for the components");
    assert!(
        status.success(),
        "building the default components failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)"
    );

    let out = target_dir.join("wasm32-wasip2").join("component");
    println!("cargo:rustc-env=GATEHOUSE_COMPONENTS_DIR={}", out.display());
    let list = |crates: &[(String, String)]| {
        crates
            .iter()
            .map(|(krate, stem)| {
                let file = out.join(format!("{}.wasm", krate.replace('-', "_")));
                format!(
                    "    ({stem:?}, include_bytes!({:?})),\n",
                    file.display().to_string()
                )
            })
            .collect::<String>()
    };
    let code = format!(
        "/// Default adapters: (route prefix, component bytes).\npub const ADAPTERS: &[(&str, &[u8])] = &[\n{}];\n/// Default policies: (policy name, component bytes).\npub const POLICIES: &[(&str, &[u8])] = &[\n{}];\n",
        list(&adapters),
        list(&policies)
    );
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("components.rs");
    std::fs::write(dest, code).expect("writing components.rs");
}

/// (crate name, folder name) of each component crate in `dir`.
fn component_crates(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let Ok(parsed) = text.parse::<toml::Table>() else {
            continue;
        };
        let is_component = parsed
            .get("lib")
            .and_then(|lib| lib.get("crate-type"))
            .and_then(|types| types.as_array())
            .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("cdylib")));
        let name = parsed
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str());
        if let (true, Some(name)) = (is_component, name) {
            found.push((
                name.to_owned(),
                entry.file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    found.sort();
    found
}
