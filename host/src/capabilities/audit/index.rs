//! The audit index: a small SQLite database beside the log
//! (`audit.log.index.sqlite`) with one row per line — its sequence number,
//! file, byte offset and the fields queries filter on — so an admin query
//! reads only the lines it returns, whichever rotated file holds them.
//!
//! The index is derived data: written without fsync, checked against the
//! files on open, and rebuilt from them when it does not match.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek as _, SeekFrom};
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, params};

use super::chain::Files;
use super::{Activity, AuditError, AuditPage, AuditQuery, BlockedPackage, HourCounts};

/// One line as the index knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub seq: u64,
    pub file: u64,
    pub offset: u64,
    pub len: u64,
    pub time_ms: i64,
    pub event: String,
    pub ecosystem: String,
    pub package: String,
    pub version: String,
    pub action: String,
    pub requester: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS lines (
    seq INTEGER PRIMARY KEY,
    file INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    len INTEGER NOT NULL,
    time INTEGER NOT NULL,
    event TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    action TEXT NOT NULL,
    requester TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lines_package ON lines (package, seq);
CREATE INDEX IF NOT EXISTS lines_event ON lines (event, seq);
";

pub struct Index {
    conn: Connection,
}

impl Index {
    pub fn open(path: &Path) -> Result<Index, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Rebuildable from the log, so never worth an fsync.
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Index { conn })
    }

    pub fn insert(&mut self, rows: &[Row]) -> Result<(), rusqlite::Error> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO lines VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for row in rows {
                insert.execute(params![
                    row.seq as i64,
                    row.file as i64,
                    row.offset as i64,
                    row.len as i64,
                    row.time_ms,
                    row.event,
                    row.ecosystem,
                    row.package,
                    row.version,
                    row.action,
                    row.requester,
                ])?;
            }
        }
        tx.commit()
    }

    /// Drops the rows of files removed by retention.
    pub fn forget_files_before(&self, file: u64) -> Result<(), rusqlite::Error> {
        self.conn
            .execute("DELETE FROM lines WHERE file < ?1", [file as i64])?;
        Ok(())
    }

    /// Brings the index in line with the files; returns the last sequence
    /// number. Rows past what the files hold (a cut tail, lines that never
    /// reached the disk) are dropped, lines not yet indexed are added.
    pub fn catch_up(&mut self, files: &Files, live_number: u64) -> Result<u64, AuditError> {
        let present = files.rotated().map_err(io(files.dir()))?;
        let first = present.first().copied().unwrap_or(live_number);
        self.forget_files_before(first)?;
        let last: Option<(u64, u64, u64)> = self
            .conn
            .query_row(
                "SELECT seq, file, offset + len FROM lines ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                    ))
                },
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let length = |number: u64| {
            std::fs::metadata(files.path_of(number, live_number)).map_or(0, |m| m.len())
        };
        let (mut seq, mut file, mut offset) = match last {
            Some((seq, file, end))
                if file >= first && file <= live_number && end <= length(file) =>
            {
                (seq, file, end)
            }
            // Rows that point past the files: start again from the files.
            Some(_) => {
                self.conn.execute("DELETE FROM lines", [])?;
                (0, first, 0)
            }
            None => (0, first, 0),
        };
        while file <= live_number {
            let path = files.path_of(file, live_number);
            if path.exists() {
                seq = self.index_file(&path, file, offset, seq)?;
            }
            file += 1;
            offset = 0;
        }
        Ok(seq)
    }

    /// Indexes the whole lines of `path` from `offset`, numbering from `seq + 1`.
    fn index_file(
        &mut self,
        path: &Path,
        number: u64,
        mut offset: u64,
        mut seq: u64,
    ) -> Result<u64, AuditError> {
        let mut file = File::open(path).map_err(io(path))?;
        file.seek(SeekFrom::Start(offset)).map_err(io(path))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut rows = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(io(path))?;
            if read == 0 || !line.ends_with(b"\n") {
                break;
            }
            seq += 1;
            rows.push(row_of(&line, seq, number, offset));
            offset += read as u64;
            if rows.len() >= 10_000 {
                self.insert(&rows)?;
                rows.clear();
            }
        }
        self.insert(&rows)?;
        Ok(seq)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The index row of a written line.
fn row_of(line: &[u8], seq: u64, file: u64, offset: u64) -> Row {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Fields {
        time: String,
        event: String,
        ecosystem: String,
        package: String,
        version: String,
        action: String,
        requester: String,
    }
    let fields: Fields = serde_json::from_slice(line).unwrap_or_default();
    Row {
        seq,
        file,
        offset,
        len: line.len() as u64,
        time_ms: humantime::parse_rfc3339_weak(&fields.time)
            .ok()
            .map_or(0, unix_ms),
        event: fields.event,
        ecosystem: fields.ecosystem,
        package: fields.package,
        version: fields.version,
        action: fields.action,
        requester: fields.requester,
    }
}

