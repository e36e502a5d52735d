//! Which registry endpoint a request path names, and npm package names.
//!
//! Paths arrive with their percent-encoding kept. Scoped names come in three
//! spellings (`/@scope%2fname`, `/@scope%2Fname`, `/@scope/name`, and some
//! clients also escape the `@`); all decode to the same [`PackageName`]. Names are
//! validated before anything is built from them, and tarball filenames are only
//! ever compared with names derived from upstream metadata, never fetched.

use percent_encoding::percent_decode_str;

/// The longest package name the registry accepts.
const MAX_NAME_LENGTH: usize = 214;

/// An endpoint of the npm registry API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/`: the registry's root document.
    Root,
    /// `/-/ping`: `npm ping`.
    Ping,
    /// `/-/npm/v1/security/advisories/bulk`: `npm audit`.
    AdvisoriesBulk,
    /// Another `/-/...` endpoint (search, whoami, tokens ...), not served here.
    UnsupportedEndpoint,
    /// `/{name}`: the package document.
    Packument(PackageName),
    /// `/{name}/-/{filename}`: a tarball, `filename` percent-decoded.
    Tarball { name: PackageName, filename: String },
    /// Anything else, with the reason it is not an npm path.
    Invalid(String),
}

/// A valid npm package name, `name` or `@scope/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageName(String);

impl PackageName {
    /// Accepts `name` or `@scope/name` made of the characters npm names use.
    pub fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || text.len() > MAX_NAME_LENGTH {
            return None;
        }
        let valid = match text.strip_prefix('@') {
            Some(scoped) => scoped
                .split_once('/')
                .is_some_and(|(scope, bare)| valid_part(scope) && valid_part(bare)),
            None => valid_part(text),
        };
        valid.then(|| PackageName(text.to_owned()))
    }

    /// The name as npm writes it, scope included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without its scope: what tarball filenames start with.
    pub fn bare(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The path segment the registry expects: `@scope%2fname` or `name`.
    pub fn upstream_path(&self) -> String {
        self.0.replacen('/', "%2f", 1)
    }

    /// The filename of `version`'s tarball: `{bare}-{version}.tgz`.
    pub fn tarball_filename(&self, version: &str) -> String {
        format!("{}-{version}.tgz", self.bare())
    }

    /// The version a tarball filename names, when it is `{bare}-{version}.tgz`.
    pub fn version_in_filename<'f>(&self, filename: &'f str) -> Option<&'f str> {
        let version = filename
            .strip_suffix(".tgz")?
            .strip_prefix(self.bare())?
            .strip_prefix('-')?;
        (!version.is_empty()).then_some(version)
    }
}

impl std::fmt::Display for PackageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One side of a name: URL-safe characters (legacy names keep upper case and
/// `~!'()*`), never `.`/`..` nor a leading dot.
fn valid_part(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with('.')
        && part.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'_' | b'~' | b'!' | b'\'' | b'(' | b')' | b'*'
                )
        })
}

