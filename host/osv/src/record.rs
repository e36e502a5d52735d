//! Reading one OSV record (JSON) into what the mirror stores: the advisory's
//! own fields (score, label, summary…) and one [`PackageEntry`] per affected
//! (ecosystem, normalised name), ranges already sorted into intervals.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::matching::{self, Event, PackageEntry};
use crate::version::Scheme;
use crate::{Severity, normalize_name, severity};

/// Longest summary kept when it has to be cut from `details`.
const SUMMARY_MAX: usize = 200;

#[derive(Deserialize)]
struct RawRecord {
    id: Option<String>,
    modified: Option<String>,
    withdrawn: Option<String>,
    aliases: Option<Vec<String>>,
    summary: Option<String>,
    details: Option<String>,
    severity: Option<Vec<RawSeverity>>,
    affected: Option<Vec<RawAffected>>,
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type")]
    kind: Option<String>,
    score: Option<String>,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    ranges: Option<Vec<RawRange>>,
    versions: Option<Vec<String>>,
    severity: Option<Vec<RawSeverity>>,
    ecosystem_specific: Option<Value>,
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: Option<String>,
    events: Option<Vec<RawEvent>>,
}

#[derive(Deserialize)]
struct RawEvent {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
}

/// A record ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub id: String,
    /// Unix seconds of `modified` (0 when missing or unreadable).
    pub modified: i64,
    /// Unix nanoseconds of `modified`, for ordering two versions of a record.
    pub modified_ns: i64,
    /// FNV-1a of the raw bytes: tells a changed record from a re-sent one.
    pub hash: i64,
    pub withdrawn: bool,
    pub aliases: Vec<String>,
    pub summary: String,
    pub score: Option<f32>,
    /// Record-level label (score, else `database_specific.severity`).
    pub severity: Severity,
    pub packages: Vec<PreparedPackage>,
    /// Things worth a warning that did not stop the import.
    pub notes: Vec<Note>,
}

/// One (ecosystem, normalised name) the record affects.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPackage {
    pub ecosystem: String,
    pub name: String,
    pub entry: PackageEntry,
}

/// Something in a record the mirror could not use fully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// `modified` missing or not RFC 3339: taken as 1970.
    BadModified,
    /// A range in an ecosystem without a known order: `versions[]` only.
    NoOrder { ecosystem: String },
    /// A range event that does not parse: that range is ignored.
    BadVersion { ecosystem: String, version: String },
}

/// Why a record was not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not an OSV JSON record: {0}")]
    Json(String),
    #[error("record has no `id`")]
    MissingId,
}

/// Parses an RFC 3339 timestamp into (unix seconds, unix nanoseconds).
pub fn parse_timestamp(text: &str) -> Option<(i64, i64)> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    let ns = i64::try_from(t.unix_timestamp_nanos()).ok()?;
    Some((t.unix_timestamp(), ns))
}

