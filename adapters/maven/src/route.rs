//! Request paths in the Maven 2 repository layout.
//!
//! `/{group as dirs}/{artifact}/maven-metadata.xml[.{checksum}]` lists an
//! artifact's versions; `/{group as dirs}/{artifact}/{version}/{file}` is one
//! of a version's files (`{artifact}-{version}[-{classifier}].{ext}`, or a
//! checksum or signature sibling of one). Every segment is checked against
//! the characters Maven coordinates use, so the upstream URL built from them
//! can only name a file of that layout.

/// A checksum or signature sibling (`x.jar.sha1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sibling {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    /// A PGP signature (`.asc`): passed through for allowed versions.
    Signature,
}

impl Sibling {
    pub fn extension(self) -> &'static str {
        match self {
            Sibling::Md5 => "md5",
            Sibling::Sha1 => "sha1",
            Sibling::Sha256 => "sha256",
            Sibling::Sha512 => "sha512",
            Sibling::Signature => "asc",
        }
    }

    fn split(file: &str) -> (&str, Option<Sibling>) {
        for sibling in [
            Sibling::Md5,
            Sibling::Sha1,
            Sibling::Sha256,
            Sibling::Sha512,
            Sibling::Signature,
        ] {
            if let Some(base) = file
                .strip_suffix(sibling.extension())
                .and_then(|rest| rest.strip_suffix('.'))
            {
                return (base, Some(sibling));
            }
        }
        (file, None)
    }
}

/// Maven coordinates of a group and artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinates {
    /// Dotted, e.g. `org.example`.
    pub group: String,
    pub artifact: String,
}

impl Coordinates {
    /// The package name as OSV spells it for Maven: `group:artifact`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.group, self.artifact)
    }

    /// `org/example/demo`: the path of the artifact's directory.
    pub fn dir(&self) -> String {
        format!("{}/{}", self.group.replace('.', "/"), self.artifact)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The artifact-level `maven-metadata.xml` or a checksum of it.
    Metadata {
        coordinates: Coordinates,
        sibling: Option<Sibling>,
    },
    /// A file of one version, or a sibling of one.
    File {
        coordinates: Coordinates,
        version: String,
        /// The file's name without the sibling extension.
        file: String,
        sibling: Option<Sibling>,
    },
    Invalid(String),
}

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

/// Routes a request path (after the adapter's prefix).
pub fn route(path: &str) -> Route {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    if let Some(bad) = segments.iter().find(|s| !valid_segment(s)) {
        return Route::Invalid(format!(
            "{bad:?} is not a path segment of a Maven repository"
        ));
    }
    let n = segments.len();
    let (file, sibling) = Sibling::split(segments[n - 1]);
    if file == "maven-metadata.xml" {
        if n < 3 {
            return Route::Invalid("maven-metadata.xml needs a group and an artifact".into());
        }
        return Route::Metadata {
            coordinates: Coordinates {
                group: segments[..n - 2].join("."),
                artifact: segments[n - 2].to_owned(),
            },
            sibling,
        };
    }
    if n < 4 {
        return Route::Invalid(format!(
            "{path} is not group/artifact/version/file in the Maven layout"
        ));
    }
    let (artifact, version) = (segments[n - 3], segments[n - 2]);
    let stem = format!("{artifact}-{version}");
    let named_for_it = file
        .strip_prefix(&stem)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'));
    if !named_for_it {
        return Route::Invalid(format!(
            "{file} is not a file of {artifact} {version} (it must start with {stem})"
        ));
    }
    Route::File {
        coordinates: Coordinates {
            group: segments[..n - 3].join("."),
            artifact: artifact.to_owned(),
        },
        version: version.to_owned(),
        file: file.to_owned(),
        sibling,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coordinates() -> Coordinates {
        Coordinates {
            group: "org.example".into(),
            artifact: "demo".into(),
        }
    }

    #[test]
    fn metadata_and_its_checksums() {
        assert_eq!(
            route("/org/example/demo/maven-metadata.xml"),
            Route::Metadata {
                coordinates: coordinates(),
                sibling: None
            }
        );
        assert_eq!(
            route("/org/example/demo/maven-metadata.xml.sha1"),
            Route::Metadata {
                coordinates: coordinates(),
                sibling: Some(Sibling::Sha1)
            }
        );
        assert_eq!(coordinates().name(), "org.example:demo");
        assert_eq!(coordinates().dir(), "org/example/demo");
    }

    #[test]
    fn version_files_and_siblings() {
        assert_eq!(
            route("/org/example/demo/1.2.0/demo-1.2.0-sources.jar.sha256"),
            Route::File {
                coordinates: coordinates(),
                version: "1.2.0".into(),
                file: "demo-1.2.0-sources.jar".into(),
                sibling: Some(Sibling::Sha256),
            }
        );
        assert!(matches!(
            route("/org/example/demo/1.2.0/demo-1.2.0.pom"),
            Route::File { sibling: None, .. }
        ));
    }

    #[test]
    fn refuses_what_is_not_the_layout() {
        for path in [
            "/org/example/demo/1.2.0/other-1.2.0.jar",
            "/org/example/../1.2.0/demo-1.2.0.jar",
            "/org/example/demo/1.2.0/demo-1.2.0.jar%2f",
            "/demo/1.0/demo-1.0.jar",
            "/maven-metadata.xml",
            "//example/demo/1.0/demo-1.0.jar",
        ] {
            assert!(matches!(route(path), Route::Invalid(_)), "{path}");
        }
    }
}
