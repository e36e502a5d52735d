//! The audit log: one JSON line per decision, each chained to the one before.
//!
//! Every line carries `prev`, the `hash` of the line before it, and its own
//! `hash` (sha256 of the line as written without the `hash` member), so
//! `gatehouse audit verify` names the first line that was altered, removed or
//! inserted.
//!
//! Appending seals a line into the chain in memory; a dedicated writer thread
//! ([`writer`]) writes, fsyncs, indexes and rotates, so no disk I/O happens on
//! the async workers. With `audit.sync: always` (the default) the server waits
//! for [`AuditLog::commit`] before answering: a block, decision or admin change
//! is on disk before the client hears about it, and a log that cannot be
//! written (disk full, read-only) makes the server answer 503 instead of
//! serving unaudited. Opening the log seals a torn tail left by a crash
//! ([`recovery`]) with a `recovered` record that names the cut.

// The log's file work runs on its writer thread, at open (start-up) or in
// spawn_blocking (queries, close); async callers only queue and wait.
#![allow(clippy::disallowed_methods)]

pub mod chain;
mod host;
mod index;
mod recovery;
mod writer;

pub use host::{AuditState, AuditView, add_to_linker};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use crate::config::{AuditSettings, SyncMode};
pub use chain::{Files, verify};
use chain::{GENESIS, seal};
use index::{Index, Row, unix_ms};
use writer::{Progress, Queue, Shared, Writer};

/// The event of the record that seals a torn tail.
pub const RECOVERED: &str = "recovered";
/// The index file beside the log: `audit.log.index.sqlite`.
const INDEX_SUFFIX: &str = "index.sqlite";

/// One audited event. Empty fields are left out of the line.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct AuditRecord {
    /// `decision`, `serve`, `block`, `policy-error`, `component-load`,
    /// `component-reject`, `config-reload`, `note`, `auth-failure`,
    /// `recovered` ...
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requester: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub ecosystem: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub package: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub action: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub rule: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub advisories: Vec<String>,
    /// `name@sha256` of every component involved.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub components: Vec<String>,
    /// The OSV mirror's generation when the decision was made.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub osv_generation: Option<u64>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    record: &'a AuditRecord,
    prev: &'a str,
}

/// The append-only, hash-chained log.
pub struct AuditLog {
    files: Files,
    settings: AuditSettings,
    shared: Arc<Shared>,
    progress: tokio::sync::watch::Receiver<Progress>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Held while the log is open (released after the writer stopped).
    _lock: std::fs::File,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "audit log {0} is open in another gatehouse process: two writers would break its chain"
    )]
    InUse(String),
    #[error("audit log {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("audit query: {0}")]
    Query(String),
    #[error("audit index: {0}")]
    Index(#[from] rusqlite::Error),
    #[error("audit log {path}, line {line}: {problem}")]
    Broken {
        path: String,
        line: usize,
        problem: String,
    },
}

/// Why a request cannot be answered: its records are not on disk.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit log cannot be written ({0}); gatehouse answers nothing it cannot audit")]
pub struct AuditUnavailable(pub Arc<str>);

