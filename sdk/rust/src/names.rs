//! Package names as registries compare them, and the `name@version` entries that
//! policy settings list (deny lists, exemptions).

pub use gatehouse_versions::names::{normalise, pep503, same_package};

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
