//! The OCI adapter: manifests and image indexes as upstream sends them, and
//! request paths.
//!
//! Invariants: a manifest is answered 200 only with upstream's bytes, byte
//! for byte, under the `Docker-Content-Digest` of exactly those bytes; a
//! blob is an artifact plan naming the sha256 it was asked by; an error
//! answer is the distribution spec's error document.

use arbitrary::Unstructured;
use gatehouse_adapter_sdk::{Outcome, Response};
use sha2::{Digest as _, Sha256};

use crate::fake::{FakeHost, get};

/// The content types upstream is made to send.
const TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
    "text/html",
];

pub fn request(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let content_type = *u.choose(TYPES).unwrap_or(&TYPES[0]);
    let raw_path = u.arbitrary::<bool>().unwrap_or(false);
    let path = raw_path.then(|| format!("/{}", u.arbitrary::<&str>().unwrap_or_default()));
    let body = u.take_rest().to_vec();
    let digest = format!("sha256:{}", hex(&body));
    let mut host = FakeHost::new(Default::default());
    host.answer(
        &format!("/v2/app/manifests/{digest}"),
        content_type,
        body.clone(),
    );
    let path = path.unwrap_or_else(|| format!("/app/manifests/{digest}"));
    match oci::handle(&host, &get(&path, &[])) {
        Outcome::Respond(response) if response.status == 200 => {
            assert_eq!(response.body, body, "{path}: not upstream's bytes");
            assert_eq!(
                header(&response, "docker-content-digest"),
                Some(format!("sha256:{}", hex(&response.body)).as_str()),
                "{path}: the digest is not the body's"
            );
        }
        Outcome::Respond(response) => {
            let document: serde_json::Value =
                serde_json::from_slice(&response.body).expect("an error document");
            assert!(
                document["errors"][0]["code"].is_string(),
                "{path}: {document}"
            );
        }
        Outcome::Artifact(plan) => {
            let asked = path.rsplit("sha256:").next().unwrap_or_default();
            assert!(
                plan.digests
                    .iter()
                    .any(|d| d.algorithm == "sha256" && d.hex == asked),
                "{path}: the plan names other digests"
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
