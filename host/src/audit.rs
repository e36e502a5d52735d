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
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
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
            state: Mutex::new(Tail { file, prev }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` and flushes it. A failure is logged: the decision stands.
    pub fn append(&self, record: &AuditRecord) {
        let mut tail = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let body = serde_json::to_string(&Line {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            record,
            prev: &tail.prev,
        })
        .unwrap_or_default();
        let (line, hash) = seal(&body);
        match tail.file.write_all(line.as_bytes()) {
            Ok(()) => tail.prev = hash,
            Err(error) => {
                tracing::error!(%error, path = %self.path.display(), "audit write failed")
            }
        }
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