pub fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Answers `query` from the index, reading only the lines returned.
pub fn query(
    files: &Files,
    query: &AuditQuery,
    since: Option<SystemTime>,
) -> Result<AuditPage, AuditError> {
    let index_path = files.beside(super::INDEX_SUFFIX);
    let conn = Connection::open_with_flags(&index_path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let limit = query
        .limit
        .unwrap_or(super::DEFAULT_PAGE)
        .clamp(1, super::MAX_PAGE);
    let mut clauses = Vec::new();
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    let mut bind = |clause: &str, value: rusqlite::types::Value| {
        values.push(value);
        // `{}` in a clause stands for this value, however often it appears.
        clauses.push(clause.replace("{}", &format!("?{}", values.len())));
    };
    let text = |s: &str| rusqlite::types::Value::Text(s.to_owned());
    if let Some(wanted) = &query.ecosystem {
        let canonical = crate::ecosystem::canonical_ecosystem(wanted).unwrap_or(wanted);
        bind("ecosystem = {}", text(canonical));
    }
    for (wanted, column) in [
        (&query.package, "package"),
        (&query.version, "version"),
        (&query.action, "action"),
        (&query.event, "event"),
    ] {
        if let Some(wanted) = wanted {
            bind(&format!("{column} = {{}}"), text(wanted));
        }
    }
    if let Some(user) = &query.user {
        bind(
            "(requester = {} OR substr(requester, 1, length({}) + 1) = {} || '@')",
            text(user),
        );
    }
    if let Some(since) = since {
        bind(
            "time >= {}",
            rusqlite::types::Value::Integer(unix_ms(since)),
        );
    }
    if let Some(before) = query.before {
        bind("seq < {}", rusqlite::types::Value::Integer(before as i64));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT seq, file, offset, len FROM lines {filter} ORDER BY seq DESC LIMIT {}",
        limit + 1
    );
    let mut statement = conn.prepare(&sql)?;
    let mut found: Vec<(u64, u64, u64, u64)> = statement
        .query_map(rusqlite::params_from_iter(values), |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, i64>(3)? as u64,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let next = (found.len() > limit).then(|| {
        found.truncate(limit);
        found.last().map(|&(seq, ..)| seq as usize)
    });
    let live_number = files.live_number().map_err(io(files.dir()))?;
    let mut records = Vec::with_capacity(found.len());
    for (seq, file, offset, len) in found {
        let mut value = read_line(files, file, live_number, offset, len)?;
        value["line"] = seq.into();
        records.push(value);
    }
    Ok(AuditPage {
        records,
        next: next.flatten(),
    })
}

const HOUR_MS: i64 = 3_600_000;

/// The `hours` hours up to `now`: decisions per hour and the `top` packages
/// blocked most. Only the lines of those hours are read: the first is found
/// by bisection over the sequence numbers (time grows with them).
pub fn activity(
    files: &Files,
    now: SystemTime,
    hours: usize,
    top: usize,
) -> Result<Activity, AuditError> {
    let index_path = files.beside(super::INDEX_SUFFIX);
    let conn = Connection::open_with_flags(&index_path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let span = i64::try_from(hours).unwrap_or(i64::MAX / HOUR_MS);
    let since = unix_ms(now) - span * HOUR_MS;
    let mut activity = Activity {
        hours: vec![HourCounts::default(); hours],
        top_blocked: Vec::new(),
    };
    let Some(first) = first_at_or_after(&conn, since)? else {
        return Ok(activity);
    };
    let mut per_hour = conn.prepare(
        "SELECT (time - ?2) / ?3, action, count(*) FROM lines
         WHERE seq >= ?1 AND time >= ?2 AND action != '' GROUP BY 1, 2",
    )?;
    let rows = per_hour.query_map(params![first, since, HOUR_MS], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)? as u64,
        ))
    })?;
    for row in rows {
        let (hour, action, count) = row?;
        let Some(counts) = usize::try_from(hour)
            .ok()
            .and_then(|h| activity.hours.get_mut(h))
        else {
            continue;
        };
        counts.decided += count;
        match action.as_str() {
            "block" => counts.blocked += count,
            "warn" => counts.warned += count,
            _ => {}
        }
    }
    let mut blocked = conn.prepare(
        "SELECT ecosystem, package, count(*) FROM lines
         WHERE seq >= ?1 AND time >= ?2 AND action = 'block' AND package != ''
         GROUP BY ecosystem, package ORDER BY 3 DESC, 2 LIMIT ?3",
    )?;
    activity.top_blocked = blocked
        .query_map(params![first, since, top as i64], |r| {
            Ok(BlockedPackage {
                ecosystem: r.get(0)?,
                package: r.get(1)?,
                blocks: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(activity)
}

/// The first line written at or after `time_ms`, found by bisection.
fn first_at_or_after(conn: &Connection, time_ms: i64) -> Result<Option<i64>, rusqlite::Error> {
    let time_from = |seq: i64| {
        conn.query_row(
            "SELECT time FROM lines WHERE seq >= ?1 ORDER BY seq LIMIT 1",
            [seq],
            |r| r.get::<_, i64>(0),
        )
    };
    let (low, high): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(seq), max(seq) FROM lines", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(mut low), Some(mut high)) = (low, high) else {
        return Ok(None);
    };
    if time_from(high)? < time_ms {
        return Ok(None);
    }
    while low < high {
        let middle = low + (high - low) / 2;
        if time_from(middle)? >= time_ms {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(Some(low))
}

/// One line by position; a file rotated since the index was read is found
/// under its number.
fn read_line(
    files: &Files,
    file: u64,
    live_number: u64,
    offset: u64,
    len: u64,
) -> Result<serde_json::Value, AuditError> {
    let numbered = files.numbered(file);
    let path = if numbered.exists() {
        numbered
    } else {
        files.path_of(file, live_number)
    };
    let handle = File::open(&path).map_err(io(&path))?;
    let mut bytes = vec![0; len as usize];
    handle
        .read_exact_at(&mut bytes, offset)
        .map_err(io(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        AuditError::Query(format!(
            "{} at byte {offset}: the index does not match the log ({e}); restart to rebuild it",
            path.display()
        ))
    })
}
