//! The SQLite side of the mirror: schema, connections (one writer, a few
//! readers in WAL mode), writing batches of prepared records in one
//! transaction, and the reads behind queries, status and sync cursors.
//!
//! Tables:
//! - `advisories(id, modified, modified_ns, hash, withdrawn, summary, aliases, score, severity)`
//! - `affected(ecosystem, name, id, data)` — one row per (advisory, package);
//!   `data` is the package's [`PackageEntry`] as compact JSON
//! - `sync_state(ecosystem, last_sync, cursor, cursor_ns)`
//! - `sync_attempts(ecosystem, source, last_attempt, last_error)` — the latest
//!   sync attempt, so that another process (`gatehouse osv status`) can tell
//!   a failing source from a quiet one
//! - `meta(key, value)` — `schema` version and `generation`
//!
//! A schema from another version of this crate is dropped and rebuilt: it is
//! a mirror, the next sync fills it again.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};

use crate::OsvError;
use crate::matching::PackageEntry;
use crate::record::Prepared;

const SCHEMA_VERSION: i64 = 1;
const READERS: usize = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS advisories (
    id TEXT PRIMARY KEY,
    modified INTEGER NOT NULL,
    modified_ns INTEGER NOT NULL,
    hash INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL,
    summary TEXT NOT NULL,
    aliases TEXT NOT NULL,
    score REAL,
    severity INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS affected_by_id ON affected (id);
CREATE TABLE IF NOT EXISTS sync_state (
    ecosystem TEXT PRIMARY KEY,
    last_sync INTEGER,
    cursor TEXT,
    cursor_ns INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_attempts (
    ecosystem TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    last_attempt INTEGER NOT NULL,
    last_error TEXT
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
";

const DROP: &str = "
DROP TABLE IF EXISTS advisories;
DROP TABLE IF EXISTS affected;
DROP TABLE IF EXISTS sync_state;
DROP TABLE IF EXISTS sync_attempts;
DROP TABLE IF EXISTS meta;
";

/// One advisory row joined to one package row, as queries read them.
pub struct Row {
    pub id: String,
    pub modified: i64,
    pub summary: String,
    pub aliases: Vec<String>,
    pub score: Option<f32>,
    pub entry: PackageEntry,
}

/// What one batch did.
#[derive(Default)]
pub struct BatchOutcome {
    pub imported: Vec<String>,
    pub unchanged: usize,
}

/// Per-ecosystem figures for `status()`.
pub struct EcosystemRow {
    pub ecosystem: String,
    pub records: usize,
    pub last_sync: Option<i64>,
    pub cursor: Option<String>,
    pub source: Option<String>,
    pub last_attempt: Option<i64>,
    pub last_error: Option<String>,
}

pub struct Store {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding a connection leaves SQLite consistent (the
    // transaction rolls back on drop), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, OsvError> {
        let writer = Connection::open(path)?;
        writer.busy_timeout(Duration::from_secs(10))?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        // Bulk imports touch the whole index: keep it in memory (64 MiB).
        writer.pragma_update(None, "cache_size", -65_536)?;
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        init_schema(&writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(Duration::from_secs(10))?;
            readers.push(Mutex::new(r));
        }
        Ok(Store {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    pub fn open_in_memory() -> Result<Store, OsvError> {
        let writer = Connection::open_in_memory()?;
        init_schema(&writer)?;
        Ok(Store {
            writer: Mutex::new(writer),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
        })
    }

    /// A read connection: a free reader if any, else wait for one in turn.
    /// In-memory mirrors have a single connection.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        if self.readers.is_empty() {
            return lock(&self.writer);
        }
        for r in &self.readers {
            if let Ok(guard) = r.try_lock() {
                return guard;
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lock(&self.readers[i])
    }

    /// Takes the writer (so no batch is half-done) and checkpoints the WAL.
    pub fn checkpoint(&self) -> Result<(), OsvError> {
        let conn = lock(&self.writer);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    pub fn generation(&self) -> Result<u64, OsvError> {
        let conn = lock(&self.writer);
        let g: i64 =
            conn.query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
                r.get(0)
            })?;
        Ok(u64::try_from(g).unwrap_or_default())
    }

    /// Writes `records` in one transaction. A record replaces the stored one
    /// (all its rows) when it is newer, or as new with different bytes; else
    /// it counts as unchanged. Bumps the generation when anything changed and
    /// returns the new generation.
    pub fn write_batch<'a>(
        &self,
        records: impl IntoIterator<Item = &'a Prepared>,
    ) -> Result<(BatchOutcome, Option<u64>), OsvError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let mut outcome = BatchOutcome::default();
        for record in records {
            if write_record(&tx, record)? {
                outcome.imported.push(record.id.clone());
            } else {
                outcome.unchanged += 1;
            }
        }
        let mut generation = None;
        if !outcome.imported.is_empty() {
            let g: i64 = tx.query_row(
                "UPDATE meta SET value = value + 1 WHERE key = 'generation' RETURNING value",
                [],
                |r| r.get(0),
            )?;
            generation = Some(u64::try_from(g).unwrap_or_default());
        }
        tx.commit()?;
        Ok((outcome, generation))
    }

    /// The non-withdrawn advisories stored for one package.
    pub fn package_rows(&self, ecosystem: &str, name: &str) -> Result<Vec<Row>, OsvError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT a.id, a.modified, a.summary, a.aliases, a.score, f.data
             FROM affected f JOIN advisories a ON a.id = f.id
             WHERE f.ecosystem = ?1 AND f.name = ?2 AND a.withdrawn = 0",
        )?;
        let rows = stmt.query_map(params![ecosystem, name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<f64>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, modified, summary, aliases, score, data) = row?;
            let entry = match serde_json::from_str::<PackageEntry>(&data) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(advisory = %id, error = %e, "stored package entry unreadable; skipped");
                    continue;
                }
            };
            out.push(Row {
                aliases: serde_json::from_str(&aliases).unwrap_or_default(),
                id,
                modified,
                summary,
                score: score.map(|s| s as f32),
                entry,
            });
        }
        Ok(out)
    }

    pub fn status(&self) -> Result<Vec<EcosystemRow>, OsvError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT e.ecosystem,
                    (SELECT COUNT(DISTINCT id) FROM affected f WHERE f.ecosystem = e.ecosystem),
                    s.last_sync, s.cursor, t.source, t.last_attempt, t.last_error
             FROM (SELECT DISTINCT ecosystem FROM affected
                   UNION SELECT ecosystem FROM sync_state
                   UNION SELECT ecosystem FROM sync_attempts) e
             LEFT JOIN sync_state s ON s.ecosystem = e.ecosystem
             LEFT JOIN sync_attempts t ON t.ecosystem = e.ecosystem
             ORDER BY e.ecosystem",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(EcosystemRow {
                ecosystem: r.get(0)?,
                records: usize::try_from(r.get::<_, i64>(1)?).unwrap_or_default(),
                last_sync: r.get(2)?,
                cursor: r.get(3)?,
                source: r.get(4)?,
                last_attempt: r.get(5)?,
                last_error: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The stored sync cursor of an ecosystem: (RFC 3339 text, unix nanoseconds).
    pub fn cursor(&self, ecosystem: &str) -> Result<Option<(String, i64)>, OsvError> {
        let conn = lock(&self.writer);
        let row = conn
            .query_row(
                "SELECT cursor, cursor_ns FROM sync_state WHERE ecosystem = ?1",
                params![ecosystem],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((Some(text), Some(ns))) => Some((text, ns)),
            _ => None,
        })
    }

    /// Records a finished sync: its time and the new cursor.
    pub fn set_synced(
        &self,
        ecosystem: &str,
        now: i64,
        cursor: Option<(&str, i64)>,
    ) -> Result<(), OsvError> {
        let conn = lock(&self.writer);
        match cursor {
            Some((text, ns)) => conn.execute(
                "INSERT INTO sync_state (ecosystem, last_sync, cursor, cursor_ns)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (ecosystem) DO UPDATE
                 SET last_sync = ?2, cursor = ?3, cursor_ns = ?4",
                params![ecosystem, now, text, ns],
            )?,
            None => conn.execute(
                "INSERT INTO sync_state (ecosystem, last_sync) VALUES (?1, ?2)
                 ON CONFLICT (ecosystem) DO UPDATE SET last_sync = ?2",
                params![ecosystem, now],
            )?,
        };
        Ok(())
    }

    /// Records a sync attempt from `source`: `error` is `None` when it succeeded.
    pub fn record_attempt(
        &self,
        ecosystem: &str,
        source: &str,
        now: i64,
        error: Option<&str>,
    ) -> Result<(), OsvError> {
        lock(&self.writer).execute(
            "INSERT INTO sync_attempts (ecosystem, source, last_attempt, last_error)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (ecosystem) DO UPDATE
             SET source = ?2, last_attempt = ?3, last_error = ?4",
            params![ecosystem, source, now, error],
        )?;
        Ok(())
    }
}