impl AuditLog {
    /// Opens (or creates) the log with the default settings.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        Self::open_with(path, AuditSettings::default())
    }

    /// Opens (or creates) the log at `path`, continuing the chain of what is
    /// there (rotated files included): a torn tail is cut and sealed, the
    /// index caught up, and the writer thread started.
    pub fn open_with(path: &Path, settings: AuditSettings) -> Result<Self, AuditError> {
        let files = Files {
            live: path.to_owned(),
        };
        let io = |source| AuditError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(files.dir()).map_err(io)?;
        let lock = lock_exclusively(path)?;
        let tail = recovery::seal_tail(&files).map_err(io)?;
        let rotated = files.rotated().map_err(io)?;
        let number = rotated.last().map_or(1, |last| last + 1);
        let prev = match (&tail.last_hash, rotated.last()) {
            (Some(hash), _) => hash.clone(),
            (None, Some(&newest)) => recovery::last_hash_of(&files.numbered(newest))
                .map_err(io)?
                .unwrap_or_else(|| GENESIS.to_owned()),
            (None, None) => GENESIS.to_owned(),
        };
        let (index, sealed) = open_index(&files, number)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let (progress_sender, progress) = tokio::sync::watch::channel(Progress {
            durable: sealed,
            failure: None,
        });
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                prev,
                sealed,
                ..Queue::default()
            }),
            wake: Default::default(),
            progress: progress_sender,
        });
        let mut writer = Writer {
            shared: shared.clone(),
            files: files.clone(),
            settings: settings.clone(),
            file,
            number,
            len: tail.end,
            day: first_day(path),
            index,
            index_stale: false,
        };
        if let Some(cut) = tail.cut {
            // On disk before anything else is appended or answered.
            seal_into(&mut shared.lock(), &recovered(&cut, path));
            if !writer.write_queued() {
                return Err(io(std::io::Error::other(
                    "the record of a cut torn tail could not be written",
                )));
            }
        }
        let handle = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run())
            .map_err(io)?;
        Ok(AuditLog {
            files,
            settings,
            shared,
            progress,
            writer: Mutex::new(Some(handle)),
            _lock: lock,
        })
    }

    /// Seals `record` as the chain's next line and hands it to the writer.
    /// Only memory is touched: callers on async threads never wait for the
    /// disk here ([`AuditLog::commit`] does, before answering).
    pub fn append(&self, record: &AuditRecord) {
        seal_into(&mut self.shared.lock(), record);
        self.shared.wake.notify_one();
    }

    /// Why the log cannot be written right now, if it cannot.
    pub fn failure(&self) -> Option<AuditUnavailable> {
        self.progress.borrow().failure.clone().map(AuditUnavailable)
    }

    /// Before answering: with `sync: always`, waits until every record
    /// appended so far is on disk; with `sync: batch`, only checks that the
    /// log is being written.
    pub async fn commit(&self) -> Result<(), AuditUnavailable> {
        match self.settings.sync {
            SyncMode::Always => {
                let target = self.shared.lock().sealed;
                self.durable_through(target).await
            }
            SyncMode::Batch => self.failure().map_or(Ok(()), Err),
        }
    }

    /// Writes and syncs every record appended so far, whatever the sync mode.
    pub async fn flush(&self) -> Result<(), AuditUnavailable> {
        let target = {
            let mut queue = self.shared.lock();
            queue.flush = true;
            queue.sealed
        };
        self.shared.wake.notify_one();
        self.durable_through(target).await
    }

    async fn durable_through(&self, target: u64) -> Result<(), AuditUnavailable> {
        let mut progress = self.progress.clone();
        let reached = progress
            .wait_for(|p| p.durable >= target || p.failure.is_some())
            .await
            .map(|p| p.clone());
        match reached {
            Ok(p) if p.durable >= target => Ok(()),
            Ok(p) => Err(AuditUnavailable(
                p.failure.unwrap_or_else(|| "unknown".into()),
            )),
            Err(_) => Err(AuditUnavailable("the log is closed".into())),
        }
    }

    /// Writes and syncs what is queued and stops the writer (blocking; at
    /// shutdown). Returns whether every record reached the disk.
    pub fn close(&self) -> bool {
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        let sealed = {
            let mut queue = self.shared.lock();
            queue.closing = true;
            queue.sealed
        };
        self.shared.wake.notify_one();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        let durable = self.progress.borrow().durable;
        // Anyone still waiting, or appending from now on, hears that it is over.
        self.shared.progress.send_replace(Progress {
            durable,
            failure: Some("the audit log is closed".into()),
        });
        durable >= sealed
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// Locks `path.lock`: one process writes a chain, so a second `serve` (or
/// any other writer) on the same log is refused rather than interleaved.
fn lock_exclusively(path: &Path) -> Result<std::fs::File, AuditError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let io = |source| AuditError::Io {
        path: lock_path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(AuditError::InUse(path.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(source)) => Err(io(source)),
    }
}

/// The record that names a cut torn tail.
fn recovered(cut: &recovery::Cut, path: &Path) -> AuditRecord {
    AuditRecord {
        event: RECOVERED.into(),
        reason: format!(
            "a torn tail of {} bytes at byte {} of {} was cut after an interrupted write (sha256 {}); the bytes are kept in {}; the chain continues from the last intact line",
            cut.bytes,
            cut.offset,
            path.display(),
            cut.sha256,
            cut.saved_to.display()
        ),
        ..AuditRecord::default()
    }
}

/// Seals `record` as the chain's next line and queues it for the writer.
fn seal_into(queue: &mut Queue, record: &AuditRecord) {
    let now = SystemTime::now();
    let body = serde_json::to_string(&Line {
        time: humantime::format_rfc3339_millis(now).to_string(),
        record,
        prev: &queue.prev,
    })
    .unwrap_or_default();
    let (line, hash) = seal(&body);
    queue.sealed += 1;
    let row = Row {
        seq: queue.sealed,
        len: line.len() as u64,
        time_ms: unix_ms(now),
        event: record.event.clone(),
        ecosystem: record.ecosystem.clone(),
        package: record.package.clone(),
        version: record.version.clone(),
        action: record.action.clone(),
        requester: record.requester.clone().unwrap_or_default(),
        ..Row::default()
    };
    queue.rows.push(row);
    queue.bytes.extend_from_slice(line.as_bytes());
    queue.prev = hash;
}

/// Opens the index and catches it up with the files; a damaged index is
/// rebuilt from them. Returns it with the last sequence number.
fn open_index(files: &Files, live_number: u64) -> Result<(Index, u64), AuditError> {
    let path = files.beside(INDEX_SUFFIX);
    let attempt = || -> Result<(Index, u64), AuditError> {
        let mut index = Index::open(&path)?;
        let last = index.catch_up(files, live_number)?;
        Ok((index, last))
    };
    attempt().or_else(|error| {
        tracing::warn!(%error, index = %path.display(), "audit index unusable; rebuilding it from the log");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        attempt()
    })
}

/// The UTC day of the first line of the file at `path` (for daily rotation).
fn first_day(path: &Path) -> Option<i64> {
    use std::io::BufRead as _;
    let file = std::fs::File::open(path).ok()?;
    let mut first = String::new();
    std::io::BufReader::new(file).read_line(&mut first).ok()?;
    let value: serde_json::Value = serde_json::from_str(first.trim_end()).ok()?;
    let time = humantime::parse_rfc3339_weak(value.get("time")?.as_str()?).ok()?;
    Some(unix_ms(time).div_euclid(86_400_000))
}

/// Filters for `GET /api/v1/admin/proxy/audit`; all optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub ecosystem: Option<String>,
    pub package: Option<String>,
    pub version: Option<String>,
    /// `allow`, `warn` or `block`.
    pub action: Option<String>,
    /// `metadata`, `artifact`, `serve`, `auth-failure` ...
    pub event: Option<String>,
    /// An RFC 3339 time, or a duration back from now (`1h`).
    pub since: Option<String>,
    /// The requester: a client user name or address.
    pub user: Option<String>,
    /// At most this many records (default 100, at most 1,000).
    pub limit: Option<usize>,
    /// Only lines before this line number: the `next` of the previous page.
    pub before: Option<usize>,
}

