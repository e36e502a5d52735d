//! Ecosystem names and package names as the host spells them: OSV's
//! ecosystem names (what version facts carry) from any usual spelling, and a
//! package name normalised the registry's way. Shared by the config, the
//! exceptions and reviews lists, the audit index and the pre-flight.

use crate::bindings::VersionFacts;

/// The ecosystem's spelling in OSV (and in version facts), from any case.
pub fn canonical_ecosystem(text: &str) -> Option<&'static str> {
    const KNOWN: &[&str] = &["npm", "PyPI", "crates.io", "Go", "Maven"];
    let lower = text.trim().to_ascii_lowercase();
    let lower = match lower.as_str() {
        "pypi" | "pip" => "pypi",
        "cargo" | "crates.io" => "crates.io",
        "go" | "golang" => "go",
        other => other,
    };
    KNOWN
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(lower))
}

/// An operator's (ecosystem, package) in the spelling version facts use:
/// the OSV ecosystem name and the registry's normalised package name.
pub fn named_package(ecosystem: &str, package: &str) -> Result<(&'static str, String), String> {
    let canonical = canonical_ecosystem(ecosystem).ok_or_else(|| {
        format!("unknown ecosystem {ecosystem:?} (npm, PyPI, crates.io, Go, Maven)")
    })?;
    let package = gatehouse_osv::normalize_name(canonical, package.trim());
    if package.is_empty() || package.contains(char::is_whitespace) {
        return Err(format!("package {package:?} is not a package name"));
    }
    Ok((canonical, package))
}

/// Facts for a version named and nothing more.
pub fn named(ecosystem: &str, name: &str, version: &str) -> VersionFacts {
    VersionFacts {
        ecosystem: ecosystem.to_owned(),
        name: name.to_owned(),
        version: version.to_owned(),
        published: None,
        license: None,
        install_scripts: Vec::new(),
        deprecated: None,
        yanked: None,
        size: None,
        digests: Vec::new(),
        dependencies: Vec::new(),
        raw: "{}".into(),
    }
}
