//! A distribution's own core metadata (`*.dist-info/METADATA` in a wheel,
//! `PKG-INFO` in an sdist, a PEP 658 `.metadata` file): the name, version, license and requirements pip
//! installs by, which the simple page does not carry.

use gatehouse_adapter_sdk::{Dependency, ManifestMember, VersionFacts, top_level_member};

use std::str::FromStr as _;

use crate::name::normalise;

/// The version as the distribution's core metadata declares it; `registry`
/// supplies what metadata cannot say. A name or version that is the same
/// project and version in PEP 503 and PEP 440 terms keeps `registry`'s
/// spelling, so only a real difference shows.
pub fn read(
    registry: &VersionFacts,
    members: &[ManifestMember],
) -> Result<Option<VersionFacts>, String> {
    let core_metadata = |dir: &str, file: &str| match file {
        "METADATA" => dir.ends_with(".dist-info"),
        file => file == "PKG-INFO",
    };
    // A PEP 658 metadata file is the wheel's METADATA on its own.
    let standalone = members.iter().rev().find(|m| m.path.ends_with(".metadata"));
    let Some(member) = top_level_member(members, core_metadata).or(standalone) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&member.contents)
        .map_err(|_| format!("{} is not UTF-8", member.path))?;
    let fields = headers(text);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_owned())
            .filter(|value| !value.is_empty() && value != "UNKNOWN")
    };
    let name = field("Name").ok_or_else(|| format!("{} names no project", member.path))?;
    let version = field("Version").ok_or_else(|| format!("{} names no version", member.path))?;
    let parsed = |text: &str| pep440_rs::Version::from_str(text).ok();
    let same_version = parsed(&version).is_some_and(|v| parsed(&registry.version) == Some(v));
    Ok(Some(VersionFacts {
        name: if normalise(&name) == normalise(&registry.name) {
            registry.name.clone()
        } else {
            name
        },
        version: if same_version {
            registry.version.clone()
        } else {
            version
        },
        license: field("License-Expression").or_else(|| {
            field("License").map(|text| text.lines().next().unwrap_or_default().to_owned())
        }),
        dependencies: fields
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case("Requires-Dist"))
            .map(|(_, requirement)| requirement_dependency(requirement))
            .collect(),
        ..registry.clone()
    }))
}

/// The header fields of an RFC 822-style metadata file, continuation lines
/// joined, up to the first blank line (the description body follows it).
fn headers(text: &str) -> Vec<(&str, String)> {
    let mut fields: Vec<(&str, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            fields.push((key.trim(), value.trim().to_owned()));
        }
    }
    fields
}

/// `requests (>=2.0) ; extra == "socks"` as a dependency: the name, the rest
/// as its requirement, `optional` when it depends on an extra.
fn requirement_dependency(requirement: &str) -> Dependency {
    let (spec, marker) = requirement.split_once(';').unwrap_or((requirement, ""));
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(spec.len());
    Dependency {
        name: spec[..end].trim().to_owned(),
        requirement: spec[end..].trim().to_owned(),
        kind: if marker.contains("extra") {
            "optional".into()
        } else {
            "normal".into()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(path: &str, text: &str) -> ManifestMember {
        ManifestMember {
            path: path.into(),
            contents: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_wheel_names_its_project_license_and_requirements() {
        let registry = VersionFacts::named("PyPI", "Demo_Pkg", "1.0");
        let members = [metadata(
            "demo_pkg-1.0.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: demo-pkg\nVersion: 1.0.0\nLicense-Expression: MIT\nRequires-Dist: requests (>=2.0)\nRequires-Dist: pysocks; extra == \"socks\"\n\nLong description\nName: other\n",
        )];
        let facts = read(&registry, &members).unwrap().unwrap();
        assert_eq!(
            (facts.name.as_str(), facts.version.as_str()),
            ("Demo_Pkg", "1.0")
        );
        assert_eq!(facts.license.as_deref(), Some("MIT"));
        let deps: Vec<_> = facts
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.requirement.as_str(), d.kind.as_str()))
            .collect();
        assert_eq!(
            deps,
            [
                ("requests", "(>=2.0)", "normal"),
                ("pysocks", "", "optional")
            ]
        );
    }

    #[test]
    fn another_project_is_named_as_the_metadata_spells_it() {
        let registry = VersionFacts::named("PyPI", "demo", "1.0");
        let members = [metadata("demo-1.0/PKG-INFO", "Name: evil\nVersion: 2.0\n")];
        let facts = read(&registry, &members).unwrap().unwrap();
        assert_eq!(
            (facts.name.as_str(), facts.version.as_str()),
            ("evil", "2.0")
        );
    }
}