/// One page of matching records, newest first, each with its `line` number
/// (its position in the whole chain, rotated files included).
#[derive(Debug, Serialize)]
pub struct AuditPage {
    pub records: Vec<serde_json::Value>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next: Option<usize>,
}

/// What the log says about the hours before now: per hour, the records that
/// carry a decision (metadata documents, artifacts, checked versions) and
/// how many of them blocked or warned, and the packages blocked most.
#[derive(Debug, Default, Serialize)]
pub struct Activity {
    /// Oldest hour first; the last one ends now.
    pub hours: Vec<HourCounts>,
    /// Most blocks first.
    pub top_blocked: Vec<BlockedPackage>,
}

/// One hour of [`Activity`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct HourCounts {
    pub decided: u64,
    pub blocked: u64,
    pub warned: u64,
}

/// A package of [`Activity::top_blocked`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockedPackage {
    pub ecosystem: String,
    pub package: String,
    pub blocks: u64,
}

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

impl AuditLog {
    /// The records matching `query`, newest first, one page at a time, from
    /// the index (blocking: call it off the async threads, after
    /// [`AuditLog::flush`] when the newest records must be included).
    pub fn query(&self, query: &AuditQuery) -> Result<AuditPage, AuditError> {
        let since = match &query.since {
            None => None,
            Some(text) => Some(
                humantime::parse_rfc3339_weak(text)
                    .or_else(|_| {
                        humantime::parse_duration(text).map(|back| SystemTime::now() - back)
                    })
                    .map_err(|_| {
                        AuditError::Query(format!(
                            "since {text:?}: expected an RFC 3339 time or a duration such as 1h"
                        ))
                    })?,
            ),
        };
        index::query(&self.files, query, since)
    }

