//! A `.crate`'s own `Cargo.toml` (as `cargo publish` normalised it): the
//! name, version, license and dependencies cargo builds with, and a build
//! script, which the index does not mention.

use gatehouse_adapter_sdk::{Dependency, ManifestMember, VersionFacts, top_level_member};
use toml::{Table, Value};

/// The dependency tables of a manifest, with the kind the index calls them.
const DEPENDENCY_TABLES: [(&str, &str); 3] = [
    ("dependencies", "normal"),
    ("build-dependencies", "build"),
    ("dev-dependencies", "dev"),
];

/// The version as the crate's `Cargo.toml` declares it (the one at the top
/// of `{name}-{version}/`); `registry` supplies what a manifest cannot say.
pub fn read(
    registry: &VersionFacts,
    members: &[ManifestMember],
) -> Result<Option<VersionFacts>, String> {
    let Some(member) = top_level_member(members, |_, file| file == "Cargo.toml") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&member.contents)
        .map_err(|_| format!("{} is not UTF-8", member.path))?;
    let manifest: Table = text
        .parse()
        .map_err(|e| format!("{} is not TOML: {e}", member.path))?;
    let package = manifest
        .get("package")
        .and_then(Value::as_table)
        .ok_or_else(|| format!("{} has no [package]", member.path))?;
    let text_of = |key: &str| package.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut dependencies = Vec::new();
    let mut tables: Vec<&Table> = vec![&manifest];
    if let Some(targets) = manifest.get("target").and_then(Value::as_table) {
        tables.extend(targets.values().filter_map(Value::as_table));
    }
    for table in tables {
        for (key, kind) in DEPENDENCY_TABLES {
            let Some(declared) = table.get(key).and_then(Value::as_table) else {
                continue;
            };
            dependencies.extend(
                declared
                    .iter()
                    .map(|(name, spec)| dependency(name, spec, kind)),
            );
        }
    }
    // A build script runs when cargo builds the crate, as an install hook
    // does; `cargo publish` writes an inferred one out as `build = "build.rs"`.
    let build = text_of("build");
    Ok(Some(VersionFacts {
        name: text_of("name").unwrap_or_default(),
        version: text_of("version").unwrap_or_default(),
        license: text_of("license"),
        install_scripts: build.into_iter().collect(),
        dependencies,
        ..registry.clone()
    }))
}

/// One entry of a dependency table: `name = "1"` or `name = { version, package, optional }`.
fn dependency(name: &str, spec: &Value, kind: &str) -> Dependency {
    let field = |key: &str| spec.get(key).and_then(Value::as_str).map(str::to_owned);
    let optional = spec.get("optional").and_then(Value::as_bool) == Some(true);
    Dependency {
        name: field("package").unwrap_or_else(|| name.to_owned()),
        requirement: spec
            .as_str()
            .map(str::to_owned)
            .or_else(|| field("version"))
            .unwrap_or_else(|| "*".into()),
        kind: if optional && kind == "normal" {
            "optional".into()
        } else {
            kind.into()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crate_manifest_names_its_dependencies_and_build_script() {
        let registry = VersionFacts::named("crates.io", "demo", "1.0.0");
        let members = [ManifestMember {
            path: "demo-1.0.0/Cargo.toml".into(),
            contents: br#"
[package]
name = "demo"
version = "1.0.0"
license = "MIT OR Apache-2.0"
build = "build.rs"

[dependencies]
serde = "1"
rand = { version = "0.8", optional = true }

[target.'cfg(unix)'.dependencies]
libc = { version = "0.2", package = "libc" }
"#
            .to_vec(),
        }];
        let facts = read(&registry, &members).unwrap().unwrap();
        assert_eq!(facts.license.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(facts.install_scripts, ["build.rs"]);
        let deps: Vec<_> = facts
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.requirement.as_str(), d.kind.as_str()))
            .collect();
        assert_eq!(
            deps,
            [
                ("rand", "0.8", "optional"),
                ("serde", "1", "normal"),
                ("libc", "0.2", "normal")
            ]
        );
    }
}
