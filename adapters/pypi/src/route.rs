//! What a request path asks for, decided before anything is fetched.
//!
//! Paths arrive percent-encoded, relative to the adapter's prefix:
//! `/simple/`, `/simple/{project}/` and `/files/{project}/{filename}` (the
//! download URLs this adapter writes into the pages it serves).

use percent_encoding::percent_decode_str;

use crate::name;

/// The file URLs this adapter hands out live under this path.
pub const FILES_PREFIX: &str = "/files/";

#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// The list of every project (`/simple/`).
    ProjectList,
    /// One project's page, by normalised name.
    Project(String),
    /// A non-canonical spelling: redirect to this path (below the public base).
    Redirect(String),
    /// A download: a distribution file, or its `.metadata` (PEP 658).
    File { project: String, filename: String },
    /// A malformed request (400).
    Invalid(String),
    /// Nothing lives here (404).
    NotFound(String),
}

/// Decides what `path` asks for.
pub fn route(path: &str) -> Route {
    if path == "/simple" {
        return Route::Redirect("/simple/".into());
    }
    if path == "/simple/" {
        return Route::ProjectList;
    }
    if let Some(rest) = path.strip_prefix("/simple/") {
        let (segment, trailing_slash) = match rest.strip_suffix('/') {
            Some(segment) => (segment, true),
            None => (rest, false),
        };
        return project_route(segment, trailing_slash);
    }
    if let Some(rest) = path.strip_prefix(FILES_PREFIX) {
        return file_route(rest);
    }
    Route::NotFound(format!("no such path: {path}"))
}

fn project_route(segment: &str, trailing_slash: bool) -> Route {
    let name = match decode(segment) {
        Ok(name) if !name.contains('/') && name::is_valid(&name) => name,
        _ => return Route::NotFound(format!("not a valid project name: {segment}")),
    };
    let normalised = name::normalise(&name);
    if trailing_slash && normalised == name {
        Route::Project(normalised)
    } else {
        Route::Redirect(format!("/simple/{normalised}/"))
    }
}

fn file_route(rest: &str) -> Route {
    let Some((project, filename)) = rest.split_once('/') else {
        return Route::NotFound(format!("no such file: {rest}"));
    };
    // Only the canonical URLs this adapter writes are served.
    if !name::is_valid(project) || name::normalise(project) != project {
        return Route::NotFound(format!("not a normalised project name: {project}"));
    }
    match decode(filename) {
        Ok(decoded) if is_plain_filename(&decoded) => Route::File {
            project: project.into(),
            filename: decoded,
        },
        _ => Route::Invalid(format!("not a distribution filename: {filename}")),
    }
}

fn decode(segment: &str) -> Result<String, std::str::Utf8Error> {
    percent_decode_str(segment)
        .decode_utf8()
        .map(|text| text.into_owned())
}

/// A single path component: no separators, no control characters, and no
/// leading dot (which rules out `.` and `..`).
fn is_plain_filename(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(to: &str) -> Route {
        Route::Redirect(to.into())
    }

    #[test]
    fn canonical_project_pages_are_served() {
        assert_eq!(route("/simple/"), Route::ProjectList);
        assert_eq!(route("/simple/six/"), Route::Project("six".into()));
        assert_eq!(route("/simple/foo-bar/"), Route::Project("foo-bar".into()));
    }

    #[test]
    fn other_spellings_redirect_to_the_normalised_url() {
        assert_eq!(route("/simple"), redirect("/simple/"));
        assert_eq!(route("/simple/Foo_Bar/"), redirect("/simple/foo-bar/"));
        assert_eq!(route("/simple/Foo_Bar"), redirect("/simple/foo-bar/"));
        assert_eq!(route("/simple/six"), redirect("/simple/six/"));
        assert_eq!(
            route("/simple/zope.interface/"),
            redirect("/simple/zope-interface/")
        );
        assert_eq!(route("/simple/Foo%5FBar/"), redirect("/simple/foo-bar/"));
    }

    #[test]
    fn invalid_project_names_are_not_found() {
        for path in [
            "/simple/../",
            "/simple/%2e%2e/",
            "/simple/a%2Fb/",
            "/simple/a/b/",
            "/simple/-x/",
            "/simple/%ff/",
        ] {
            assert!(matches!(route(path), Route::NotFound(_)), "{path}");
        }
        assert!(matches!(route("/"), Route::NotFound(_)));
        assert!(matches!(route("/json/six"), Route::NotFound(_)));
    }

    #[test]
    fn file_paths_are_decoded_once() {
        assert_eq!(
            route("/files/six/six-1.16.0-py2.py3-none-any.whl"),
            Route::File {
                project: "six".into(),
                filename: "six-1.16.0-py2.py3-none-any.whl".into()
            }
        );
        assert_eq!(
            route("/files/torch/torch-2.0.0%2Bcpu-cp311-none-any.whl.metadata"),
            Route::File {
                project: "torch".into(),
                filename: "torch-2.0.0+cpu-cp311-none-any.whl.metadata".into()
            }
        );
    }

    #[test]
    fn traversal_and_separators_in_file_paths_are_refused() {
        for path in [
            "/files/six/..",
            "/files/six/%2e%2e",
            "/files/six/%2E%2E",
            "/files/six/a%2Fb.whl",
            "/files/six/a%5cb.whl",
            "/files/six/../etc/passwd",
            "/files/six/x.whl%00",
            "/files/six/%ff.whl",
            "/files/six/",
        ] {
            assert!(matches!(route(path), Route::Invalid(_)), "{path}");
        }
        for path in ["/files/Six/six-1.0.tar.gz", "/files/..%2f/x", "/files/six"] {
            assert!(matches!(route(path), Route::NotFound(_)), "{path}");
        }
    }
}
