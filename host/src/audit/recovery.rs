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

/// How far back from the end a good line is looked for before the file is
/// declared not an audit log (rather than moving all of it aside).
const MAX_TAIL_SEARCH: u64 = 64 << 20;

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
    let mut torn = Vec::with_capacity((len - end) as usize);
    file.seek(SeekFrom::Start(end))?;
    file.read_to_end(&mut torn)?;
    let sha256 = hex::encode(Sha256::digest(&torn));
    let saved_to = files.beside(&format!("torn-{end}-{}", &sha256[..16]));
    // The side file is durable before the bytes leave the log.
    let mut side = File::create(&saved_to)?;
    side.write_all(&torn)?;
    side.sync_all()?;
    sync_dir(files.dir())?;
    file.set_len(end)?;
    file.sync_all()?;
    tracing::warn!(
        bytes = torn.len(),
        offset = end,
        saved_to = %saved_to.display(),
        "audit log: a torn tail was cut off and saved aside"
    );
    Ok(Tail {
        end,
        last_hash,
        cut: Some(Cut {
            offset: end,
            bytes: torn.len() as u64,
            sha256,
            saved_to,
        }),
    })
}

/// The end offset and hash of the last line (newline-terminated) whose
/// content matches its hash, searching back from `len`.
fn last_good_line(file: &mut File, len: u64) -> std::io::Result<(u64, Option<String>)> {
    let mut window: u64 = 64 << 10;
    loop {
        let start = len.saturating_sub(window);
        let mut bytes = Vec::with_capacity((len - start) as usize);
        file.seek(SeekFrom::Start(start))?;
        std::io::Read::take(&mut *file, len - start).read_to_end(&mut bytes)?;
        // Line ends (exclusive offsets in `bytes`), newest first.
        let mut ends: Vec<usize> = memchr::memchr_iter(b'\n', &bytes).map(|i| i + 1).collect();
        ends.reverse();
        for (i, &end) in ends.iter().enumerate() {
            let begin = match ends.get(i + 1) {
                Some(&begin) => begin,
                // The first line in the window is whole only at the file's start.
                None if start == 0 => 0,
                None => break,
            };
            if let Some(hash) = intact_hash(&bytes[begin..end - 1]) {
                return Ok((start + end as u64, Some(hash)));
            }
        }
        if start == 0 {
            // Not one whole line: all of it is the torn tail.
            return Ok((0, None));
        }
        if window >= MAX_TAIL_SEARCH {
            return Err(not_a_log(len));
        }
        window *= 4;
    }
}

fn not_a_log(len: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "no intact audit line in the last {} bytes; this is not an audit log gatehouse can continue (move it aside)",
            len.min(MAX_TAIL_SEARCH)
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