/// 64-bit FNV-1a, stable across builds (unlike `std`'s hasher).
pub fn fnv1a(bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Reads one OSV record.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, RecordError> {
    let raw: RawRecord =
        serde_json::from_slice(bytes).map_err(|e| RecordError::Json(e.to_string()))?;
    let id = raw
        .id
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or(RecordError::MissingId)?;
    let mut notes = Vec::new();
    let (modified, modified_ns) = match raw.modified.as_deref().map(parse_timestamp) {
        Some(Some(t)) => t,
        _ => {
            notes.push(Note::BadModified);
            (0, 0)
        }
    };
    let summary = summary_of(raw.summary.as_deref(), raw.details.as_deref());
    let record_vectors = raw.severity.unwrap_or_default();
    let score = highest(&record_vectors, &[]);
    let record_label = score
        .map(severity::label_from_score)
        .filter(|s| *s != Severity::Unknown)
        .or_else(|| severity::label_from_specific(raw.database_specific.as_ref()));

    // Merge affected[] entries per (ecosystem, normalised name), in order.
    let mut packages: BTreeMap<(String, String), (usize, PackageEntry)> = BTreeMap::new();
    let mut package_score = score;
    for affected in raw.affected.unwrap_or_default() {
        let Some(pkg) = affected.package else {
            continue;
        };
        let (Some(ecosystem), Some(name)) = (pkg.ecosystem, pkg.name) else {
            continue;
        };
        if name.trim().is_empty() {
            continue;
        }
        let name = normalize_name(&ecosystem, name.trim());
        let pkg_vectors = affected.severity.unwrap_or_default();
        let pkg_score = highest(&record_vectors, &pkg_vectors);
        if pkg_score > package_score {
            package_score = pkg_score;
        }
        let label = pkg_score
            .map(severity::label_from_score)
            .filter(|s| *s != Severity::Unknown)
            .or(record_label)
            .or_else(|| severity::label_from_specific(affected.ecosystem_specific.as_ref()))
            .or_else(|| severity::label_from_specific(affected.database_specific.as_ref()))
            .unwrap_or(Severity::Unknown);
        let order = packages.len();
        let (_, entry) = packages
            .entry((ecosystem.clone(), name))
            .or_insert_with(|| (order, PackageEntry::default()));
        entry.severity = entry.severity.max(label);
        entry.versions.extend(affected.versions.unwrap_or_default());
        for range in affected.ranges.unwrap_or_default() {
            add_range(&ecosystem, range, entry, &mut notes);
        }
    }
    let mut packages: Vec<_> = packages.into_iter().collect();
    packages.sort_by_key(|(_, (order, _))| *order);
    let packages = packages
        .into_iter()
        .map(|((ecosystem, name), (_, mut entry))| {
            entry.versions.sort_unstable();
            entry.versions.dedup();
            PreparedPackage {
                ecosystem,
                name,
                entry,
            }
        })
        .collect();

    Ok(Prepared {
        id,
        modified,
        modified_ns,
        hash: fnv1a(bytes),
        withdrawn: raw.withdrawn.is_some_and(|w| !w.trim().is_empty()),
        aliases: raw.aliases.unwrap_or_default(),
        summary,
        score: package_score,
        severity: record_label.unwrap_or(Severity::Unknown),
        packages,
        notes,
    })
}

fn highest(record: &[RawSeverity], package: &[RawSeverity]) -> Option<f32> {
    severity::highest_score(
        record
            .iter()
            .chain(package)
            .filter_map(|s| Some((s.kind.as_deref()?, s.score.as_deref()?))),
    )
}

fn add_range(ecosystem: &str, range: RawRange, entry: &mut PackageEntry, notes: &mut Vec<Note>) {
    let kind = range.kind.unwrap_or_default();
    if kind == "GIT" {
        return;
    }
    let events: Vec<Event> = range
        .events
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            if let Some(v) = e.introduced {
                Some(Event::Introduced(v))
            } else if let Some(v) = e.fixed {
                Some(Event::Fixed(v))
            } else {
                e.last_affected.map(Event::LastAffected)
            }
        })
        .collect();
    for event in &events {
        if let Event::Fixed(v) = event
            && !entry.fixed.contains(v)
        {
            entry.fixed.push(v.clone());
        }
    }
    let Some(scheme) = Scheme::for_range(&kind, ecosystem) else {
        if !events.is_empty() {
            notes.push(Note::NoOrder {
                ecosystem: ecosystem.to_owned(),
            });
        }
        return;
    };
    match matching::build_range(scheme, &events) {
        Ok(range) => entry.ranges.push(range),
        Err(version) => notes.push(Note::BadVersion {
            ecosystem: ecosystem.to_owned(),
            version,
        }),
    }
}

/// `summary`, else the first line of `details` cut at a word near 200 chars.
fn summary_of(summary: Option<&str>, details: Option<&str>) -> String {
    if let Some(s) = summary.map(str::trim).filter(|s| !s.is_empty()) {
        return s.to_owned();
    }
    let first = details
        .unwrap_or_default()
        .trim()
        .lines()
        .next()
        .unwrap_or_default()
        .trim();
    if first.chars().count() <= SUMMARY_MAX {
        return first.to_owned();
    }
    let cut: String = first.chars().take(SUMMARY_MAX).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > SUMMARY_MAX / 2 => &cut[..i],
        _ => &cut,
    };
    format!("{}…", cut.trim_end())
}
