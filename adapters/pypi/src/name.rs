//! Project names: PEP 508 validity and PEP 503 normalisation.

/// The normalised form of a project name (PEP 503, as the host and the
/// policies write it: one implementation for all three).
pub fn normalise(name: &str) -> String {
    gatehouse_versions::names::pep503(name).into_owned()
}

/// True for a valid project name: ASCII letters and digits, with `.`, `_`, `-`
/// allowed inside (`^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`, any case).
///
/// Only valid names are ever put into an upstream URL.
pub fn is_valid(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_pep_503() {
        assert_eq!(normalise("Foo_Bar"), "foo-bar");
        assert_eq!(normalise("zope.interface"), "zope-interface");
        assert_eq!(normalise("a-_.-b"), "a-b");
        assert_eq!(normalise("PyYAML"), "pyyaml");
        assert_eq!(normalise("six"), "six");
    }

    #[test]
    fn accepts_only_pep_508_names() {
        for good in ["six", "Foo_Bar", "zope.interface", "a", "9x", "a-b_c.d"] {
            assert!(is_valid(good), "{good}");
        }
        for bad in ["", "-a", "a-", ".", "..", "a/b", "a%2fb", "a b", "é", "a\0"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
