//! Keeping a mirror current from an OSV bucket layout under a configured base
//! URL: `{base}/{Ecosystem}/all.zip`, `{base}/{Ecosystem}/modified_id.csv`
//! (`RFC3339,ID` lines, newest first) and `{base}/{Ecosystem}/{ID}.json`.
//!
//! The first sync of an ecosystem reads the csv, downloads and imports
//! `all.zip`, and stores the csv's newest timestamp as the cursor (the csv is
//! read first, so a record changed during the download is fetched again next
//! time rather than missed). Later syncs read only the csv down to the cursor
//! and fetch each newer record by itself; the cursor moves only when all of
//! them were fetched. A very long backlog downloads `all.zip` again instead.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::http;
use crate::import::Item;
use crate::record::parse_timestamp;
use crate::{ImportReport, Mirror, OsvError, Skipped};

/// More changed records than this since the cursor: download `all.zip` again.
const FULL_RESYNC_AFTER: usize = 5_000;
/// Records fetched at once during an incremental sync.
const FETCH_CONCURRENCY: usize = 8;

/// What one [`sync`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub ecosystems: Vec<EcosystemSync>,
}

/// What a sync did for one ecosystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EcosystemSync {
    pub ecosystem: String,
    /// `all.zip` was downloaded (first sync, or a long backlog).
    pub full: bool,
    /// Records fetched one by one (0 for a full sync).
    pub fetched: usize,
    pub import: ImportReport,
    /// The cursor after this sync.
    pub cursor: Option<String>,
}

