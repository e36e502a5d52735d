//! The request flow: route, fetch and verify upstream, gate, answer or plan.
//!
//! Manifests are small documents the adapter verifies itself (by the digest
//! it was asked for, or by upstream's `Docker-Content-Digest` for a tag)
//! and answers after the gate judged every image they stand for; blobs are
//! artifact plans the host fetches, verifies, stores and serves.
//! Everything the host provides goes through [`Host`], so the whole flow
//! runs natively in tests against a fake.

use std::collections::BTreeMap;

use gatehouse_adapter_sdk::{
    Action, ArtifactPlan, Dependency, Digest, ErrorFormat, Fetched, Host, Outcome, Purpose,
    Request, Response, VersionFacts, decision_message,
};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use sha2::Digest as _;

use crate::error::OciError;
use crate::facts::{ECOSYSTEM, Image, is_image_config};
use crate::media::{self, Kind};
use crate::packages;
use crate::route::{Reference, Route, Sha256, route};

/// At most this many platforms of one index are judged; a larger index is refused.
const MAX_PLATFORMS: usize = 64;

/// Answers one request.
pub fn handle(host: &impl Host, request: &Request) -> Outcome {
    serve(host, request).unwrap_or_else(Outcome::from)
}

fn serve(host: &impl Host, request: &Request) -> Result<Outcome, OciError> {
    if !matches!(request.method.as_str(), "GET" | "HEAD") {
        return Err(OciError::new(
            405,
            "UNSUPPORTED",
            "this registry is a read-only pull-through proxy: pushes and deletes are refused",
        ));
    }
    match route(&request.path) {
        Route::Manifest {
            repository,
            reference,
        } => manifest(host, request, &repository, &reference),
        Route::Blob { repository, digest } => {
            Ok(Outcome::Artifact(blob(host, &repository, &digest)))
        }
        Route::Tags { repository } => tags(host, request, &repository),
        Route::Invalid(code, message) => Err(OciError::new(
            if code == "UNSUPPORTED" { 404 } else { 400 },
            code,
            message,
        )),
    }
}

fn base(host: &impl Host) -> String {
    host.upstream_base().trim_end_matches('/').to_owned()
}

fn sha256_digest(digest: &Sha256) -> Digest {
    Digest {
        algorithm: "sha256".into(),
        hex: digest.0.clone(),
    }
}

/// A blob: the host fetches it from the upstream repository and serves it
/// once its bytes match the digest it is named by.
fn blob(host: &impl Host, repository: &str, digest: &Sha256) -> ArtifactPlan {
    let facts = VersionFacts {
        digests: vec![sha256_digest(digest)],
        ..VersionFacts::named(ECOSYSTEM, repository, &digest.text())
    };
    ArtifactPlan {
        url: format!("{}/v2/{repository}/blobs/{}", base(host), digest.text()),
        digests: facts.digests.clone(),
        facts,
        content_type: "application/octet-stream".into(),
        error_format: ErrorFormat::Json,
    }
}

/// The repository's tags as upstream lists them (one page: upstream's
/// `Link` would point past this adapter's prefix).
fn tags(host: &impl Host, request: &Request, repository: &str) -> Result<Outcome, OciError> {
    let mut url = format!("{}/v2/{repository}/tags/list", base(host));
    if let Some(query) = &request.query {
        url.push('?');
        url.push_str(query);
    }
    let fetched = get(host, &url, None, "NAME_UNKNOWN", repository)?;
    let listed: serde_json::Value = serde_json::from_slice(&fetched.body)
        .ok()
        .filter(|list: &serde_json::Value| list["tags"].is_array() || list["tags"].is_null())
        .ok_or_else(|| OciError::upstream(format!("{url}: not a tag list")))?;
    let body = serde_json::json!({"name": repository, "tags": listed["tags"]});
    Ok(Response::new(200, "application/json", body.to_string()).into())
}

/// GETs `url` from upstream; a 404 is `missing` (the spec's code) for `what`.
fn get(
    host: &impl Host,
    url: &str,
    accept: Option<&str>,
    missing: &'static str,
    what: &str,
) -> Result<Fetched, OciError> {
    let fetched = host
        .fetch(url, accept)
        .map_err(|error| OciError::fetch(url, error))?;
    match fetched.status {
        200..=299 => Ok(fetched),
        404 => Err(OciError::new(
            404,
            missing,
            format!("{what} is not known upstream"),
        )),
        status @ (401 | 403) => Err(OciError::upstream(format!(
            "{url}: upstream refused access (HTTP {status}); check the credentials configured for this upstream"
        ))),
        status => Err(OciError::upstream(format!(
            "{url}: upstream answered HTTP {status}"
        ))),
    }
}

