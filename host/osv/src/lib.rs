//! gatehouse's OSV mirror: advisories from OSV bundles kept in SQLite, answering
//! "which advisories affect `name@version`" for policies, fast and from many
//! threads.
//!
//! - [`Mirror::import_path`] / [`Mirror::import_records`] load an `all.zip`, a
//!   folder of `{ID}.json` or single records; imports are idempotent and each
//!   batch is one transaction.
//! - [`sync`] keeps a mirror current from an OSV bucket layout
//!   (`{base}/{Ecosystem}/all.zip`, `modified_id.csv`, `{ID}.json`).
//! - [`live::Live`] asks an OSV-API-shaped service (`POST /v1/querybatch`)
//!   about packages the mirror has nothing for, and keeps the answers a while.
//! - [`Mirror::affecting`] matches versions against `versions[]` and
//!   SEMVER/ECOSYSTEM ranges with each ecosystem's own order: SemVer (npm,
//!   crates.io, Go), PEP 440 (PyPI) and Maven's.
//!
//! Modules: [`store`] (SQLite), [`import`] (zip/folder/file readers, batching),
//! [`record`] (one OSV record to stored rows), [`matching`] (ranges to
//! intervals, queries), [`version`] (orderings), [`severity`] (CVSS), [`sync`],
//! [`http`] (the download client and body caps).

#![forbid(unsafe_code)]

mod error;
pub mod http;
pub mod import;
pub mod live;
pub mod matching;
pub mod record;
pub mod severity;
pub mod store;
pub mod sync;
pub mod version;

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;
use serde::{Deserialize, Serialize};

pub use error::OsvError;
/// The HTTP client crate [`sync`] takes, so that callers build a matching client.
pub use reqwest;
pub use sync::{EcosystemSync, SyncReport, sync};

use matching::{Matcher, QueryVersion};
use store::{Row, Store};

/// How many packages' parsed advisories stay in memory (found or not).
const CACHE_PACKAGES: usize = 16_384;

/// Severity label, from a CVSS base score or the database's own label.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

/// One advisory as a policy sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advisory {
    pub id: String,
    /// CVE, GHSA… ids of the same vulnerability.
    pub aliases: Vec<String>,
    /// `summary`, else the first line of `details`.
    pub summary: String,
    /// A malicious-package report (`MAL-` id).
    pub malicious: bool,
    /// The highest CVSS base score computed from the record's v3/v4 vectors
    /// (v2 only when it has no newer one).
    pub score: Option<f32>,
    pub severity: Severity,
    /// The `fixed` events of this package's ranges, as the record spells them.
    pub fixed: Vec<String>,
    /// When the record last changed, unix seconds.
    pub modified: i64,
}

/// A file (or zip entry, `archive.zip:ID.json`) that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Records written: new, or newer than the stored copy.
    pub imported: usize,
    /// Records already stored as they are (or stored in a newer version).
    pub unchanged: usize,
    pub skipped: Vec<Skipped>,
}

impl ImportReport {
    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: ImportReport) {
        self.imported += other.imported;
        self.unchanged += other.unchanged;
        self.skipped.extend(other.skipped);
    }
}

/// The mirror's state for one ecosystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EcosystemStatus {
    pub ecosystem: String,
    /// Records that name a package of this ecosystem (withdrawn ones included).
    pub records: usize,
    /// When a sync of this ecosystem last finished, unix seconds.
    pub last_sync: Option<i64>,
    /// The newest `modified_id.csv` timestamp synced (RFC 3339, as the bucket spells it).
    pub cursor: Option<String>,
    /// Where the last sync attempt fetched from.
    pub source: Option<String>,
    /// When a sync of this ecosystem was last attempted, unix seconds.
    pub last_attempt: Option<i64>,
    /// Why the last attempt failed; `None` when it succeeded (or none was made).
    pub last_error: Option<String>,
}