/// Syncs each of `ecosystems` (OSV spelling: `npm`, `PyPI`, `crates.io`, `Go`,
/// `Maven`) from `base`. Every ecosystem is attempted; when any failed, the
/// first failure is returned (the others' progress is kept in the mirror, and
/// [`Mirror::status`] shows it). Call it again later to retry.
pub async fn sync(
    mirror: &Mirror,
    client: &reqwest::Client,
    base: &str,
    ecosystems: &[String],
) -> Result<SyncReport, OsvError> {
    if tokio::runtime::Handle::try_current().is_err() {
        // reqwest and the fetch tasks need Tokio; fail instead of panicking.
        return Err(OsvError::Task(
            "OSV sync must run inside a Tokio runtime".to_owned(),
        ));
    }
    let base = base.trim_end_matches('/');
    let mut report = SyncReport::default();
    let mut first_error = None;
    for ecosystem in ecosystems {
        let outcome = sync_one(mirror, client, base, ecosystem).await;
        let error = outcome.as_ref().err().map(OsvError::chain);
        mirror
            .store()
            .record_attempt(ecosystem, base, now(), error.as_deref())?;
        match outcome {
            Ok(done) => {
                tracing::info!(
                    ecosystem = %ecosystem,
                    full = done.full,
                    imported = done.import.imported,
                    unchanged = done.import.unchanged,
                    skipped = done.import.skipped.len(),
                    "OSV sync done"
                );
                report.ecosystems.push(done);
            }
            Err(e) => {
                tracing::warn!(ecosystem = %ecosystem, error = %e.chain(), "OSV sync failed");
                first_error.get_or_insert(OsvError::Sync {
                    ecosystem: ecosystem.clone(),
                    source: Box::new(e),
                });
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// One `modified_id.csv` line.
struct Change {
    timestamp: String,
    ns: i64,
    id: String,
}

async fn sync_one(
    mirror: &Mirror,
    client: &reqwest::Client,
    base: &str,
    ecosystem: &str,
) -> Result<EcosystemSync, OsvError> {
    let dir = format!("{base}/{}", encode_segment(ecosystem));
    let csv_url = format!("{dir}/modified_id.csv");
    let csv = http::body_capped(get(client, &csv_url).await?, &csv_url, http::LIST_BYTES).await?;
    let changes = parse_csv(&String::from_utf8_lossy(&csv));
    let newest = changes.iter().max_by_key(|c| c.ns);
    let stored = mirror.store().cursor(ecosystem)?;

    let (full, fetched, import) = match stored {
        Some((_, cursor_ns)) => {
            let mut ids: Vec<&str> = Vec::new();
            for change in changes.iter().take_while(|c| c.ns > cursor_ns) {
                if !ids.contains(&change.id.as_str()) {
                    ids.push(&change.id);
                }
            }
            if ids.len() > FULL_RESYNC_AFTER {
                tracing::info!(
                    ecosystem,
                    changed = ids.len(),
                    "long OSV backlog; downloading all.zip"
                );
                (true, 0, full_import(mirror, client, &dir).await?)
            } else {
                let fetched = ids.len();
                (
                    false,
                    fetched,
                    fetch_records(mirror, client, &dir, &ids).await?,
                )
            }
        }
        None => (true, 0, full_import(mirror, client, &dir).await?),
    };

    let cursor = match newest {
        Some(c) => Some((c.timestamp.as_str(), c.ns)),
        // An empty csv: keep what we had.
        None => stored.as_ref().map(|(t, ns)| (t.as_str(), *ns)),
    };
    mirror.store().set_synced(ecosystem, now(), cursor)?;
    Ok(EcosystemSync {
        ecosystem: ecosystem.to_owned(),
        full,
        fetched,
        import,
        cursor: cursor.map(|(t, _)| t.to_owned()),
    })
}

/// Downloads `all.zip` to a temporary file and imports it.
// The download's chunks go to the page cache as they arrive (no fsync); the
// import, the heavy part, runs on the blocking pool.
#[allow(clippy::disallowed_methods)]
async fn full_import(
    mirror: &Mirror,
    client: &reqwest::Client,
    dir: &str,
) -> Result<ImportReport, OsvError> {
    let url = format!("{dir}/all.zip");
    let response = get(client, &url).await?;
    let temp = TempFile::new();
    let mut file = std::fs::File::create(&temp.0).map_err(|source| OsvError::Io {
        path: temp.0.clone(),
        source,
    })?;
    http::read_capped(response, &url, http::ALL_ZIP_BYTES, |chunk| {
        file.write_all(chunk).map_err(|source| OsvError::Io {
            path: temp.0.clone(),
            source,
        })
    })
    .await?;
    file.flush().map_err(|source| OsvError::Io {
        path: temp.0.clone(),
        source,
    })?;
    drop(file);
    let path = temp.0.clone();
    let report = blocking(mirror, move |m| m.import_zip(&path, "all.zip")).await?;
    // The archive itself damaged: what was readable is in, but the cursor must not move.
    if let Some(bad) = report.skipped.iter().find(|s| s.file == "all.zip") {
        return Err(OsvError::Bundle {
            url,
            reason: bad.reason.clone(),
        });
    }
    Ok(report)
}

/// Fetches `{dir}/{ID}.json` for each id (a few at a time) and imports them.
/// A record listed but gone (404) is reported as skipped; any other failure
/// imports what was fetched and returns the error.
async fn fetch_records(
    mirror: &Mirror,
    client: &reqwest::Client,
    dir: &str,
    ids: &[&str],
) -> Result<ImportReport, OsvError> {
    let mut items = Vec::with_capacity(ids.len());
    let mut failure = None;
    let mut pending = ids.iter();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while failure.is_none() && running.len() < FETCH_CONCURRENCY {
            let Some(id) = pending.next() else { break };
            let file = format!("{id}.json");
            let url = format!("{dir}/{}", encode_segment(&file));
            running.spawn(fetch_record(client.clone(), url, file));
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        match done {
            Ok(Ok(item)) => items.push(item),
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(OsvError::Task(e.to_string()));
            }
        }
    }
    let report = blocking(mirror, move |m| m.import_items(items)).await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

async fn fetch_record(
    client: reqwest::Client,
    url: String,
    file: String,
) -> Result<Item, OsvError> {
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|source| OsvError::Http {
            url: url.clone(),
            source,
        })?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(Item::Failed(Skipped {
            file,
            reason: "listed in modified_id.csv but not found (HTTP 404)".to_owned(),
        }));
    }
    if !response.status().is_success() {
        return Err(OsvError::Status {
            url,
            status: response.status().as_u16(),
        });
    }
    let bytes = http::body_capped(response, &url, http::ANSWER_BYTES).await?;
    Ok(Item::Record {
        source: file,
        bytes,
    })
}

async fn get(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, OsvError> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|source| OsvError::Http {
            url: url.to_owned(),
            source,
        })?;
    if !response.status().is_success() {
        return Err(OsvError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    Ok(response)
}

/// Runs blocking mirror work off the async threads.
async fn blocking<T: Send + 'static>(
    mirror: &Mirror,
    f: impl FnOnce(&Mirror) -> T + Send + 'static,
) -> Result<T, OsvError> {
    let mirror = mirror.clone();
    tokio::task::spawn_blocking(move || f(&mirror))
        .await
        .map_err(|e| OsvError::Task(e.to_string()))
}

fn parse_csv(text: &str) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut bad = 0usize;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line.split_once(',').and_then(|(ts, id)| {
            let (_, ns) = parse_timestamp(ts)?;
            let id = id.trim();
            (!id.is_empty()).then(|| Change {
                timestamp: ts.trim().to_owned(),
                ns,
                id: id.to_owned(),
            })
        });
        match parsed {
            Some(c) => changes.push(c),
            None => bad += 1,
        }
    }
    if bad > 0 {
        tracing::warn!(
            lines = bad,
            "modified_id.csv lines that are not `RFC3339,ID` were ignored"
        );
    }
    changes
}

/// Percent-encodes one URL path segment (ids and ecosystem names are plain
/// ASCII in practice; anything else is escaped).
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// A download target removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new() -> TempFile {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        TempFile(
            std::env::temp_dir().join(format!("gatehouse-osv-{}-{nanos}.zip", std::process::id())),
        )
    }
}

impl Drop for TempFile {
    // Unlinking one file: no data to wait for.
    #[allow(clippy::disallowed_methods)]
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines() {
        let csv = "2024-10-10T17:22:00Z,PYSEC-2024-104\n\
                   2024-10-09T12:05:48.156835Z,PYSEC-2023-243\n\
                   garbage\n\
                   \n\
                   2024-10-08T19:19:01Z,PYSEC-2024-102\n";
        let changes = parse_csv(csv);
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[0].id, "PYSEC-2024-104");
        assert!(changes[0].ns > changes[1].ns && changes[1].ns > changes[2].ns);
        assert_eq!(changes[1].timestamp, "2024-10-09T12:05:48.156835Z");
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(encode_segment("crates.io"), "crates.io");
        assert_eq!(encode_segment("GHSA-abcd-1234.json"), "GHSA-abcd-1234.json");
        assert_eq!(encode_segment("Rocky Linux"), "Rocky%20Linux");
        assert_eq!(encode_segment("a/b"), "a%2Fb");
    }
}
