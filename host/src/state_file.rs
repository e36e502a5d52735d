//! Operator data kept as one JSON file each (exceptions, reviews): read whole
//! at start, written whole through a temp file and a rename, so a crash leaves
//! either the old or the new file and never half of one.

// Called from the blocking pool (admin changes) and at start-up.
#![allow(clippy::disallowed_methods)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct StateFileError {
    path: PathBuf,
    problem: String,
}

/// Reads `path`; a missing file is the default value.
pub fn load<T: serde::de::DeserializeOwned + Default>(path: &Path) -> Result<T, StateFileError> {
    let fail = |problem: String| StateFileError {
        path: path.to_owned(),
        problem,
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Replaces `path` with `value`, durably.
pub fn save<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), StateFileError> {
    let fail = |problem: String| StateFileError {
        path: path.to_owned(),
        problem,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| fail(e.to_string()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(e.to_string()))?;
    tmp.write_all(&bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| fail(e.to_string()))?;
    tmp.persist(path).map_err(|e| fail(e.to_string()))?;
    Ok(())
}
