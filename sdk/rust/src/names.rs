//! Package names as registries compare them, and the `name@version` entries that
//! policy settings list (deny lists, exemptions).

use std::borrow::Cow;

/// PEP 503's normal form of a PyPI name: ASCII lower case, every run of `-`, `_`
/// and `.` one `-` (`Typing.Extensions` → `typing-extensions`).
pub fn pep503(name: &str) -> Cow<'_, str> {
    let normal = !name.contains(|c: char| c.is_ascii_uppercase() || c == '_' || c == '.')
        && !name.contains("--");
    if normal {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if !matches!(c, '-' | '_' | '.') {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    Cow::Owned(out)
}

/// `name` as the registry of `ecosystem` (OSV's spelling) identifies the package:
/// PyPI by [`pep503`]; crates.io ignoring ASCII case and reading `-` as `_` (it
/// refuses a crate whose name differs from another's only so); elsewhere as
/// written (npm serves legacy mixed-case names as packages of their own).
pub fn normalise<'a>(ecosystem: &str, name: &'a str) -> Cow<'a, str> {
    match ecosystem {
        "PyPI" => pep503(name),
        "crates.io" if name.contains(|c: char| c == '-' || c.is_ascii_uppercase()) => {
            Cow::Owned(name.to_ascii_lowercase().replace('-', "_"))
        }
        _ => Cow::Borrowed(name),
    }
}

/// Whether `a` and `b` name the same package of `ecosystem` (see [`normalise`]).
pub fn same_package(ecosystem: &str, a: &str, b: &str) -> bool {
    a == b || normalise(ecosystem, a) == normalise(ecosystem, b)
}

/// A settings entry naming a package and, optionally after `@`, a version or a
/// range: `left-pad`, `lodash@4.17.21`, `lodash@<4.17.21`, `@scope/name@1.2.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackageSpec<'a> {
    pub name: &'a str,
    /// What follows the name's `@`, in the ecosystem's own syntax.
    pub version: Option<&'a str>,
}

impl<'a> PackageSpec<'a> {
    /// Reads an entry, ignoring surrounding white space; the `@` that starts an
    /// npm scope belongs to the name.
    pub fn parse(text: &'a str) -> Self {
        let text = text.trim();
        let scope_marker = usize::from(text.starts_with('@'));
        match text[scope_marker..].find('@') {
            Some(at) => {
                let at = scope_marker + at;
                PackageSpec {
                    name: &text[..at],
                    version: Some(&text[at + 1..]),
                }
            }
            None => PackageSpec {
                name: text,
                version: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_folds_case_and_separator_runs() {
        assert_eq!(pep503("requests"), "requests");
        assert!(matches!(pep503("requests"), Cow::Borrowed(_)));
        assert_eq!(pep503("Typing.Extensions"), "typing-extensions");
        assert_eq!(pep503("charset__normalizer"), "charset-normalizer");
        assert_eq!(pep503("a-_.-b"), "a-b");
        assert_eq!(pep503("a--b"), "a-b");
        assert_eq!(pep503("LODASH__"), "lodash-");
    }

    #[test]
    fn each_ecosystem_by_its_own_rule() {
        assert!(same_package("PyPI", "Django", "django"));
        assert!(same_package("PyPI", "zope.interface", "Zope_Interface"));
        assert!(same_package("crates.io", "serde-json", "serde_json"));
        assert!(same_package("crates.io", "Tokio", "tokio"));
        assert!(!same_package("crates.io", "serde.json", "serde_json"));
        assert!(!same_package("npm", "JSONStream", "jsonstream"));
        assert!(!same_package("npm", "react_dom", "react-dom"));
        assert!(!same_package("Go", "example.test/A", "example.test/a"));
        assert!(same_package("Go", "example.test/a", "example.test/a"));
        assert_eq!(normalise("npm", "@Scope/Name"), "@Scope/Name");
    }

    #[test]
    fn specs_split_at_the_version_at_sign() {
        let spec = |text| {
            let PackageSpec { name, version } = PackageSpec::parse(text);
            (name, version)
        };
        assert_eq!(spec("left-pad"), ("left-pad", None));
        assert_eq!(spec(" lodash@<4.17.21 "), ("lodash", Some("<4.17.21")));
        assert_eq!(
            spec("requests@>=2.0,<2.5"),
            ("requests", Some(">=2.0,<2.5"))
        );
        assert_eq!(spec("@evil/pkg@1.0.0"), ("@evil/pkg", Some("1.0.0")));
        assert_eq!(spec("@acme/tool"), ("@acme/tool", None));
        assert_eq!(spec("x@"), ("x", Some("")));
    }
}
