//! Which protocol resource a request path names, and the index layout rules
//! (`1/{n}`, `2/{n}`, `3/{c}/{n}`, `{ab}/{cd}/{name}`) shared with the `dl`
//! template's `{prefix}` markers.

use percent_encoding::percent_decode_str;

/// Where cargo downloads a crate below this adapter (before `/{crate}/{version}/download`).
pub const DOWNLOADS: &str = "/api/v1/crates";

/// The longest crate name a registry accepts.
const MAX_NAME_LEN: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/index/config.json`.
    Config,
    /// `/index/{prefix}/{name}`: the index file of `name` (lower case).
    IndexFile(String),
    /// `/api/v1/crates/{name}/{version}/download`.
    Download { name: String, version: String },
    /// A request this adapter cannot read (400 with the message).
    Invalid(String),
    /// Nothing lives there (404 with the message).
    NotFound(String),
}

/// Reads a path below the adapter (`/index/...`, `/api/v1/crates/...`).
pub fn route(path: &str) -> Route {
    if let Some(rest) = path.strip_prefix("/index/") {
        return index_route(rest);
    }
    if let Some(rest) = path
        .strip_prefix(DOWNLOADS)
        .and_then(|p| p.strip_prefix('/'))
    {
        return download_route(rest);
    }
    Route::NotFound(format!(
        "{path} is not part of the sparse registry protocol (index/, {DOWNLOADS}/)"
    ))
}

fn index_route(rest: &str) -> Route {
    if rest == "config.json" {
        return Route::Config;
    }
    // Cargo asks for lower-case paths; registries are case-insensitive.
    let rest = rest.to_ascii_lowercase();
    let Some((prefix, name)) = rest.rsplit_once('/') else {
        return Route::NotFound(format!("no index file at index/{rest}"));
    };
    if !is_crate_name(name) {
        return Route::Invalid(format!("{name:?} is not a crate name"));
    }
    if prefix != index_prefix(name) {
        return Route::NotFound(format!(
            "the index file of {name} is index/{}/{name}, not index/{rest}",
            index_prefix(name)
        ));
    }
    Route::IndexFile(name.to_owned())
}

fn download_route(rest: &str) -> Route {
    let segments: Vec<&str> = rest.split('/').collect();
    let [name, version, "download"] = segments[..] else {
        return Route::NotFound(format!(
            "downloads are {DOWNLOADS}/{{crate}}/{{version}}/download, not {DOWNLOADS}/{rest}"
        ));
    };
    if !is_crate_name(name) {
        return Route::Invalid(format!("{name:?} is not a crate name"));
    }
    // A `+` of build metadata may arrive escaped.
    let version = percent_decode_str(version).decode_utf8_lossy();
    if !is_version(&version) {
        return Route::Invalid(format!("{version:?} is not a crate version"));
    }
    Route::Download {
        name: name.to_owned(),
        version: version.into_owned(),
    }
}

/// ASCII letters, digits, `-` and `_`, at most 64 of them: what registries
/// accept, and nothing that could climb out of a path.
pub fn is_crate_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The characters of a SemVer version (`1.2.3-rc.1+build.5`), dots not leading.
fn is_version(version: &str) -> bool {
    version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+".contains(&b))
}

/// The directory of `name`'s index file, in `name`'s own case (the `dl`
/// template's `{prefix}`); `name` is a valid crate name.
pub fn index_prefix(name: &str) -> String {
    match name.len() {
        1 => "1".into(),
        2 => "2".into(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str) -> Route {
        Route::IndexFile(name.into())
    }

    #[test]
    fn index_files_follow_the_prefix_rules() {
        assert_eq!(route("/index/config.json"), Route::Config);
        assert_eq!(route("/index/1/a"), index("a"));
        assert_eq!(route("/index/2/ab"), index("ab"));
        assert_eq!(route("/index/3/a/abc"), index("abc"));
        assert_eq!(route("/index/de/mo/demo"), index("demo"));
        assert_eq!(route("/index/se/rd/serde_json"), index("serde_json"));
        assert!(matches!(route("/index/1/ab"), Route::NotFound(_)));
        assert!(matches!(route("/index/3/b/abc"), Route::NotFound(_)));
        assert!(matches!(route("/index/de/demo"), Route::NotFound(_)));
        assert!(matches!(route("/index/demo"), Route::NotFound(_)));
    }

    #[test]
    fn index_paths_are_case_insensitive() {
        assert_eq!(route("/index/in/fl/Inflector"), index("inflector"));
        assert_eq!(route("/index/IN/FL/inflector"), index("inflector"));
        assert_eq!(index_prefix("Inflector"), "In/fl");
    }

    #[test]
    fn traversal_and_odd_names_are_refused() {
        // A name is one segment of safe characters, under its own prefix only.
        assert!(matches!(
            route("/index/../../etc/passwd"),
            Route::NotFound(_)
        ));
        assert!(matches!(route("/index/de/mo/.."), Route::Invalid(_)));
        assert!(matches!(route("/index/de/mo/de%2fmo"), Route::Invalid(_)));
        assert!(matches!(route("/index/de/mo/"), Route::Invalid(_)));
        let long = "a".repeat(65);
        assert!(matches!(
            route(&format!("/index/aa/aa/{long}")),
            Route::Invalid(_)
        ));
        assert!(matches!(
            route("/api/v1/crates/../1.0.0/download"),
            Route::Invalid(_)
        ));
        assert!(matches!(
            route("/api/v1/crates/demo/..%2f..%2fx/download"),
            Route::Invalid(_)
        ));
        assert!(matches!(route("/other"), Route::NotFound(_)));
    }

    #[test]
    fn downloads_name_a_crate_and_a_version() {
        assert_eq!(
            route("/api/v1/crates/Demo_x/1.2.0-rc.1%2Bbuild.5/download"),
            Route::Download {
                name: "Demo_x".into(),
                version: "1.2.0-rc.1+build.5".into()
            }
        );
        assert!(matches!(
            route("/api/v1/crates/demo/1.0.0"),
            Route::NotFound(_)
        ));
        assert!(matches!(
            route("/api/v1/crates/demo/1.0.0/download/more"),
            Route::NotFound(_)
        ));
        assert!(matches!(
            route("/api/v1/crates/demo/latest/download"),
            Route::Invalid(_)
        ));
    }
}