/// Normalises a package name the way the mirror keys it.
///
/// - `PyPI`: PEP 503 (`gatehouse_versions::names::pep503`), as `packaging`
///   spells it (lower case first: it decides a final `Σ`).
/// - `crates.io`: lower case, `_` → `-`. crates.io refuses a new crate whose
///   name differs from an existing one only by case or `-`/`_`, so the folded
///   name is still unique, and lookups work whatever spelling the client sent
///   (Cargo's index paths are lower case; OSV records use the published name).
/// - Everything else as is: npm, Go module paths and Maven `group:artifact`
///   are case-sensitive.
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    match ecosystem {
        "PyPI" => gatehouse_versions::names::pep503(name).into_owned(),
        "crates.io" => name
            .chars()
            .map(|c| {
                if c == '_' {
                    '-'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
        _ => name.to_owned(),
    }
}

/// The OSV mirror. Cheap to clone (a handle); `Send + Sync`.
#[derive(Clone)]
pub struct Mirror {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    generation: AtomicU64,
    cache: Mutex<Cache>,
}

struct Cache {
    generation: u64,
    packages: LruCache<String, Arc<Package>>,
}

/// One package's advisories, parsed for matching.
struct Package {
    entries: Vec<(Advisory, Matcher)>,
}

fn advisory_of(row: Row) -> Advisory {
    Advisory {
        malicious: row.id.starts_with("MAL-"),
        id: row.id,
        aliases: row.aliases,
        summary: row.summary,
        score: row.score,
        severity: row.entry.severity,
        fixed: row.entry.fixed,
        modified: row.modified,
    }
}

/// A stretch of affected versions, bounds as the record spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// Inclusive; `None` is from the first version.
    pub introduced: Option<String>,
    /// Exclusive.
    pub fixed: Option<String>,
    /// Inclusive.
    pub last_affected: Option<String>,
}

/// An advisory and every version of one package it affects.
#[derive(Debug, Clone)]
pub struct PackageAdvisory {
    pub advisory: Advisory,
    pub intervals: Vec<Interval>,
    pub versions: Vec<String>,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl Mirror {
    /// Opens (creating when missing) a mirror database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Mirror, OsvError> {
        Mirror::with_store(Store::open(path)?)
    }

    /// A mirror that lives in memory only (tests, one-shot tools).
    pub fn open_in_memory() -> Result<Mirror, OsvError> {
        Mirror::with_store(Store::open_in_memory()?)
    }

    fn with_store(store: Store) -> Result<Mirror, OsvError> {
        let generation = store.generation()?;
        let capacity = NonZeroUsize::new(CACHE_PACKAGES).unwrap_or(NonZeroUsize::MIN);
        Ok(Mirror {
            inner: Arc::new(Inner {
                store,
                generation: AtomicU64::new(generation),
                cache: Mutex::new(Cache {
                    generation,
                    packages: LruCache::new(capacity),
                }),
            }),
        })
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Increases whenever an import or sync changes any record.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(AtomicOrdering::Acquire)
    }

    /// Closes cleanly at shutdown: waits for a write in progress to commit,
    /// then folds the write-ahead log into the database.
    pub fn close(&self) -> Result<(), OsvError> {
        self.inner.store.checkpoint()
    }

    /// Called after a committed batch that changed records.
    pub(crate) fn advance(&self, generation: u64) {
        self.inner
            .generation
            .fetch_max(generation, AtomicOrdering::AcqRel);
        let mut cache = self.cache();
        cache.generation = self.generation();
        cache.packages.clear();
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The advisories affecting each of `versions` of one package: one inner
    /// `Vec` per input version, in input order. `name` is normalised here.
    /// A version that does not parse in the ecosystem's order is matched
    /// against `versions[]` lists only (with one warning per call).
    pub fn affecting(
        &self,
        ecosystem: &str,
        name: &str,
        versions: &[&str],
    ) -> Result<Vec<Vec<Advisory>>, OsvError> {
        let mut unparsable = 0;
        let found = self.affecting_counted(ecosystem, name, versions, &mut unparsable)?;
        if unparsable > 0 {
            tracing::warn!(
                ecosystem,
                package = %name,
                unparsable,
                "versions that do not parse in the ecosystem's order were matched against versions[] only"
            );
        }
        Ok(found)
    }

    /// [`Mirror::affecting`] without the warning: adds the number of
    /// versions that did not parse to `unparsable`, for the caller to report.
    pub fn affecting_counted(
        &self,
        ecosystem: &str,
        name: &str,
        versions: &[&str],
        unparsable: &mut usize,
    ) -> Result<Vec<Vec<Advisory>>, OsvError> {
        let name = normalize_name(ecosystem, name.trim());
        let package = self.package(ecosystem, &name)?;
        let mut out = Vec::with_capacity(versions.len());
        for text in versions {
            let mut query = QueryVersion::new(text.trim());
            let mut failed = false;
            let hits: Vec<Advisory> = package
                .entries
                .iter()
                .filter(|(_, m)| m.affects(&mut query, &mut failed))
                .map(|(a, _)| a.clone())
                .collect();
            *unparsable += usize::from(failed);
            out.push(hits);
        }
        Ok(out)
    }

    /// Whether any advisory (withdrawn ones aside) names this package.
    pub fn knows(&self, ecosystem: &str, name: &str) -> Result<bool, OsvError> {
        let name = normalize_name(ecosystem, name.trim());
        Ok(!self.package(ecosystem, &name)?.entries.is_empty())
    }

    fn package(&self, ecosystem: &str, name: &str) -> Result<Arc<Package>, OsvError> {
        let key = format!("{ecosystem}\u{0}{name}");
        if let Some(p) = self.cache().packages.get(&key) {
            return Ok(Arc::clone(p));
        }
        let generation = self.generation();
        let rows = self.store().package_rows(ecosystem, name)?;
        let entries = rows
            .into_iter()
            .map(|row| {
                let matcher = Matcher::new(&row.id, ecosystem, &row.entry);
                (advisory_of(row), matcher)
            })
            .collect();
        let package = Arc::new(Package { entries });
        let mut cache = self.cache();
        if cache.generation == generation {
            cache.packages.put(key, Arc::clone(&package));
        }
        Ok(package)
    }

    /// Every advisory recorded for one package, with the versions it affects
    /// (for audit endpoints; `affecting` answers the gate).
    pub fn advisories(
        &self,
        ecosystem: &str,
        name: &str,
    ) -> Result<Vec<PackageAdvisory>, OsvError> {
        let name = normalize_name(ecosystem, name.trim());
        let rows = self.store().package_rows(ecosystem, &name)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let intervals = row
                    .entry
                    .ranges
                    .iter()
                    .flat_map(|range| &range.intervals)
                    .map(|i| Interval {
                        introduced: i.lo.clone(),
                        fixed: i.fixed.clone(),
                        last_affected: i.last.clone(),
                    })
                    .collect();
                let versions = row.entry.versions.clone();
                PackageAdvisory {
                    advisory: advisory_of(row),
                    intervals,
                    versions,
                }
            })
            .collect())
    }

    /// Per ecosystem: records, last sync time and cursor.
    pub fn status(&self) -> Result<Vec<EcosystemStatus>, OsvError> {
        Ok(self
            .store()
            .status()?
            .into_iter()
            .map(|r| EcosystemStatus {
                ecosystem: r.ecosystem,
                records: r.records,
                last_sync: r.last_sync,
                cursor: r.cursor,
                source: r.source,
                last_attempt: r.last_attempt,
                last_error: r.last_error,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_names() {
        assert_eq!(normalize_name("PyPI", "Aiohttp_Session"), "aiohttp-session");
        assert_eq!(normalize_name("PyPI", "a.-_b__c"), "a-b-c");
        assert_eq!(normalize_name("PyPI", "Django"), "django");
    }

    #[test]
    fn other_ecosystems() {
        assert_eq!(normalize_name("crates.io", "Serde_JSON"), "serde-json");
        assert_eq!(normalize_name("npm", "@Scope/Name"), "@Scope/Name");
        assert_eq!(normalize_name("Go", "example.com/A/b"), "example.com/A/b");
        assert_eq!(
            normalize_name("Maven", "org.Apache:Commons_Text"),
            "org.Apache:Commons_Text"
        );
    }

    #[test]
    fn mirror_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Mirror>();
    }
}
