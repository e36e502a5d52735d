//! Downloads: the URLs this adapter writes into pages, and how a request for
//! one becomes an artifact plan built only from the upstream page.

use gatehouse_adapter_sdk::{ArtifactPlan, ErrorFormat, Failure};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::filename::version_of;
use crate::page::{ProjectPage, verifiable_digests};
use crate::release::{Release, file_facts};
use crate::route::FILES_PREFIX;

/// Everything but RFC 3986's unreserved characters is escaped in a filename.
const FILENAME_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// PEP 658: a distribution's core metadata lives at its URL plus this suffix.
const METADATA_SUFFIX: &str = ".metadata";

/// Where clients download `filename` of `project` through this adapter.
pub fn file_url(public_base: &str, project: &str, filename: &str) -> String {
    let filename = utf8_percent_encode(filename, FILENAME_ESCAPES);
    format!("{public_base}{FILES_PREFIX}{project}/{filename}")
}

/// The artifact behind `filename` (a distribution, or its `.metadata`) as the
/// upstream `page` declares it: its URL, its digests and its version's facts.
pub fn plan(page: &ProjectPage, filename: &str) -> Result<ArtifactPlan, Failure> {
    let not_found = || {
        Failure::new(
            404,
            format!("{} has no file named {filename} upstream", page.name),
        )
    };
    let find = |name: &str| page.files.iter().find(|file| file.filename == name);
    let (file, wants_metadata) = match find(filename) {
        Some(file) => (file, false),
        None => filename
            .strip_suffix(METADATA_SUFFIX)
            .and_then(find)
            .map(|file| (file, true))
            .ok_or_else(not_found)?,
    };
    let version = version_of(&file.filename, &page.name).ok_or_else(not_found)?;
    let release = Release {
        files: page
            .files
            .iter()
            .filter(|f| version_of(&f.filename, &page.name).as_ref() == Some(&version))
            .collect(),
        version,
    };
    let facts = file_facts(&page.name, &release, file);
    let (url, hashes, content_type) = if wants_metadata {
        let hashes = file.core_metadata.as_ref().ok_or_else(not_found)?;
        (
            format!("{}{METADATA_SUFFIX}", file.url),
            hashes,
            "text/plain; charset=utf-8",
        )
    } else {
        (file.url.clone(), &file.hashes, "application/octet-stream")
    };
    let digests = verifiable_digests(hashes);
    if digests.is_empty() {
        return Err(Failure::new(
            502,
            format!("upstream declares no sha256 for {filename}; refusing to serve it unverified"),
        ));
    }
    Ok(ArtifactPlan {
        url,
        facts,
        digests,
        content_type: content_type.into(),
        error_format: ErrorFormat::Text,
    })
}