fn init_schema(conn: &Connection) -> Result<(), OsvError> {
    let has_meta: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |r| r.get(0),
    )?;
    if has_meta {
        let version: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if version != Some(SCHEMA_VERSION) {
            tracing::warn!(
                found = ?version,
                expected = SCHEMA_VERSION,
                "OSV mirror schema differs; rebuilding it (the next sync refills it)"
            );
            conn.execute_batch(DROP)?;
        }
    }
    conn.execute_batch(SCHEMA)?;
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?1)",
        params![SCHEMA_VERSION],
    )?;
    Ok(())
}

/// Writes one record; false when the stored copy is as new (or newer).
fn write_record(tx: &Transaction<'_>, r: &Prepared) -> Result<bool, OsvError> {
    let stored: Option<(i64, i64)> = tx
        .prepare_cached("SELECT modified_ns, hash FROM advisories WHERE id = ?1")?
        .query_row(params![r.id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    if let Some((ns, hash)) = stored
        && (r.modified_ns < ns || (r.modified_ns == ns && r.hash == hash))
    {
        return Ok(false);
    }
    if stored.is_some() {
        tx.prepare_cached("DELETE FROM affected WHERE id = ?1")?
            .execute(params![r.id])?;
    }
    let aliases = serde_json::to_string(&r.aliases).unwrap_or_else(|_| "[]".to_owned());
    tx.prepare_cached(
        "INSERT OR REPLACE INTO advisories
         (id, modified, modified_ns, hash, withdrawn, summary, aliases, score, severity)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        r.id,
        r.modified,
        r.modified_ns,
        r.hash,
        r.withdrawn,
        r.summary,
        aliases,
        r.score.map(f64::from),
        r.severity as i64,
    ])?;
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO affected (ecosystem, name, id, data) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for p in &r.packages {
        let data = serde_json::to_string(&p.entry)?;
        insert.execute(params![p.ecosystem, p.name, r.id, data])?;
    }
    Ok(true)
}
