//! The request flow: route, fetch upstream, gate, answer.
//!
//! Everything the host provides goes through [`Host`], so the flow runs
//! natively in tests against a fake.

use gatehouse_adapter_sdk::{
    Action, ArtifactPlan, Digest, ErrorFormat, Failure, Fetched, Host, Outcome, Purpose, Request,
    Response, VersionFacts, decision_message, upstream_answer,
};

use crate::metadata;
use crate::route::{Coordinates, Route, Sibling, route};

/// Spelled as OSV spells it.
pub const ECOSYSTEM: &str = "Maven";

const TEXT: &str = "text/plain; charset=utf-8";
const XML: &str = "text/xml";

/// Answers one request.
pub fn handle(host: &impl Host, request: &Request) -> Outcome {
    serve(host, request).unwrap_or_else(Outcome::from)
}

fn serve(host: &impl Host, request: &Request) -> Result<Outcome, Failure> {
    if let Some(refusal) = request.refuse_writes("this Maven repository") {
        return Ok(refusal.into());
    }
    match route(&request.path) {
        Route::Metadata {
            coordinates,
            sibling,
        } => Ok(metadata_file(host, &coordinates, sibling)?.into()),
        Route::File {
            coordinates,
            version,
            file,
            sibling: None,
        } => version_file(host, &coordinates, &version, &file),
        Route::File {
            coordinates,
            version,
            file,
            sibling: Some(sibling),
        } => Ok(sibling_file(host, &coordinates, &version, &file, sibling)?.into()),
        Route::Invalid(message) => Err(Failure::new(404, message)),
    }
}

fn facts(coordinates: &Coordinates, version: &str) -> VersionFacts {
    VersionFacts::named(ECOSYSTEM, &coordinates.name(), version)
}

fn base_url(host: &impl Host, coordinates: &Coordinates) -> String {
    format!(
        "{}/{}",
        host.upstream_base().trim_end_matches('/'),
        coordinates.dir()
    )
}

/// Upstream's 2xx answer for `url`; its 404 is the client's 404.
fn fetch(host: &impl Host, url: &str) -> Result<Fetched, Failure> {
    upstream_answer(url, host.fetch(url, None), |status| {
        Failure::new(status, format!("{url} is not in the upstream repository"))
    })
}

/// `maven-metadata.xml` without the blocked versions, or a checksum of it.
fn metadata_file(
    host: &impl Host,
    coordinates: &Coordinates,
    sibling: Option<Sibling>,
) -> Result<Response, Failure> {
    let url = format!("{}/maven-metadata.xml", base_url(host, coordinates));
    let fetched = fetch(host, &url)?;
    let text = String::from_utf8(fetched.body)
        .map_err(|_| Failure::new(502, format!("{url}: not UTF-8 text")))?;
    let upstream = metadata::parse(&text).map_err(|e| Failure::new(502, format!("{url}: {e}")))?;
    let all: Vec<VersionFacts> = upstream
        .versions
        .iter()
        .map(|version| facts(coordinates, version))
        .collect();
    let decisions = host.gate(Purpose::Metadata, &all)?;
    let allowed: Vec<&str> = upstream
        .versions
        .iter()
        .zip(&decisions)
        .filter(|(_, decision)| decision.action != Action::Block)
        .map(|(version, _)| version.as_str())
        .collect();
    let xml = metadata::render(&upstream, &allowed);
    match sibling {
        None => Ok(Response::new(200, XML, xml)),
        Some(sibling) => match metadata::checksum(sibling, xml.as_bytes()) {
            Some(sum) => Ok(Response::new(200, TEXT, sum)),
            None => Err(Failure::new(
                404,
                "gatehouse rewrites maven-metadata.xml, so upstream's signature of it does not apply",
            )),
        },
    }
}

/// A checksum or signature of a version's file: upstream's, once the
/// version passes the gate.
fn sibling_file(
    host: &impl Host,
    coordinates: &Coordinates,
    version: &str,
    file: &str,
    sibling: Sibling,
) -> Result<Response, Failure> {
    let decision = host
        .gate(Purpose::Artifact, &[facts(coordinates, version)])?
        .remove(0);
    if decision.action == Action::Block {
        return Err(Failure::new(403, decision_message(&decision)));
    }
    let url = format!(
        "{}/{version}/{file}.{}",
        base_url(host, coordinates),
        sibling.extension()
    );
    Ok(Response::new(200, TEXT, fetch(host, &url)?.body))
}

/// A version's file: an artifact plan the host gates, fetches and checks
/// against the digests upstream's checksum siblings declare.
fn version_file(
    host: &impl Host,
    coordinates: &Coordinates,
    version: &str,
    file: &str,
) -> Result<Outcome, Failure> {
    let url = format!("{}/{version}/{file}", base_url(host, coordinates));
    let mut digests = Vec::new();
    for sibling in [Sibling::Sha512, Sibling::Sha256, Sibling::Sha1] {
        let sum_url = format!("{url}.{}", sibling.extension());
        match host.fetch(&sum_url, None) {
            Ok(fetched) if fetched.status == 200 => {
                let text = String::from_utf8_lossy(&fetched.body);
                let hex = text
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                digests.push(Digest {
                    algorithm: sibling.extension().into(),
                    hex,
                });
            }
            Ok(_) => {}
            Err(error) => return Err(Failure::fetch(&sum_url, error)),
        }
    }
    if digests.is_empty() {
        // Not an upstream file at all, or one gatehouse cannot verify: tell which.
        fetch(host, &format!("{url}.sha1"))?;
    }
    let content_type = match file.rsplit('.').next() {
        Some("jar") => "application/java-archive",
        Some("pom" | "xml") => XML,
        _ => "application/octet-stream",
    };
    Ok(Outcome::Artifact(ArtifactPlan {
        url,
        facts: facts(coordinates, version),
        digests,
        content_type: content_type.into(),
        error_format: ErrorFormat::Text,
    }))
}
