//! Crash recovery: a write cut short by a crash (or a full disk) leaves a
//! torn last line. Opening the log finds the last line that still matches its
//! hash, moves everything after it to a side file and truncates there, so the
//! chain continues from the last good line; the caller then appends a
//! `recovered` record naming the cut.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::chain::{Files, intact_hash};

/// How many bytes of complete lines that fail their hash are looked through,
/// back from the end, before the file is declared not an audit log (rather
/// than moving all of it aside). Also the longest line read as a record: a
/// longer one cannot be one and belongs to the torn tail.
const MAX_TAIL_SEARCH: u64 = 64 << 20;

/// How much is read at a time while looking back for a line's start.
const SCAN_CHUNK: usize = 64 << 10;

/// What a sealed torn tail was.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    /// Where the cut bytes were in the live file.
    pub offset: u64,
    pub bytes: u64,
    pub sha256: String,
    /// The side file now holding them.
    pub saved_to: PathBuf,
}

/// The end of the live file: where its good lines end and the hash of the
/// last one (`None` when it has no lines).
#[derive(Debug)]
pub struct Tail {
    pub end: u64,
    pub last_hash: Option<String>,
    pub cut: Option<Cut>,
}

/// Finds the live file's last good line and seals off anything after it.
pub fn seal_tail(files: &Files) -> std::io::Result<Tail> {
    let mut file = match OpenOptions::new().read(true).write(true).open(&files.live) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Tail {
                end: 0,
                last_hash: None,
                cut: None,
            });
        }
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let (end, last_hash) = last_good_line(&mut file, len)?;
    if end == len {
        return Ok(Tail {
            end,
            last_hash,
            cut: None,
        });
    }
    // The tail may be huge (a torn line of any length): streamed aside,
    // hashed on the way, then named by its hash.
    let pending = files.beside(&format!("torn-{end}-partial"));
    let mut side = File::create(&pending)?;
    file.seek(SeekFrom::Start(end))?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0; SCAN_CHUNK];
    loop {
        let read = file.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        hasher.update(&chunk[..read]);
        side.write_all(&chunk[..read])?;
    }
    let sha256 = hex::encode(hasher.finalize());
    let saved_to = files.beside(&format!("torn-{end}-{}", &sha256[..16]));
    // The side file is durable before the bytes leave the log.
    side.sync_all()?;
    std::fs::rename(&pending, &saved_to)?;
    sync_dir(files.dir())?;
    file.set_len(end)?;
    file.sync_all()?;
    tracing::warn!(
        bytes = len - end,
        offset = end,
        saved_to = %saved_to.display(),
        "audit log: a torn tail was cut off and saved aside"
    );
    Ok(Tail {
        end,
        last_hash,
        cut: Some(Cut {
            offset: end,
            bytes: len - end,
            sha256,
            saved_to,
        }),
    })
}

/// The end offset and hash of the last line (newline-terminated) whose
/// content matches its hash, searching back from `len`.
fn last_good_line(file: &mut File, len: u64) -> std::io::Result<(u64, Option<String>)> {
    search_back(file, len, MAX_TAIL_SEARCH)
}

/// [`last_good_line`], looking through at most `budget` bytes of lines that
/// fail their hash; lines longer than `budget` are skipped unread, so the
/// search never fails on one huge (torn) line, however long.
fn search_back(file: &mut File, len: u64, budget: u64) -> std::io::Result<(u64, Option<String>)> {
    let mut failed: u64 = 0;
    // Lines end after a newline; bytes after the last one are a torn line.
    let Some(mut newline) = newline_before(file, len)? else {
        return Ok((0, None));
    };
    loop {
        let begin = newline_before(file, newline)?.map_or(0, |at| at + 1);
        let line_len = newline - begin;
        if line_len <= budget {
            let mut line = vec![0; line_len as usize];
            file.seek(SeekFrom::Start(begin))?;
            file.read_exact(&mut line)?;
            if let Some(hash) = intact_hash(&line) {
                return Ok((newline + 1, Some(hash)));
            }
            failed += line_len + 1;
            if failed > budget {
                return Err(not_a_log(budget));
            }
        }
        if begin == 0 {
            // Not one whole line: all of it is the torn tail.
            return Ok((0, None));
        }
        newline = begin - 1;
    }
}

/// The offset of the last newline before `end`, reading back in chunks.
fn newline_before(file: &mut File, mut end: u64) -> std::io::Result<Option<u64>> {
    let mut chunk = vec![0; SCAN_CHUNK];
    while end > 0 {
        let start = end.saturating_sub(SCAN_CHUNK as u64);
        let bytes = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(bytes)?;
        if let Some(at) = memchr::memrchr(b'\n', bytes) {
            return Ok(Some(start + at as u64));
        }
        end = start;
    }
    Ok(None)
}

fn not_a_log(budget: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "no intact audit line within {budget} bytes of lines back from the end; this is not an audit log gatehouse can continue (move it aside)"
        ),
    )
}

/// The hash of the last line of a complete (rotated) file.
pub fn last_hash_of(path: &Path) -> std::io::Result<Option<String>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    Ok(last_good_line(&mut file, len)?.1)
}

/// Makes a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::audit::chain::seal;

    /// A file holding `bytes`, opened for reading.
    fn file_of(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut named = tempfile::NamedTempFile::new().expect("temp file");
        named.write_all(bytes).expect("write");
        let file = File::open(named.path()).expect("open");
        (named, file)
    }

    #[test]
    fn a_torn_line_longer_than_the_budget_is_the_tail() {
        let (good, hash) = seal(r#"{"event":"serve"}"#);
        // Past the budget and past several scan chunks, with no newline.
        let torn = vec![b'x'; 3 * SCAN_CHUNK + 7];
        for tail in [torn.clone(), [torn.as_slice(), b"\n"].concat()] {
            let bytes = [good.as_bytes(), &tail].concat();
            let (_named, mut file) = file_of(&bytes);
            let found = search_back(&mut file, bytes.len() as u64, 1024).expect("a log");
            assert_eq!(found, (good.len() as u64, Some(hash.clone())));
        }
    }

    #[test]
    fn many_failing_lines_are_not_a_log() {
        let (good, _) = seal(r#"{"event":"serve"}"#);
        let bytes = [good.as_bytes(), &b"not a record\n".repeat(200)].concat();
        let (_named, mut file) = file_of(&bytes);
        assert!(search_back(&mut file, bytes.len() as u64, 1024).is_err());
        let (_named, mut file) = file_of(&bytes);
        let found = search_back(&mut file, bytes.len() as u64, 1 << 20).expect("a log");
        assert_eq!(found.0, good.len() as u64);
    }
}
