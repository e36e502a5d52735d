//! Ecosystem names and package names as the host spells them: OSV's
//! ecosystem names (what version facts carry) from any usual spelling, and a
//! package name normalised the registry's way. Shared by the config, the
//! exceptions and reviews lists, the audit index and the pre-flight.

use crate::bindings::VersionFacts;

/// An ecosystem: its OSV name (what facts carry), the adapter that serves it
/// (its default file stem) and the spellings users write.
#[derive(Debug, PartialEq, Eq)]
pub struct Ecosystem {
    pub osv: &'static str,
    pub adapter: &'static str,
    spellings: &'static [&'static str],
}

const ECOSYSTEMS: &[Ecosystem] = &[
    Ecosystem {
        osv: "npm",
        adapter: "npm",
        spellings: &["npm", "pnpm", "yarn"],
    },
    Ecosystem {
        osv: "PyPI",
        adapter: "pypi",
        spellings: &["pypi", "pip", "python", "uv"],
    },
    Ecosystem {
        osv: "crates.io",
        adapter: "cargo",
        spellings: &["crates.io", "cargo", "crates", "rust"],
    },
    Ecosystem {
        osv: "Go",
        adapter: "go",
        spellings: &["go", "golang"],
    },
    Ecosystem {
        osv: "Maven",
        adapter: "maven",
        spellings: &["maven", "mvn"],
    },
];

/// Every ecosystem's OSV name, in a fixed order.
pub fn osv_names() -> impl Iterator<Item = &'static str> {
    ECOSYSTEMS.iter().map(|ecosystem| ecosystem.osv)
}

/// The ecosystem `spelling` names, in any usual spelling and case.
pub fn lookup(spelling: &str) -> Option<&'static Ecosystem> {
    let wanted = spelling.trim();
    ECOSYSTEMS
        .iter()
        .find(|e| e.spellings.iter().any(|s| s.eq_ignore_ascii_case(wanted)))
}

/// The ecosystem's spelling in OSV (and in version facts), from any usual
/// spelling and case.
pub fn canonical_ecosystem(text: &str) -> Option<&'static str> {
    lookup(text).map(|ecosystem| ecosystem.osv)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_usual_spelling_names_its_osv_ecosystem() {
        for (spellings, osv) in [
            (&["npm", "NPM", " yarn ", "pnpm"][..], "npm"),
            (&["PyPI", "pypi", "pip", "uv", "python"], "PyPI"),
            (&["crates.io", "cargo", "crates", "rust"], "crates.io"),
            (&["Go", "go", "golang"], "Go"),
            (&["Maven", "maven", "mvn"], "Maven"),
        ] {
            for spelling in spellings {
                assert_eq!(canonical_ecosystem(spelling), Some(osv), "{spelling}");
            }
        }
        assert_eq!(canonical_ecosystem("cobol"), None);
        assert_eq!(lookup("cargo").map(|e| e.adapter), Some("cargo"));
    }
}
