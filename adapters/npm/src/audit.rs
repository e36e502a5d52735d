//! `npm audit`: the bulk advisories endpoint answered from the host's OSV mirror.
//!
//! npm posts `{"name": ["1.0.0", ...], ...}` (the host has already undone its
//! gzip) and reads back, per package, the advisories that affect any of the
//! posted versions, each with `vulnerable_versions` as an npm range so that npm
//! itself can tell which installed copies are affected.

use std::collections::BTreeMap;

use gatehouse_adapter_sdk::osv::{Interval, PackageAdvisory, Severity};
use serde_json::{Value, json};

/// The posted packages and versions.
pub type BulkRequest = BTreeMap<String, Vec<String>>;

/// Reads npm's request body.
pub fn parse_request(body: &[u8]) -> Result<BulkRequest, String> {
    serde_json::from_slice(body).map_err(|e| {
        format!("npm audit's request must be a JSON object of package names to version lists: {e}")
    })
}

/// One package's entries of the answer: the advisories affecting any of
/// `versions`, in npm's bulk advisory shape. `advisory_url` turns an id into
/// the `url` npm prints (`{id}` is replaced); without it the id is printed.
pub fn package_report(
    versions: &[String],
    advisories: &[PackageAdvisory],
    advisory_url: Option<&str>,
) -> Vec<Value> {
    advisories
        .iter()
        // An entry with neither a range nor a listed version (its ranges were
        // all of kinds the mirror cannot match) affects nothing, as at the gate.
        .filter(|entry| !entry.intervals.is_empty() || !entry.versions.is_empty())
        .filter_map(|entry| {
            let range = vulnerable_range(entry);
            let affects_any = versions.iter().any(|v| affects(entry, &range, v));
            affects_any.then(|| {
                let advisory = &entry.advisory;
                let url = advisory_url
                    .map(|template| template.replace("{id}", &advisory.id))
                    .unwrap_or_else(|| advisory.id.clone());
                let title = if advisory.summary.is_empty() {
                    advisory.id.clone()
                } else {
                    advisory.summary.clone()
                };
                json!({
                    "id": advisory.id,
                    "url": url,
                    "title": title,
                    "severity": severity(advisory.severity, advisory.malicious),
                    "vulnerable_versions": range,
                    "cwe": [],
                    "cvss": { "score": advisory.score.unwrap_or(0.0), "vectorString": null },
                })
            })
        })
        .collect()
}

/// npm's words; an advisory without a rating reads as `moderate` (not `info`,
/// which default audit levels would pass over), a malicious one as `critical`.
fn severity(severity: Severity, malicious: bool) -> &'static str {
    match severity {
        _ if malicious => "critical",
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium | Severity::Unknown => "moderate",
        Severity::Low => "low",
    }
}

/// Whether `version` is affected: listed by the record, or inside its range,
/// pre-releases included (npm tests `vulnerable_versions` so, and an advisory
/// left out here never reaches it).
fn affects(entry: &PackageAdvisory, range: &str, version: &str) -> bool {
    entry.versions.iter().any(|listed| listed == version)
        || gatehouse_versions::satisfies_including_prereleases("npm", version, range)
            .unwrap_or(false)
}

/// The affected stretches and listed versions as one npm range (`||` between them).
pub fn vulnerable_range(entry: &PackageAdvisory) -> String {
    let parts: Vec<String> = entry
        .intervals
        .iter()
        .map(interval_range)
        .chain(entry.versions.iter().cloned())
        .collect();
    if parts.is_empty() {
        "*".to_owned()
    } else {
        parts.join(" || ")
    }
}

fn interval_range(interval: &Interval) -> String {
    let lower = interval
        .introduced
        .as_deref()
        .filter(|v| *v != "0")
        .map(|v| format!(">={v}"));
    let upper = match (&interval.fixed, &interval.last_affected) {
        (Some(fixed), _) => Some(format!("<{fixed}")),
        (None, Some(last)) => Some(format!("<={last}")),
        (None, None) => None,
    };
    match (lower, upper) {
        (Some(lower), Some(upper)) => format!("{lower} {upper}"),
        (Some(bound), None) | (None, Some(bound)) => bound,
        (None, None) => "*".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_adapter_sdk::osv::Advisory;

    fn entry(intervals: Vec<Interval>, versions: Vec<&str>) -> PackageAdvisory {
        PackageAdvisory {
            advisory: Advisory {
                id: "GHSA-test-0001".into(),
                aliases: vec![],
                summary: "Prototype pollution".into(),
                malicious: false,
                score: Some(7.5),
                severity: Severity::High,
                fixed: vec![],
                modified: 0,
            },
            intervals,
            versions: versions.into_iter().map(String::from).collect(),
        }
    }

    fn interval(introduced: Option<&str>, fixed: Option<&str>, last: Option<&str>) -> Interval {
        Interval {
            introduced: introduced.map(String::from),
            fixed: fixed.map(String::from),
            last_affected: last.map(String::from),
        }
    }

    #[test]
    fn ranges_are_written_as_npm_reads_them() {
        let e = entry(
            vec![
                interval(Some("0"), Some("1.2.3"), None),
                interval(Some("2.0.0"), None, Some("2.1.0")),
                interval(Some("3.0.0"), None, None),
            ],
            vec!["0.0.1-beta"],
        );
        assert_eq!(
            vulnerable_range(&e),
            "<1.2.3 || >=2.0.0 <=2.1.0 || >=3.0.0 || 0.0.1-beta"
        );
        assert_eq!(
            vulnerable_range(&entry(vec![interval(Some("0"), None, None)], vec![])),
            "*"
        );
    }

    #[test]
    fn an_advisory_without_ranges_or_versions_affects_nothing() {
        assert!(package_report(&["1.0.0".into()], &[entry(vec![], vec![])], None).is_empty());
    }

    #[test]
    fn only_advisories_affecting_a_posted_version_are_reported() {
        let advisories = [entry(vec![interval(None, Some("1.2.3"), None)], vec![])];
        let hit = package_report(&["1.0.0".into(), "2.0.0".into()], &advisories, None);
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0]["vulnerable_versions"], "<1.2.3");
        assert_eq!(hit[0]["severity"], "high");
        assert_eq!(hit[0]["url"], "GHSA-test-0001");
        let miss = package_report(
            &["1.2.3".into()],
            &advisories,
            Some("https://advisories.example/{id}"),
        );
        assert!(miss.is_empty());
        let linked = package_report(
            &["0.1.0".into()],
            &advisories,
            Some("https://advisories.example/{id}"),
        );
        assert_eq!(
            linked[0]["url"],
            "https://advisories.example/GHSA-test-0001"
        );
    }

    #[test]
    fn an_installed_prerelease_inside_the_range_is_affected() {
        let advisories = [entry(
            vec![interval(Some("1.0.0"), Some("1.2.3"), None)],
            vec![],
        )];
        let hit = package_report(&["1.2.3-rc.1".into()], &advisories, None);
        assert_eq!(hit.len(), 1);
        assert!(package_report(&["1.2.4-rc.1".into()], &advisories, None).is_empty());
    }

    #[test]
    fn a_bad_body_is_a_clear_error() {
        assert!(
            parse_request(b"[1,2]")
                .unwrap_err()
                .contains("package names")
        );
        assert_eq!(
            parse_request(br#"{"a":["1.0.0"]}"#).unwrap()["a"],
            vec!["1.0.0".to_string()]
        );
    }
}