/// Refuses `body` unless its sha256 is `expected`.
fn verify(url: &str, body: &[u8], expected: &Sha256) -> Result<(), OciError> {
    let actual = Sha256(hex::encode(sha2::Sha256::digest(body)));
    if actual == *expected {
        return Ok(());
    }
    Err(OciError::upstream(format!(
        "{url}: upstream sent content with digest {}, not the {} it was asked for or declared; refused",
        actual.text(),
        expected.text()
    )))
}

/// A manifest document as upstream sent it, verified.
struct Document {
    body: Vec<u8>,
    media_type: String,
    kind: Kind,
    digest: Sha256,
}

/// Fetches a manifest, its type one of `accept`, and verifies it: by the
/// digest it is asked by, or by the `Docker-Content-Digest` upstream
/// declares for a tag (none declared: refused, as nothing vouches for it).
fn fetch_manifest(
    host: &impl Host,
    repository: &str,
    reference: &Reference,
    accept: &str,
) -> Result<Document, OciError> {
    let url = format!(
        "{}/v2/{repository}/manifests/{}",
        base(host),
        reference.text()
    );
    let what = format!("manifest {repository}:{}", reference.text());
    let fetched = get(host, &url, Some(accept), "MANIFEST_UNKNOWN", &what)?;
    let (media_type, kind) = media::of_upstream(fetched.header("content-type"), &fetched.body)?;
    let digest = match reference {
        Reference::Digest(digest) => digest.clone(),
        Reference::Tag(_) => fetched
            .header("docker-content-digest")
            .and_then(Sha256::parse)
            .ok_or_else(|| {
                OciError::upstream(format!(
                    "{url}: upstream declared no sha256 Docker-Content-Digest for the tag, so the manifest cannot be verified; refused"
                ))
            })?,
    };
    verify(&url, &fetched.body, &digest)?;
    Ok(Document {
        body: fetched.body,
        media_type,
        kind,
        digest,
    })
}

/// A manifest or an index, answered only when the gate allows every image
/// it stands for (each platform of an index).
fn manifest(
    host: &impl Host,
    request: &Request,
    repository: &str,
    reference: &Reference,
) -> Result<Outcome, OciError> {
    let accepted: Vec<&str> = request
        .headers
        .iter()
        .filter(|(name, _)| name == "accept")
        .map(|(_, value)| value.as_str())
        .collect();
    let accept = media::negotiate(&accepted)?;
    let document = fetch_manifest(host, repository, reference, &accept)?;
    let version = reference.text();
    let images = match document.kind {
        Kind::Image => vec![image_facts(host, repository, &version, &document, None)?],
        Kind::Index => platform_facts(host, repository, &version, &document)?,
    };
    let decisions = host.gate(Purpose::Artifact, &images)?;
    let mut refusals: Vec<String> = decisions
        .iter()
        .filter(|decision| decision.action == Action::Block)
        .map(decision_message)
        .collect();
    refusals.dedup();
    if !refusals.is_empty() {
        return Err(OciError::denied(refusals.join("; ")));
    }
    let response = Response::new(200, &document.media_type, document.body)
        .with_header("docker-content-digest", document.digest.text())
        .with_header("vary", "accept");
    Ok(response.into())
}

