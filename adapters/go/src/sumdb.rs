//! The checksum database's lookup endpoint: `{sumdb}/lookup/{module}@{version}`
//! answers a record number, the lines `{module} {version} h1:...` and
//! `{module} {version}/go.mod h1:...`, a blank line and a signed tree head.
//!
//! Only the record lines are read: the note's signature and the transparency
//! log's inclusion proofs are not checked, so the database is trusted as
//! configured (as an internal mirror would be).

use crate::escape::escape;

/// What a lookup line describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The module zip's contents.
    Zip,
    /// The version's `go.mod`.
    GoMod,
}

/// The lookup URL for one module version below `base`.
pub fn lookup_url(base: &str, module: &str, version: &str) -> String {
    format!(
        "{}/lookup/{}@{}",
        base.trim_end_matches('/'),
        escape(module),
        escape(version)
    )
}

/// The `h1:` hash the lookup answer `body` records for `module` at `version`.
pub fn recorded_hash<'a>(
    body: &'a str,
    module: &str,
    version: &str,
    what: Recorded,
) -> Option<&'a str> {
    let key = match what {
        Recorded::Zip => version.to_owned(),
        Recorded::GoMod => format!("{version}/go.mod"),
    };
    body.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(m), Some(v), Some(hash), None)
                if m == module && v == key && hash.starts_with("h1:") =>
            {
                Some(hash)
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "\
12345
example.test/Demo v1.1.0 h1:zipzipzip=
example.test/Demo v1.1.0/go.mod h1:modmodmod=

- sum.example.test AAAAsignature==
";

    #[test]
    fn lookup_urls_are_case_encoded() {
        assert_eq!(
            lookup_url(
                "http://127.0.0.1:9/sumdb/",
                "example.test/Demo",
                "v1.0.0-RC1"
            ),
            "http://127.0.0.1:9/sumdb/lookup/example.test/!demo@v1.0.0-!r!c1"
        );
    }

    #[test]
    fn finds_each_kind_of_line() {
        let find = |m, v, what| recorded_hash(ANSWER, m, v, what);
        assert_eq!(
            find("example.test/Demo", "v1.1.0", Recorded::Zip),
            Some("h1:zipzipzip=")
        );
        assert_eq!(
            find("example.test/Demo", "v1.1.0", Recorded::GoMod),
            Some("h1:modmodmod=")
        );
        assert_eq!(find("example.test/demo", "v1.1.0", Recorded::Zip), None);
        assert_eq!(find("example.test/Demo", "v1.2.0", Recorded::Zip), None);
    }
}