/// Routes `path` (after the adapter prefix, percent-encoding kept).
pub fn route(path: &str) -> Route {
    let Some(rest) = path.strip_prefix('/') else {
        return Route::Invalid("the path does not start with /".into());
    };
    if rest.is_empty() {
        return Route::Root;
    }
    if let Some(endpoint) = rest.strip_prefix("-/") {
        return match endpoint {
            "ping" => Route::Ping,
            "npm/v1/security/advisories/bulk" => Route::AdvisoriesBulk,
            _ => Route::UnsupportedEndpoint,
        };
    }
    let mut segments = Vec::new();
    for segment in rest.split('/') {
        match percent_decode_str(segment).decode_utf8() {
            Ok(decoded) => segments.push(decoded.into_owned()),
            Err(_) => return Route::Invalid("the path is not UTF-8".into()),
        }
    }
    // `@scope/name` arrives either as one encoded segment or as two.
    let (name, rest) = match segments.as_slice() {
        [scope, bare, rest @ ..] if scope.starts_with('@') && !scope.contains('/') => {
            (format!("{scope}/{bare}"), rest)
        }
        [name, rest @ ..] => (name.clone(), rest),
        [] => return Route::Invalid("the path names no package".into()),
    };
    let Some(name) = PackageName::parse(&name) else {
        return Route::Invalid(format!("{name:?} is not a valid npm package name"));
    };
    match rest {
        [] => Route::Packument(name),
        [dash, filename] if dash == "-" && !filename.is_empty() && !filename.contains('/') => {
            Route::Tarball {
                name,
                filename: filename.clone(),
            }
        }
        _ => Route::Invalid(format!("no npm endpoint at {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packument(name: &str) -> Route {
        Route::Packument(PackageName::parse(name).unwrap())
    }

    fn tarball(name: &str, filename: &str) -> Route {
        Route::Tarball {
            name: PackageName::parse(name).unwrap(),
            filename: filename.into(),
        }
    }

    #[test]
    fn unscoped_and_scoped_packuments_in_every_spelling() {
        assert_eq!(route("/express"), packument("express"));
        for path in [
            "/@types%2fnode",
            "/@types%2Fnode",
            "/@types/node",
            "/%40types%2fnode",
        ] {
            assert_eq!(route(path), packument("@types/node"), "{path}");
        }
        assert_eq!(route("/JSONStream"), packument("JSONStream"));
    }

    #[test]
    fn tarballs_scoped_and_unscoped() {
        assert_eq!(
            route("/express/-/express-4.21.2.tgz"),
            tarball("express", "express-4.21.2.tgz")
        );
        for path in [
            "/@types/node/-/node-20.1.0.tgz",
            "/@types%2fnode/-/node-20.1.0.tgz",
            "/@types%2Fnode/-/node-20.1.0.tgz",
        ] {
            assert_eq!(
                route(path),
                tarball("@types/node", "node-20.1.0.tgz"),
                "{path}"
            );
        }
    }

    #[test]
    fn special_endpoints() {
        assert_eq!(route("/"), Route::Root);
        assert_eq!(route("/-/ping"), Route::Ping);
        assert_eq!(
            route("/-/npm/v1/security/advisories/bulk"),
            Route::AdvisoriesBulk
        );
        assert_eq!(route("/-/whoami"), Route::UnsupportedEndpoint);
        assert_eq!(route("/-/v1/search"), Route::UnsupportedEndpoint);
    }

    #[test]
    fn weird_paths_are_invalid() {
        for path in [
            "",
            "//express",
            "/express/",
            "/..",
            "/%2e%2e",
            "/.hidden",
            "/@scope",
            "/@scope/",
            "/@scope/..",
            "/@scope%2f%2e%2e/-/x.tgz",
            "/@scope/name/extra",
            "/express//-/express-1.0.0.tgz",
            "/express/-/",
            "/express/-/a%2fb.tgz",
            "/express/-/x/../../etc",
            "/foo%2fbar",
            "/%ff",
            "/a b",
            "/express/1.0.0",
        ] {
            assert!(matches!(route(path), Route::Invalid(_)), "{path:?}");
        }
    }

    #[test]
    fn a_dotted_filename_is_only_a_string_to_compare() {
        // `..` in the filename never becomes a path: it just matches no version.
        let Route::Tarball { name, filename } = route("/express/-/%2e%2e") else {
            panic!("routes as a tarball")
        };
        assert_eq!(filename, "..");
        assert_eq!(name.version_in_filename(&filename), None);
    }

    #[test]
    fn names() {
        let scoped = PackageName::parse("@babel/core").unwrap();
        assert_eq!(scoped.bare(), "core");
        assert_eq!(scoped.upstream_path(), "@babel%2fcore");
        assert_eq!(scoped.tarball_filename("7.0.0"), "core-7.0.0.tgz");
        let plain = PackageName::parse("lodash").unwrap();
        assert_eq!(plain.upstream_path(), "lodash");
        assert!(PackageName::parse(&"a".repeat(215)).is_none());
        assert!(PackageName::parse("@/x").is_none());
        assert!(PackageName::parse("a/b").is_none());
        assert!(PackageName::parse("@a/b/c").is_none());
    }

    #[test]
    fn versions_in_filenames() {
        let name = PackageName::parse("@scope/my-pkg").unwrap();
        assert_eq!(name.version_in_filename("my-pkg-1.2.3.tgz"), Some("1.2.3"));
        assert_eq!(
            name.version_in_filename("my-pkg-1.0.0-beta.1.tgz"),
            Some("1.0.0-beta.1")
        );
        assert_eq!(name.version_in_filename("my-pkg-.tgz"), None);
        assert_eq!(name.version_in_filename("other-1.2.3.tgz"), None);
        assert_eq!(name.version_in_filename("my-pkg-1.2.3.tar.gz"), None);
        assert_eq!(name.version_in_filename("my-pkg1.2.3.tgz"), None);
    }
}