/// The facts of every platform's image of an index.
fn platform_facts(
    host: &impl Host,
    repository: &str,
    version: &str,
    index: &Document,
) -> Result<Vec<VersionFacts>, OciError> {
    let parsed: ImageIndex = serde_json::from_slice(&index.body).map_err(|e| {
        OciError::upstream(format!(
            "the index {repository}@{} does not parse: {e}",
            index.digest.text()
        ))
    })?;
    if parsed.manifests().len() > MAX_PLATFORMS {
        return Err(OciError::upstream(format!(
            "the index {repository}@{} lists {} manifests; at most {MAX_PLATFORMS} are judged",
            index.digest.text(),
            parsed.manifests().len()
        )));
    }
    let images: Vec<String> = media::served()
        .into_iter()
        .filter(|(_, kind)| *kind == Kind::Image)
        .map(|(media_type, _)| media_type)
        .collect();
    let accept = images.join(", ");
    parsed
        .manifests()
        .iter()
        .map(|descriptor| {
            let digest = Sha256::parse(descriptor.digest().as_ref()).ok_or_else(|| {
                OciError::upstream(format!(
                    "the index {repository}@{} names {}, not a sha256 digest",
                    index.digest.text(),
                    descriptor.digest()
                ))
            })?;
            let child = fetch_manifest(host, repository, &Reference::Digest(digest), &accept)?;
            let platform = descriptor.platform().as_ref().map(|platform| {
                let mut text = format!("{}/{}", platform.os(), platform.architecture());
                if let Some(variant) = platform.variant() {
                    text = format!("{text}/{variant}");
                }
                text
            });
            image_facts(host, repository, version, &child, platform)
        })
        .collect()
}

/// The facts of one image manifest, with what its config says.
fn image_facts(
    host: &impl Host,
    repository: &str,
    version: &str,
    document: &Document,
    platform: Option<String>,
) -> Result<VersionFacts, OciError> {
    let what = format!("the manifest {repository}@{}", document.digest.text());
    let manifest: ImageManifest = serde_json::from_slice(&document.body)
        .map_err(|e| OciError::upstream(format!("{what} does not parse: {e}")))?;
    let config = if is_image_config(manifest.config()) {
        let named = manifest.config().digest().to_string();
        let digest = Sha256::parse(&named).ok_or_else(|| {
            OciError::upstream(format!(
                "{what} names the config {named}, not a sha256 digest"
            ))
        })?;
        let url = format!("{}/v2/{repository}/blobs/{named}", base(host));
        let fetched = get(host, &url, None, "MANIFEST_BLOB_UNKNOWN", &named)?;
        verify(&url, &fetched.body, &digest)?;
        let parsed: ImageConfiguration = serde_json::from_slice(&fetched.body)
            .map_err(|e| OciError::upstream(format!("the config of {what} does not parse: {e}")))?;
        Some(parsed)
    } else {
        None
    };
    Ok(Image {
        repository,
        version,
        digest: &document.digest,
        manifest: &manifest,
        config: config.as_ref(),
        platform,
        os_packages: os_packages(host, repository, &manifest)?,
    }
    .facts())
}

/// Layer types the host reads (tar, plain or gzip-compressed).
const TAR_LAYERS: [&str; 3] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// The image's OS packages, from the package databases in its layers as a
/// container sees them (a later layer's file replaces an earlier one's).
/// The host fetches and reads each layer, verified against its digest.
fn os_packages(
    host: &impl Host,
    repository: &str,
    manifest: &ImageManifest,
) -> Result<Vec<Dependency>, OciError> {
    let paths: Vec<String> = packages::PATHS.iter().map(|p| (*p).to_owned()).collect();
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for layer in manifest.layers() {
        if !TAR_LAYERS.contains(&layer.media_type().as_ref()) {
            continue;
        }
        let named = layer.digest().to_string();
        let digest = Sha256::parse(&named).ok_or_else(|| {
            OciError::upstream(format!(
                "the layer {named} of {repository} is not named by a sha256 digest"
            ))
        })?;
        let url = format!("{}/v2/{repository}/blobs/{named}", base(host));
        let files = host
            .layer_files(&url, &sha256_digest(&digest), &paths)
            .map_err(|error| OciError::fetch(&url, error))?;
        for file in files {
            seen.insert(file.path, file.contents);
        }
    }
    let text = |path: &str| seen.get(path).map(|bytes| String::from_utf8_lossy(bytes));
    let Some(ecosystem) = text("etc/os-release")
        .or_else(|| text("usr/lib/os-release"))
        .and_then(|release| packages::ecosystem(&release))
    else {
        return Ok(Vec::new());
    };
    let mut installed = Vec::new();
    if let Some(status) = text("var/lib/dpkg/status") {
        installed.extend(packages::dpkg(&status));
    }
    if let Some(database) = text("lib/apk/db/installed") {
        installed.extend(packages::apk(&database));
    }
    Ok(packages::dependencies(&ecosystem, installed))
}
