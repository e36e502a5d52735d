//! What a request path asks for, decided before anything is fetched.
//!
//! Paths are the GOPROXY protocol's, relative to the adapter's prefix, with
//! module paths and versions case-encoded (see [`crate::escape`]) and then
//! percent-encoded (the go command sends `!` as `%21`):
//! `/{module}/@v/list`, `/{module}/@v/{version}.info`, `.mod`, `.zip` and
//! `/{module}/@latest`. Everything is decoded and validated here, and only
//! re-encoded valid values ever reach an upstream URL.

use percent_encoding::percent_decode_str;

use crate::escape::unescape;

#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// The module's known versions.
    List(String),
    /// The module's latest version's `.info`.
    Latest(String),
    /// A version's `.info`; the version may be a query such as a branch name.
    Info { module: String, version: String },
    /// A version's `go.mod` (canonical versions only).
    Mod { module: String, version: String },
    /// A version's source zip (canonical versions only).
    Zip { module: String, version: String },
    /// A malformed request (400).
    Invalid(String),
    /// Nothing lives here (404), e.g. `/sumdb/...`: the go command then asks
    /// the checksum database directly.
    NotFound(String),
}

/// Decides what `path` asks for.
pub fn route(path: &str) -> Route {
    let Ok(decoded) = percent_decode_str(path).decode_utf8() else {
        return Route::Invalid(format!("not UTF-8: {path}"));
    };
    let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
    if let Some(module) = rest.strip_suffix("/@latest") {
        return with_module(module, Route::Latest);
    }
    let Some((module, file)) = rest.split_once("/@v/") else {
        return Route::NotFound(format!("no such path: {path}"));
    };
    if file == "list" {
        return with_module(module, Route::List);
    }
    let Some((version, extension)) = file.rsplit_once('.') else {
        return Route::NotFound(format!("no such file: {file}"));
    };
    let Some(version) = unescape(version).filter(|v| is_version_query(v)) else {
        return Route::Invalid(format!("not a valid version: {version}"));
    };
    let canonical = is_canonical(&version);
    with_module(module, |module| match extension {
        "info" => Route::Info { module, version },
        "mod" if canonical => Route::Mod { module, version },
        "zip" if canonical => Route::Zip { module, version },
        "mod" | "zip" => Route::Invalid(format!("not a canonical version: {version}")),
        _ => Route::NotFound(format!("no such file: {file}")),
    })
}

fn with_module(escaped: &str, make: impl FnOnce(String) -> Route) -> Route {
    match unescape(escaped).filter(|path| is_module_path(path)) {
        Some(path) => make(path),
        None => Route::Invalid(format!("not a valid module path: {escaped}")),
    }
}

/// Go's module path rules (`module.CheckPath`): `/`-separated elements of
/// ASCII letters, digits and `-._~`, none empty or starting or ending with
/// `.`; the first element (a host name) lower case and holding a dot.
pub fn is_module_path(path: &str) -> bool {
    let mut elements = path.split('/');
    let first = elements.next().unwrap_or_default();
    let host_ok = first.contains('.')
        && !first.starts_with('-')
        && first
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'));
    host_ok && path.split('/').all(is_path_element)
}

fn is_path_element(element: &str) -> bool {
    !element.is_empty()
        && !element.starts_with('.')
        && !element.ends_with('.')
        && element
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A version or version query (`v1.2.3`, `master`, `v1.2`): ASCII letters,
/// digits and `-._+~`, not starting with `.`.
fn is_version_query(version: &str) -> bool {
    !version.is_empty()
        && !version.starts_with('.')
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'+' | b'~'))
}

/// A canonical semantic version with Go's `v` (pseudo-versions and
/// `+incompatible` included).
pub fn is_canonical(version: &str) -> bool {
    version
        .strip_prefix('v')
        .is_some_and(|bare| semver::Version::parse(bare).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(module: &str, version: &str) -> Route {
        Route::Info {
            module: module.into(),
            version: version.into(),
        }
    }

    #[test]
    fn protocol_paths_are_decoded() {
        assert_eq!(
            route("/example.test/demo/@v/list"),
            Route::List("example.test/demo".into())
        );
        assert_eq!(
            route("/example.test/!camel!case/@latest"),
            Route::Latest("example.test/CamelCase".into())
        );
        assert_eq!(
            route("/example.test/%21camel%21case/@v/list"),
            Route::List("example.test/CamelCase".into())
        );
        assert_eq!(
            route("/example.test/demo/@v/v1.0.0-!r!c1.info"),
            info("example.test/demo", "v1.0.0-RC1")
        );
        assert_eq!(
            route("/example.test/demo/@v/master.info"),
            info("example.test/demo", "master")
        );
        assert_eq!(
            route("/example.test/a/b/@v/v2.0.0+incompatible.mod"),
            Route::Mod {
                module: "example.test/a/b".into(),
                version: "v2.0.0+incompatible".into()
            }
        );
        assert_eq!(
            route("/example.test/demo/@v/v0.0.0-20191109021931-daa7c04131f5.zip"),
            Route::Zip {
                module: "example.test/demo".into(),
                version: "v0.0.0-20191109021931-daa7c04131f5".into()
            }
        );
    }

    #[test]
    fn malformed_modules_and_versions_are_invalid() {
        for path in [
            "/example.test/Demo/@v/list",
            "/example.test/de!!mo/@v/list",
            "/example.test/../x/@v/list",
            "/example.test//x/@v/list",
            "/example.test/a%00b/@v/list",
            "/example.test/a%ffb/@v/list",
            "/example.test/a%2521b/@v/list",
            "/Example.test/x/@latest",
            "/localhost/x/@latest",
            "/example.test/x./@latest",
            "/example.test/demo/@v/v1.0.0%00.info",
            "/example.test/demo/@v/.info",
            "/example.test/demo/@v/v1.0.0/x.info",
            "/example.test/demo/@v/master.zip",
            "/example.test/demo/@v/v1.2.mod",
        ] {
            assert!(matches!(route(path), Route::Invalid(_)), "{path}");
        }
    }

    #[test]
    fn other_paths_are_not_found() {
        for path in [
            "/",
            "/sumdb/sum.example.test/supported",
            "/example.test/demo",
            "/example.test/demo/@v/v1.0.0.tar",
            "/example.test/demo/@v/v1",
        ] {
            assert!(matches!(route(path), Route::NotFound(_)), "{path}");
        }
    }
}
