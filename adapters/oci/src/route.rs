//! Which distribution-spec resource a request path names: below the
//! upstream's prefix, `/{repository}/manifests/{reference}`,
//! `/{repository}/blobs/{digest}` and `/{repository}/tags/list`.

/// The longest tag the distribution spec allows.
const MAX_TAG_LEN: usize = 128;

#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// A manifest or an image index, by tag or by digest.
    Manifest {
        repository: String,
        reference: Reference,
    },
    /// A blob (a layer or an image config), by digest.
    Blob { repository: String, digest: Sha256 },
    /// The repository's tags.
    Tags { repository: String },
    /// A path this adapter cannot read: the error code and message.
    Invalid(&'static str, String),
}

/// A manifest reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Sha256),
}

/// A `sha256:` digest, its hex in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha256(pub String);

impl Sha256 {
    /// Reads `sha256:{64 hex}`; other algorithms are not verified here.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("sha256:")?;
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Sha256(hex.to_owned()))
    }

    /// `sha256:{hex}`, as the protocol writes it.
    pub fn text(&self) -> String {
        format!("sha256:{}", self.0)
    }
}

impl Reference {
    /// The reference as the protocol writes it.
    pub fn text(&self) -> String {
        match self {
            Reference::Tag(tag) => tag.clone(),
            Reference::Digest(digest) => digest.text(),
        }
    }
}

/// Reads a path below the upstream's prefix.
pub fn route(path: &str) -> Route {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [repository @ .., "tags", "list"] => {
            with_repository(repository, |repository| Route::Tags { repository })
        }
        [repository @ .., "manifests", reference] => {
            let Some(reference) = parse_reference(reference) else {
                return Route::Invalid(
                    "MANIFEST_INVALID",
                    format!(
                        "{reference:?} is neither a tag nor a sha256 digest (other digest algorithms are not served)"
                    ),
                );
            };
            with_repository(repository, |repository| Route::Manifest {
                repository,
                reference,
            })
        }
        [repository @ .., "blobs", digest] => match Sha256::parse(digest) {
            Some(digest) => {
                with_repository(repository, |repository| Route::Blob { repository, digest })
            }
            None => Route::Invalid(
                "DIGEST_INVALID",
                format!(
                    "{digest:?} is not a sha256 digest (other digest algorithms are not served)"
                ),
            ),
        },
        _ => Route::Invalid(
            "UNSUPPORTED",
            format!(
                "{path} is not a pull endpoint of the distribution API (manifests, blobs, tags/list)"
            ),
        ),
    }
}

fn with_repository(parts: &[&str], route: impl FnOnce(String) -> Route) -> Route {
    let repository = parts.join("/");
    if !parts.is_empty() && parts.iter().all(|part| valid_component(part)) {
        route(repository)
    } else {
        Route::Invalid(
            "NAME_INVALID",
            format!("{repository:?} is not a repository name"),
        )
    }
}

/// A path component of a repository name: lower-case letters and digits,
/// separated by `.`, `_` or dashes (the spec's `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`).
fn valid_component(part: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    alnum(first)
        && alnum(last)
        && bytes
            .iter()
            .all(|&b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        && !part.contains("..")
        && !part.contains("___")
}

fn parse_reference(text: &str) -> Option<Reference> {
    if text.contains(':') {
        return Sha256::parse(text).map(Reference::Digest);
    }
    let bytes = text.as_bytes();
    let tag = !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    tag.then(|| Reference::Tag(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn manifests_blobs_and_tags_of_nested_repositories() {
        assert_eq!(
            route("/library/alpine/manifests/3.20"),
            Route::Manifest {
                repository: "library/alpine".into(),
                reference: Reference::Tag("3.20".into()),
            }
        );
        assert_eq!(
            route(&format!("/clean/manifests/sha256:{HEX}")),
            Route::Manifest {
                repository: "clean".into(),
                reference: Reference::Digest(Sha256(HEX.into())),
            }
        );
        assert_eq!(
            route(&format!("/a/b/blobs/sha256:{HEX}")),
            Route::Blob {
                repository: "a/b".into(),
                digest: Sha256(HEX.into()),
            }
        );
        assert_eq!(
            route("/a/tags/list"),
            Route::Tags {
                repository: "a".into()
            }
        );
    }

    #[test]
    fn malformed_names_references_and_digests_are_refused() {
        for (path, code) in [
            ("/Upper/manifests/1", "NAME_INVALID"),
            ("/manifests/1", "NAME_INVALID"),
            ("/a/../b/manifests/1", "NAME_INVALID"),
            ("/a/manifests/.hidden", "MANIFEST_INVALID"),
            ("/a/manifests/sha512:00", "MANIFEST_INVALID"),
            ("/a/blobs/sha256:XYZ", "DIGEST_INVALID"),
            ("/a/blobs/uploads/", "UNSUPPORTED"),
            ("/a/referrers/x", "UNSUPPORTED"),
        ] {
            match route(path) {
                Route::Invalid(got, _) => assert_eq!(got, code, "{path}"),
                other => panic!("{path} was read as {other:?}"),
            }
        }
    }
}
