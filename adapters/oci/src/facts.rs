//! An image's facts for the policies: per image manifest (each platform of
//! an index), ecosystem `oci`, the repository as the name, the tag (or the
//! digest, pulled by digest) as the version, the manifest's digest, the
//! config's `created` as the publish time, the
//! `org.opencontainers.image.licenses` label as the license, the image's
//! size, its platform and labels in `raw`, and its OS packages as
//! dependencies (kind: their OSV ecosystem, requirement: the installed version).

use std::collections::HashMap;

use gatehouse_adapter_sdk::{Dependency, Digest, VersionFacts};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest, MediaType};

use crate::route::Sha256;

/// The ecosystem images are judged in.
pub const ECOSYSTEM: &str = "oci";

/// The label naming an image's license (an SPDX expression).
const LICENSE_LABEL: &str = "org.opencontainers.image.licenses";

/// Config types that are an image's runtime configuration (others, such as
/// attestations', say nothing of the image).
const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// Whether `config` describes an image's runtime configuration.
pub fn is_image_config(config: &Descriptor) -> bool {
    let media_type = config.media_type();
    *media_type == MediaType::ImageConfig || IMAGE_CONFIGS.contains(&media_type.as_ref())
}

/// One image manifest, read.
pub struct Image<'a> {
    pub repository: &'a str,
    /// The tag, or the digest text when pulled by digest.
    pub version: &'a str,
    pub digest: &'a Sha256,
    pub manifest: &'a ImageManifest,
    /// Its config, when it is an image's runtime configuration.
    pub config: Option<&'a ImageConfiguration>,
    /// `os/architecture[/variant]`, from the index or the config.
    pub platform: Option<String>,
    /// Its OS packages, their kind their OSV ecosystem.
    pub os_packages: Vec<Dependency>,
}

impl Image<'_> {
    pub fn facts(&self) -> VersionFacts {
        let labels: HashMap<String, String> = self
            .config
            .and_then(|config| config.labels_of_config())
            .cloned()
            .unwrap_or_default();
        let created = self.config.and_then(|config| config.created().clone());
        let platform = self.platform.clone().or_else(|| {
            self.config
                .map(|config| format!("{}/{}", config.os(), config.architecture()))
        });
        let size = self
            .manifest
            .layers()
            .iter()
            .map(Descriptor::size)
            .sum::<u64>()
            + self.manifest.config().size();
        let labels_json: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into()))
            .collect();
        let raw = serde_json::json!({
            "digest": self.digest.text(),
            "platform": platform,
            "created": created,
            "labels": labels_json,
        });
        VersionFacts {
            published: created
                .as_deref()
                .and_then(|text| text.parse::<jiff::Timestamp>().ok())
                .map(|at| at.as_second()),
            license: labels.get(LICENSE_LABEL).cloned(),
            size: Some(size),
            digests: vec![Digest {
                algorithm: "sha256".into(),
                hex: self.digest.0.clone(),
            }],
            raw: raw.to_string(),
            dependencies: self.os_packages.clone(),
            ..VersionFacts::named(ECOSYSTEM, self.repository, self.version)
        }
    }
}