    /// The last `hours` hours of decisions and the `top` packages blocked
    /// most in them, from the index (blocking, like [`AuditLog::query`]).
    pub fn activity(&self, hours: usize, top: usize) -> Result<Activity, AuditError> {
        index::activity(&self.files, SystemTime::now(), hours, top)
    }

    /// Checks the whole chain as `gatehouse audit verify` does (blocking;
    /// reads every file: call it on request, after [`AuditLog::flush`]).
    pub fn verify_chain(&self) -> Result<chain::Verified, AuditError> {
        verify(&self.files.live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_on_the_same_log_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(crate::config::defaults::AUDIT_FILE);
        let first = AuditLog::open(&path).expect("opens");
        assert!(matches!(AuditLog::open(&path), Err(AuditError::InUse(_))));
        drop(first);
        AuditLog::open(&path).expect("free once the first is closed");
    }

    fn record(package: &str) -> AuditRecord {
        AuditRecord {
            event: "decision".into(),
            ecosystem: "npm".into(),
            package: package.into(),
            version: "1.0.0".into(),
            action: "block".into(),
            ..AuditRecord::default()
        }
    }

    fn lines(path: &Path) -> usize {
        verify(path).expect("verifies").lines
    }

    #[tokio::test]
    async fn committed_records_are_on_disk_in_chain_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        for name in ["a", "b", "c"] {
            log.append(&record(name));
        }
        log.commit().await.expect("committed");
        assert_eq!(lines(&path), 3);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.find("\"a\"") < text.find("\"c\""));
    }

    #[tokio::test]
    async fn batch_mode_writes_within_its_interval_and_on_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let settings = AuditSettings {
            sync: SyncMode::Batch,
            batch_interval: std::time::Duration::from_secs(3600),
            ..AuditSettings::default()
        };
        let log = AuditLog::open_with(&path, settings).expect("open");
        log.append(&record("a"));
        log.commit().await.expect("batch commits do not wait");
        log.append(&record("b"));
        log.flush().await.expect("flushed");
        assert_eq!(lines(&path), 2);
        log.append(&record("c"));
        assert!(log.close());
        assert_eq!(lines(&path), 3);
    }

    #[tokio::test]
    async fn query_filters_and_pages_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(&dir.path().join("audit.log")).expect("open");
        for name in ["a", "b", "a", "c", "a"] {
            log.append(&record(name));
        }
        log.flush().await.expect("flushed");
        let query = |package: &str, before: Option<usize>| AuditQuery {
            package: Some(package.into()),
            limit: Some(2),
            before,
            ..AuditQuery::default()
        };
        let first = log.query(&query("a", None)).expect("query");
        let numbers: Vec<u64> = first
            .records
            .iter()
            .map(|r| r["line"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(numbers, [5, 3]);
        assert_eq!(first.next, Some(3));
        let second = log.query(&query("a", first.next)).expect("query");
        assert_eq!(second.records.len(), 1);
        assert_eq!(second.records[0]["line"], 1);
        assert_eq!(second.next, None);
        let recent = AuditQuery {
            since: Some("1h".into()),
            ecosystem: Some("NPM".into()),
            ..AuditQuery::default()
        };
        assert_eq!(log.query(&recent).expect("query").records.len(), 5);
        let future = AuditQuery {
            since: Some("2999-01-01T00:00:00Z".into()),
            ..AuditQuery::default()
        };
        assert!(log.query(&future).expect("query").records.is_empty());
        let bad = AuditQuery {
            since: Some("yesterday-ish".into()),
            ..AuditQuery::default()
        };
        assert!(log.query(&bad).is_err());
    }

    #[tokio::test]
    async fn activity_counts_the_last_hours_and_the_packages_blocked_most() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(&dir.path().join("audit.log")).expect("open");
        assert_eq!(log.activity(24, 10).expect("empty").top_blocked, []);
        for name in ["a", "b", "a"] {
            log.append(&record(name));
        }
        log.append(&AuditRecord {
            action: "warn".into(),
            ..record("c")
        });
        log.append(&AuditRecord {
            event: "auth-failure".into(),
            ..AuditRecord::default()
        });
        log.flush().await.expect("flushed");
        // The index follows the log in the background: wait for it, boundedly.
        let mut activity = log.activity(24, 1).expect("activity");
        for _ in 0..200 {
            if activity.hours[23].decided == 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            activity = log.activity(24, 1).expect("activity");
        }
        assert_eq!(activity.hours.len(), 24);
        assert_eq!(
            activity.hours[23],
            HourCounts {
                decided: 4,
                blocked: 3,
                warned: 1
            }
        );
        assert!(activity.hours[..23].iter().all(|h| h.decided == 0));
        assert_eq!(
            activity.top_blocked,
            [BlockedPackage {
                ecosystem: "npm".into(),
                package: "a".into(),
                blocks: 2
            }]
        );
        assert_eq!(log.verify_chain().expect("intact").lines, 5);
    }

    #[tokio::test]
    async fn chain_verifies_and_names_the_altered_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        for name in ["a", "b", "c"] {
            log.append(&record(name));
        }
        drop(log);
        // Reopening continues the chain.
        AuditLog::open(&path).expect("reopen").append(&record("d"));
        assert_eq!(lines(&path), 4);

        let text = std::fs::read_to_string(&path).expect("read");
        let altered = text.replacen("\"package\":\"b\"", "\"package\":\"x\"", 1);
        std::fs::write(&path, altered).expect("write");
        match verify(&path) {
            Err(AuditError::Broken { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a broken chain, got {other:?}"),
        }

        let mut kept: Vec<&str> = text.lines().collect();
        kept.remove(1);
        std::fs::write(&path, kept.join("\n") + "\n").expect("write");
        match verify(&path) {
            Err(AuditError::Broken { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a broken chain, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_aside_and_sealed_with_a_recovered_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        for name in ["a", "b"] {
            log.append(&record(name));
        }
        drop(log);
        let text = std::fs::read_to_string(&path).expect("read");
        let torn = &text.lines().next().expect("a line")[..50];
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut file, torn.as_bytes()).expect("tear");
        drop(file);
        assert!(verify(&path).is_err(), "the torn line is found");

        let log = AuditLog::open(&path).expect("reopen");
        log.append(&record("c"));
        log.flush().await.expect("flushed");
        let verified = verify(&path).expect("verifies after recovery");
        assert_eq!((verified.lines, verified.recovered), (4, 1));
        let page = log
            .query(&AuditQuery {
                event: Some(RECOVERED.into()),
                ..AuditQuery::default()
            })
            .expect("query");
        let reason = page.records[0]["reason"]
            .as_str()
            .expect("reason")
            .to_owned();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(torn.as_bytes()));
        assert!(
            reason.contains("50 bytes") && reason.contains(&sha),
            "{reason}"
        );
        let side = files_named(dir.path(), "torn-");
        assert_eq!(side.len(), 1);
        assert_eq!(std::fs::read(&side[0]).expect("side file"), torn.as_bytes());
    }

    fn files_named(dir: &Path, part: &str) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().contains(part))
            .collect()
    }

    #[tokio::test]
    async fn rotated_files_are_one_chain_queried_through_the_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let settings = AuditSettings {
            rotate_bytes: Some(2_000),
            ..AuditSettings::default()
        };
        let log = AuditLog::open_with(&path, settings.clone()).expect("open");
        for n in 0..40 {
            log.append(&record(&format!("p{n}")));
            log.commit().await.expect("committed");
        }
        drop(log);
        let files = Files::of(&path);
        assert!(files.rotated().expect("list").len() >= 3);
        let verified = verify(dir.path()).expect("the directory verifies as one chain");
        assert_eq!(verified.lines, 40);
        // Reopened (the index caught up from the files), old records are found.
        let log = AuditLog::open_with(&path, settings).expect("reopen");
        let page = log
            .query(&AuditQuery {
                package: Some("p0".into()),
                ..AuditQuery::default()
            })
            .expect("query");
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0]["line"], 1);
        // A lost index is rebuilt from the files.
        drop(log);
        std::fs::remove_file(files.beside(INDEX_SUFFIX)).expect("remove index");
        let log = AuditLog::open(&path).expect("reopen");
        log.append(&record("last"));
        log.flush().await.expect("flushed");
        let page = log
            .query(&AuditQuery {
                package: Some("last".into()),
                ..AuditQuery::default()
            })
            .expect("query");
        assert_eq!(page.records[0]["line"], 41);
    }

    #[tokio::test]
    async fn a_new_day_starts_a_new_file_linked_to_the_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let body = format!(
            "{{\"time\":\"2020-01-01T23:59:59.000Z\",\"event\":\"note\",\"prev\":\"{GENESIS}\"}}"
        );
        std::fs::write(&path, seal(&body).0).expect("yesterday's log");
        let settings = AuditSettings {
            rotate_daily: true,
            ..AuditSettings::default()
        };
        let log = AuditLog::open_with(&path, settings).expect("open");
        log.append(&record("today"));
        log.flush().await.expect("flushed");
        let files = Files::of(&path);
        assert_eq!(files.rotated().expect("list"), [1]);
        let rotated = std::fs::read_to_string(files.numbered(1)).expect("rotated");
        assert!(rotated.contains("2020-01-01") && !rotated.contains("today"));
        assert!(
            std::fs::read_to_string(&path)
                .expect("live")
                .contains("today")
        );
        let verified = verify(&path).expect("one chain across the day");
        assert_eq!((verified.files, verified.lines), (2, 2));
    }

    #[tokio::test]
    async fn retention_keeps_the_newest_files_and_the_rest_still_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let settings = AuditSettings {
            rotate_bytes: Some(1_000),
            keep_files: Some(2),
            ..AuditSettings::default()
        };
        let log = AuditLog::open_with(&path, settings).expect("open");
        for n in 0..40 {
            log.append(&record(&format!("p{n}")));
            log.commit().await.expect("committed");
        }
        drop(log);
        assert_eq!(Files::of(&path).rotated().expect("list").len(), 2);
        let verified = verify(&path).expect("verifies");
        assert!(verified.pruned_start);
        assert!(verified.lines < 40);
    }
}
