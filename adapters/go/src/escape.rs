//! The module proxy's case encoding: every upper-case letter of a module path
//! or version is written `!` plus its lower-case form, so that paths stay
//! distinct on case-insensitive file systems (`example.test/Foo` is served as
//! `example.test/!foo`).

/// The escaped form of a module path or version.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The text an escaped path or version stands for; `None` when it is not a
/// valid escaping (a bare upper-case letter, or `!` not before `a`–`z`).
pub fn unescape(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match c {
            '!' => match chars.next() {
                Some(next) if next.is_ascii_lowercase() => out.push(next.to_ascii_uppercase()),
                _ => return None,
            },
            c if c.is_ascii_uppercase() => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitals_become_bang_and_lower_case() {
        assert_eq!(
            escape("example.test/Azure/Go-SDK"),
            "example.test/!azure/!go-!s!d!k"
        );
        assert_eq!(escape("v1.0.0-RC1"), "v1.0.0-!r!c1");
        assert_eq!(escape("example.test/plain"), "example.test/plain");
    }

    #[test]
    fn unescaping_reverses_escaping() {
        for text in ["example.test/Azure/Go-SDK", "v1.0.0-RC1", "a", "", "x~y_z"] {
            assert_eq!(unescape(&escape(text)).as_deref(), Some(text), "{text}");
        }
    }

    #[test]
    fn invalid_escapes_are_refused() {
        for bad in ["example.test/Azure", "a!", "a!!b", "a!1", "a!A"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }
}
