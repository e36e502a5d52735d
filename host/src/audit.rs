//! The audit log: one JSON line per decision, each chained to the one before.
//!
//! Every line carries `prev`, the `hash` of the line before it, and its own
//! `hash` (sha256 of the line as written without the `hash` member), so
//! `gatehouse audit verify` names the first line that was altered, removed or
//! inserted. Lines are flushed before the call returns: a block's record is on
//! disk before the client hears about it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audited event. Empty fields are left out of the line.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct AuditRecord {
    /// `decision`, `serve`, `block`, `policy-error`, `component-load`,
    /// `component-reject`, `config-reload`, `note`, `auth-failure` ...
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
    path: PathBuf,
    state: Mutex<Tail>,
}

struct Tail {
    file: File,
    prev: String,
    /// Sealed lines not yet written (see [`AuditLog::append_soon`]).
    pending: Vec<u8>,
}

/// Pending lines past this size are written at once.
const PENDING_LIMIT: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("audit query: {0}")]
    Query(String),
    #[error("audit log {path}, line {line}: {problem}")]
    Broken {
        path: String,
        line: usize,
        problem: String,
    },
}

impl AuditLog {
    /// Opens (or creates) the log, continuing the chain of what is there.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let prev = match File::open(path) {
            Ok(file) => last_hash(BufReader::new(file)).map_err(io)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => GENESIS.to_owned(),
            Err(e) => return Err(io(e)),
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(AuditLog {
            path: path.to_owned(),
            state: Mutex::new(Tail {
                file,
                prev,
                pending: Vec::new(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` and writes it, with any pending lines, before
    /// returning. A failure is logged: the decision stands.
    pub fn append(&self, record: &AuditRecord) {
        let mut tail = self.state.lock().unwrap_or_else(|e| e.into_inner());
        seal_into(&mut tail, record);
        self.write_pending(&mut tail);
    }

    /// Appends `record` to the chain now and writes it with the next write
    /// (a durable append, [`AuditLog::flush`], or 64 KiB of pending lines):
    /// for the busiest records, artifact serves, one write covers many.
    pub fn append_soon(&self, record: &AuditRecord) {
        let mut tail = self.state.lock().unwrap_or_else(|e| e.into_inner());
        seal_into(&mut tail, record);
        if tail.pending.len() >= PENDING_LIMIT {
            self.write_pending(&mut tail);
        }
    }

    /// Writes pending lines (`serve` calls it on a short interval).
    pub fn flush(&self) {
        let mut tail = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.write_pending(&mut tail);
    }

    fn write_pending(&self, tail: &mut Tail) {
        if tail.pending.is_empty() {
            return;
        }
        let Tail { file, pending, .. } = tail;
        match file.write_all(pending) {
            Ok(()) => pending.clear(),
            Err(error) => {
                // Kept for the next attempt; the chain shows any gap left by a crash.
                tracing::error!(%error, path = %self.path.display(), "audit write failed");
                if pending.len() > 256 * PENDING_LIMIT {
                    pending.clear();
                }
            }
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Seals `record` as the chain's next line and queues it.
fn seal_into(tail: &mut Tail, record: &AuditRecord) {
    let body = serde_json::to_string(&Line {
        time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        record,
        prev: &tail.prev,
    })
    .unwrap_or_default();
    let (line, hash) = seal(&body);
    tail.pending.extend_from_slice(line.as_bytes());
    tail.prev = hash;
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

/// One page of matching records, newest first, each with its `line` number.
#[derive(Debug, Serialize)]
pub struct AuditPage {
    pub records: Vec<serde_json::Value>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next: Option<usize>,
}

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

impl AuditQuery {
    fn matches(&self, line: &serde_json::Value, since: Option<SystemTime>) -> bool {
        let field = |name: &str| line.get(name).and_then(|v| v.as_str()).unwrap_or("");
        let equal = |wanted: &Option<String>, name: &str| {
            wanted.as_deref().is_none_or(|w| field(name) == w)
        };
        let ecosystem = self.ecosystem.as_deref().is_none_or(|wanted| {
            crate::exceptions::canonical_ecosystem(wanted).unwrap_or(wanted) == field("ecosystem")
        });
        let user = self.user.as_deref().is_none_or(|user| {
            let requester = field("requester");
            requester == user
                || requester
                    .strip_prefix(user)
                    .is_some_and(|rest| rest.starts_with('@'))
        });
        let recent = since.is_none_or(|since| {
            humantime::parse_rfc3339_weak(field("time")).is_ok_and(|time| time >= since)
        });
        ecosystem
            && user
            && recent
            && equal(&self.package, "package")
            && equal(&self.version, "version")
            && equal(&self.action, "action")
            && equal(&self.event, "event")
    }
}

impl AuditLog {
    /// The records matching `query`, newest first, one page at a time.
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
        let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        self.flush();
        let io = |source| AuditError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let file = File::open(&self.path).map_err(io)?;
        // The newest `limit + 1` matches: one more tells whether a next page exists.
        let mut newest = std::collections::VecDeque::with_capacity(limit + 1);
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let number = index + 1;
            if query.before.is_some_and(|before| number >= before) {
                break;
            }
            let Ok(line) = line else { continue };
            let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if query.matches(&value, since) {
                value["line"] = number.into();
                if newest.len() == limit + 1 {
                    newest.pop_front();
                }
                newest.push_back(value);
            }
        }
        let more = newest.len() > limit;
        if more {
            newest.pop_front();
        }
        let next = more
            .then(|| newest.front().and_then(|v| v["line"].as_u64()))
            .flatten()
            .map(|line| line as usize);
        Ok(AuditPage {
            records: newest.into_iter().rev().collect(),
            next,
        })
    }
}

/// Adds the `hash` member to a serialised line; returns the line (with newline) and hash.
fn seal(body: &str) -> (String, String) {
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    let open = body.strip_suffix('}').unwrap_or(body);
    (format!("{open},\"hash\":\"{hash}\"}}\n"), hash)
}

/// Splits a written line into the body that was hashed and the hash it claims.
fn unseal(line: &str) -> Option<(String, &str)> {
    let (open, hash) = line.strip_suffix("\"}")?.rsplit_once(",\"hash\":\"")?;
    Some((format!("{open}}}"), hash))
}

fn last_hash(reader: impl BufRead) -> std::io::Result<String> {
    let mut prev = GENESIS.to_owned();
    for line in reader.lines() {
        let line = line?;
        if let Some((_, hash)) = unseal(line.trim_end()) {
            prev = hash.to_owned();
        }
    }
    Ok(prev)
}

/// Checks the chain of the log at `path`; returns the number of lines.
pub fn verify(path: &Path) -> Result<usize, AuditError> {
    let display = path.display().to_string();
    let file = File::open(path).map_err(|source| AuditError::Io {
        path: display.clone(),
        source,
    })?;
    let broken = |line, problem: &str| AuditError::Broken {
        path: display.clone(),
        line,
        problem: problem.to_owned(),
    };
    let mut prev = GENESIS.to_owned();
    let mut count = 0;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|_| broken(number, "not UTF-8 text"))?;
        let (body, hash) = unseal(&line).ok_or_else(|| broken(number, "no hash member"))?;
        if hex::encode(Sha256::digest(body.as_bytes())) != hash {
            return Err(broken(number, "content does not match its hash (altered)"));
        }
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|_| broken(number, "not a JSON object"))?;
        if value.get("prev").and_then(|p| p.as_str()) != Some(prev.as_str()) {
            return Err(broken(
                number,
                "does not follow the line before it (a line was removed, inserted or reordered)",
            ));
        }
        prev = hash.to_owned();
        count = number;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn soon_lines_join_the_chain_in_order_and_reach_the_file_with_the_next_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        log.append_soon(&record("a"));
        log.append_soon(&record("b"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "");
        log.append(&record("c"));
        assert_eq!(verify(&path).expect("verifies"), 3);
        log.append_soon(&record("d"));
        log.flush();
        assert_eq!(verify(&path).expect("verifies"), 4);
        let text = std::fs::read_to_string(&path).expect("read");
        let packages: Vec<&str> = ["\"a\"", "\"b\"", "\"c\"", "\"d\""]
            .into_iter()
            .filter(|p| text.contains(p))
            .collect();
        assert_eq!(packages.len(), 4);
        assert!(text.find("\"a\"") < text.find("\"d\""));
    }

    #[test]
    fn query_filters_and_pages_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(&dir.path().join("audit.log")).expect("open");
        for name in ["a", "b", "a", "c", "a"] {
            log.append(&record(name));
        }
        let query = |package: &str, before: Option<usize>| AuditQuery {
            package: Some(package.into()),
            limit: Some(2),
            before,
            ..AuditQuery::default()
        };
        let first = log.query(&query("a", None)).expect("query");
        let lines: Vec<u64> = first
            .records
            .iter()
            .map(|r| r["line"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(lines, [5, 3]);
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

    #[test]
    fn chain_verifies_and_names_the_altered_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        for name in ["a", "b", "c"] {
            log.append(&record(name));
        }
        drop(log);
        // Reopening continues the chain.
        AuditLog::open(&path).expect("reopen").append(&record("d"));
        assert_eq!(verify(&path).expect("verifies"), 4);

        let text = std::fs::read_to_string(&path).expect("read");
        let altered = text.replacen("\"package\":\"b\"", "\"package\":\"x\"", 1);
        std::fs::write(&path, altered).expect("write");
        match verify(&path) {
            Err(AuditError::Broken { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a broken chain, got {other:?}"),
        }

        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(1);
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        match verify(&path) {
            Err(AuditError::Broken { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a broken chain, got {other:?}"),
        }
    }
}
