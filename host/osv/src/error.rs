//! The crate's error type.

use std::path::PathBuf;

/// Errors of the mirror. Bad records are not errors: they are reported in
/// [`crate::ImportReport::skipped`].
#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    #[error("OSV mirror database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding a stored entry: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("fetching {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("fetching {url}: the body is larger than {cap} bytes, the most read from this source")]
    TooLarge { url: String, cap: u64 },
    #[error("fetching {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Bundle { url: String, reason: String },
    #[error("syncing {ecosystem}: {source}")]
    Sync {
        ecosystem: String,
        #[source]
        source: Box<OsvError>,
    },
    #[error("background task failed: {0}")]
    Task(String),
}

impl OsvError {
    /// The message with every underlying cause, `: `-separated (reqwest's own
    /// message leaves out the "connection refused" an operator needs).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let said = cause.to_string();
            if !text.contains(&said) {
                text.push_str(": ");
                text.push_str(&said);
            }
            source = cause.source();
        }
        text
    }
}
