//! Manifest media types: the OCI and Docker schema 2 types this adapter
//! serves, what a client's `Accept` asks of them, and refusing Docker's
//! schema 1, whose manifests carry no content digests to verify.

use oci_spec::image::{MediaType, ToDockerV2S2};

use crate::error::OciError;

/// Docker's schema 1 types, never served.
const SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// What a manifest document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One image: a config and layers.
    Image,
    /// An image index (a Docker manifest list): one image per platform.
    Index,
}

/// The four manifest types served, image types first.
pub fn served() -> [(String, Kind); 4] {
    let docker = |media: MediaType| {
        media
            .to_docker_v2s2()
            .map(str::to_owned)
            .unwrap_or_default()
    };
    [
        (MediaType::ImageManifest.to_string(), Kind::Image),
        (docker(MediaType::ImageManifest), Kind::Image),
        (MediaType::ImageIndex.to_string(), Kind::Index),
        (docker(MediaType::ImageIndex), Kind::Index),
    ]
}

/// The kind of a served manifest type; `None` for any other type.
pub fn kind(media_type: &str) -> Option<Kind> {
    served()
        .into_iter()
        .find(|(served, _)| served == media_type)
        .map(|(_, kind)| kind)
}

/// The types to ask upstream for, as an `Accept` value: those of `accept`
/// (every `Accept` header the client sent) that are served, all of them
/// when the client named none or `*/*`. Schema 1 alone is refused.
pub fn negotiate(accept: &[&str]) -> Result<String, OciError> {
    let asked: Vec<&str> = accept
        .iter()
        .flat_map(|value| value.split(','))
        .map(|item| item.split(';').next().unwrap_or("").trim())
        .filter(|item| !item.is_empty())
        .collect();
    let everything = asked.is_empty() || asked.iter().any(|item| matches!(*item, "*/*"));
    let served: Vec<String> = served()
        .into_iter()
        .map(|(media_type, _)| media_type)
        .filter(|media_type| everything || asked.contains(&media_type.as_str()))
        .collect();
    if !served.is_empty() {
        return Ok(served.join(", "));
    }
    if asked.iter().any(|item| SCHEMA1.contains(item)) {
        return Err(schema1());
    }
    Err(OciError::new(
        404,
        "MANIFEST_UNKNOWN",
        format!(
            "none of the accepted media types ({}) is served: only OCI and Docker schema 2 manifests and indexes",
            asked.join(", ")
        ),
    ))
}

/// The type of a manifest upstream sent: its `Content-Type`, else the
/// document's own `mediaType`.
pub fn of_upstream(content_type: Option<&str>, body: &[u8]) -> Result<(String, Kind), OciError> {
    let declared = content_type
        .map(|value| value.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|value| !value.is_empty() && value != "application/json");
    let media_type = match declared {
        Some(media_type) => media_type,
        None => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|document| document["mediaType"].as_str().map(str::to_owned))
            .unwrap_or_default(),
    };
    if SCHEMA1.contains(&media_type.as_str()) {
        return Err(schema1());
    }
    match kind(&media_type) {
        Some(kind) => Ok((media_type, kind)),
        None => Err(OciError::new(
            415,
            "MANIFEST_INVALID",
            format!(
                "upstream sent a manifest of type {media_type:?}; only OCI and Docker schema 2 manifests and indexes are served"
            ),
        )),
    }
}

fn schema1() -> OciError {
    OciError::new(
        415,
        "UNSUPPORTED",
        "Docker schema 1 manifests are not served: they declare no content digests that gatehouse could verify; pull with a client that accepts schema 2 or OCI manifests",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

    #[test]
    fn the_clients_accepted_types_are_asked_for() {
        assert_eq!(
            negotiate(&[&format!("{OCI_MANIFEST}, {}", SCHEMA1[0]), DOCKER_LIST]),
            Ok(format!("{OCI_MANIFEST}, {DOCKER_LIST}"))
        );
        let all = negotiate(&[]).expect("everything");
        assert_eq!(all.split(", ").count(), 4);
        assert_eq!(negotiate(&["*/*"]), Ok(all));
    }

    #[test]
    fn schema_1_is_refused_saying_so() {
        let refused = negotiate(&[SCHEMA1[1]]).expect_err("schema 1 only");
        assert_eq!(refused.code, "UNSUPPORTED");
        assert!(refused.message.contains("schema 1"), "{}", refused.message);
        let sent = of_upstream(Some(SCHEMA1[0]), b"{}").expect_err("schema 1 sent");
        assert_eq!(sent.code, "UNSUPPORTED");
        assert_eq!(negotiate(&["text/html"]).expect_err("none").status, 404);
    }

    #[test]
    fn the_type_comes_from_the_header_or_the_document() {
        assert_eq!(
            of_upstream(Some(&format!("{DOCKER_LIST}; charset=utf-8")), b"{}"),
            Ok((DOCKER_LIST.to_owned(), Kind::Index))
        );
        let body = format!(r#"{{"mediaType":"{OCI_MANIFEST}"}}"#);
        assert_eq!(
            of_upstream(Some("application/json"), body.as_bytes()),
            Ok((OCI_MANIFEST.to_owned(), Kind::Image))
        );
        assert_eq!(of_upstream(None, b"{}").expect_err("untyped").status, 415);
    }
}
