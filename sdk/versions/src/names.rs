//! Package names as registries compare them: which spellings name one package.

use std::borrow::Cow;

/// PEP 503's normal form of a PyPI name, as `packaging.utils.canonicalize_name`
/// writes it: lower case (the whole name at once, so a final `Σ` lowers to `ς`
/// as Python's `str.lower` does), every run of `-`, `_` and `.` one `-`
/// (`Typing.Extensions` → `typing-extensions`). One implementation for the
/// host, the adapters and the policies: a name spelled two ways must meet.
pub fn pep503(name: &str) -> Cow<'_, str> {
    let normal = !name
        .contains(|c: char| c.is_uppercase() || c == '_' || c == '.' || !c.is_ascii())
        && !name.contains("--");
    if normal {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    for c in name.to_lowercase().chars() {
        if !matches!(c, '-' | '_' | '.') {
            out.push(c);
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
    fn pep503_lowers_as_python_does() {
        assert_eq!(pep503("ΣΑΣ"), "σας");
        assert_eq!(pep503("ΣΑΣ.x"), "σασ-x");
        assert_eq!(pep503("Ǆemal"), "ǆemal");
        assert_eq!(pep503("é"), "é");
    }
}
