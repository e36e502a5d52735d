//! The chain itself: sealing a line, checking one, and the files a chain
//! spans (numbered rotated files, oldest first, then the live file).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::AuditError;

/// The `prev` of the first line of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Digits in a rotated file's number (`audit.log.000042`).
const NUMBER_DIGITS: usize = 6;

/// Adds the `hash` member to a serialised line; returns the line (with newline) and hash.
pub fn seal(body: &str) -> (String, String) {
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    let open = body.strip_suffix('}').unwrap_or(body);
    (format!("{open},\"hash\":\"{hash}\"}}\n"), hash)
}

/// Splits a written line into the body that was hashed and the hash it claims.
pub fn unseal(line: &str) -> Option<(String, &str)> {
    let (open, hash) = line.strip_suffix("\"}")?.rsplit_once(",\"hash\":\"")?;
    Some((format!("{open}}}"), hash))
}

/// The line's own hash when its content matches it (the line without newline).
pub fn intact_hash(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    let (body, hash) = unseal(text)?;
    (hex::encode(Sha256::digest(body.as_bytes())) == hash).then(|| hash.to_owned())
}

/// Where a chain lives: `dir/base` is the live file, `dir/base.NNNNNN` the
/// rotated ones.
#[derive(Debug, Clone)]
pub struct Files {
    pub live: PathBuf,
}

impl Files {
    /// The chain of the live file `path`, or of `path/audit.log` when `path`
    /// is a directory.
    pub fn of(path: &Path) -> Self {
        let live = if path.is_dir() {
            path.join(crate::config::defaults::AUDIT_FILE)
        } else {
            path.to_owned()
        };
        Files { live }
    }

    pub fn dir(&self) -> &Path {
        self.live.parent().unwrap_or(Path::new("."))
    }

    fn base(&self) -> String {
        self.live
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// A file of its own beside the chain (`audit.log.index.sqlite` ...).
    pub fn beside(&self, suffix: &str) -> PathBuf {
        self.dir().join(format!("{}.{suffix}", self.base()))
    }

    /// The path rotated file `number` has.
    pub fn numbered(&self, number: u64) -> PathBuf {
        self.beside(&format!("{number:0width$}", width = NUMBER_DIGITS))
    }

    /// The numbers of the rotated files present, oldest first.
    pub fn rotated(&self) -> std::io::Result<Vec<u64>> {
        let prefix = format!("{}.", self.base());
        let mut numbers = Vec::new();
        let entries = match std::fs::read_dir(self.dir()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(numbers),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name();
            let number = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .filter(|digits| digits.len() >= NUMBER_DIGITS)
                .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse::<u64>().ok());
            numbers.extend(number);
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// The number the live file gets when it is rotated.
    pub fn live_number(&self) -> std::io::Result<u64> {
        Ok(self.rotated()?.last().map_or(1, |last| last + 1))
    }

    /// The path of file `number`: rotated, or still the live file.
    pub fn path_of(&self, number: u64, live_number: u64) -> PathBuf {
        if number == live_number {
            self.live.clone()
        } else {
            self.numbered(number)
        }
    }
}

/// What `gatehouse audit verify` found.
#[derive(Debug, Default, PartialEq)]
pub struct Verified {
    pub files: usize,
    pub lines: usize,
    /// `recovered` records: torn tails cut after crashes (each names its cut).
    pub recovered: usize,
    /// The oldest files were removed by retention: the chain starts at a
    /// rotated file other than the first, linked to a line no longer kept.
    pub pruned_start: bool,
}

/// Checks the whole chain at `path` (the live file, or the directory holding
/// it): every rotated file in order, then the live file, as one chain.
pub fn verify(path: &Path) -> Result<Verified, AuditError> {
    let files = Files::of(path);
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| AuditError::Io { path, source }
    };
    let rotated = files.rotated().map_err(io(files.dir()))?;
    let mut paths: Vec<PathBuf> = rotated.iter().map(|&n| files.numbered(n)).collect();
    if files.live.exists() || paths.is_empty() {
        paths.push(files.live.clone());
    }
    let mut verified = Verified {
        pruned_start: rotated.first().is_some_and(|&first| first > 1),
        ..Verified::default()
    };
    let mut prev: Option<String> = (!verified.pruned_start).then(|| GENESIS.to_owned());
    for path in &paths {
        let file = File::open(path).map_err(io(path))?;
        verify_file(path, BufReader::new(file), &mut prev, &mut verified)?;
        verified.files += 1;
    }
    Ok(verified)
}

/// Checks one file's lines against the chain so far (`prev`: the hash the
/// next line must follow; `None` accepts any, for a pruned start).
fn verify_file(
    path: &Path,
    mut reader: impl BufRead,
    prev: &mut Option<String>,
    verified: &mut Verified,
) -> Result<(), AuditError> {
    let broken = |line, problem: &str| AuditError::Broken {
        path: path.display().to_string(),
        line,
        problem: problem.to_owned(),
    };
    let mut buffer = Vec::new();
    let mut number = 0;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|source| AuditError::Io {
                path: path.display().to_string(),
                source,
            })?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let Some(line) = buffer.strip_suffix(b"\n") else {
            return Err(broken(
                number,
                "the last line is incomplete (a torn write; opening the log seals it)",
            ));
        };
        let line = std::str::from_utf8(line).map_err(|_| broken(number, "not UTF-8 text"))?;
        let (body, hash) = unseal(line).ok_or_else(|| broken(number, "no hash member"))?;
        if hex::encode(Sha256::digest(body.as_bytes())) != hash {
            return Err(broken(number, "content does not match its hash (altered)"));
        }
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|_| broken(number, "not a JSON object"))?;
        let linked = value.get("prev").and_then(|p| p.as_str());
        if prev.as_deref().is_some_and(|prev| linked != Some(prev)) {
            return Err(broken(
                number,
                "does not follow the line before it (a line was removed, inserted or reordered)",
            ));
        }
        if value.get("event").and_then(|e| e.as_str()) == Some(super::RECOVERED) {
            verified.recovered += 1;
        }
        *prev = Some(hash.to_owned());
        verified.lines += 1;
    }
}
