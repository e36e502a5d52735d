//! The writer thread: the only code that touches the log files. Callers seal
//! lines into a queue in memory (the chain order is fixed there); this thread
//! writes them in batches, fsyncs, indexes, rotates and prunes, and publishes
//! how far the log is durable — or why it cannot be written — for callers
//! waiting to answer.
//!
//! A write cut short (disk full, read-only) is resumed from the byte where it
//! stopped, never repeated, so the file stays one chain.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::chain::Files;
use super::index::{Index, Row};
use super::recovery::sync_dir;
use super::{AuditSettings, INDEX_SUFFIX, SyncMode};

/// How long the writer waits before retrying a failed write or fsync.
const RETRY: Duration = Duration::from_millis(200);
/// Retries of a failing write once the log is closing, before giving up.
const RETRIES_WHEN_CLOSING: usize = 10;
const DAY_MS: i64 = 86_400_000;

/// Sealed lines waiting for the writer.
#[derive(Default)]
pub struct Queue {
    /// The hash the next line links to.
    pub prev: String,
    /// The sequence number of the last sealed line.
    pub sealed: u64,
    pub bytes: Vec<u8>,
    pub rows: Vec<Row>,
    /// Write now, whatever the sync mode's interval.
    pub flush: bool,
    pub closing: bool,
}

/// How far the log is on disk, and why not further.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Lines up to this sequence number are written and synced.
    pub durable: u64,
    /// Set while writes fail (disk full, read-only); cleared when one succeeds.
    pub failure: Option<Arc<str>>,
}

pub struct Shared {
    pub queue: Mutex<Queue>,
    pub wake: Condvar,
    pub progress: tokio::sync::watch::Sender<Progress>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A batch taken from the queue.
struct Batch {
    bytes: Vec<u8>,
    rows: Vec<Row>,
    through: u64,
    closing: bool,
}

pub struct Writer {
    pub shared: Arc<Shared>,
    pub files: Files,
    pub settings: AuditSettings,
    pub file: File,
    /// The number the live file gets when rotated (its rows' `file`).
    pub number: u64,
    /// Bytes in the live file.
    pub len: u64,
    /// The UTC day of the live file's first line (for daily rotation).
    pub day: Option<i64>,
    pub index: Index,
    /// An index write failed: catch up from the files before the next one.
    pub index_stale: bool,
}

impl Writer {
    pub fn run(mut self) {
        let mut last = Instant::now();
        while let Some(batch) = self.next_batch(last) {
            last = Instant::now();
            if !self.commit(batch) {
                return;
            }
        }
    }

    /// Writes what is queued now, on the calling thread (at open, before
    /// the thread starts).
    pub fn write_queued(&mut self) -> bool {
        let batch = {
            let mut queue = self.shared.lock();
            Batch {
                bytes: std::mem::take(&mut queue.bytes),
                rows: std::mem::take(&mut queue.rows),
                through: queue.sealed,
                closing: true,
            }
        };
        self.commit(batch)
    }

    /// Waits for lines to write (at once when syncing always, at most every
    /// interval when batching); `None` once closed with nothing left.
    fn next_batch(&self, last: Instant) -> Option<Batch> {
        let mut queue = self.shared.lock();
        loop {
            let due = match self.settings.sync {
                SyncMode::Always => true,
                SyncMode::Batch => last.elapsed() >= self.settings.batch_interval,
            };
            let pending = !queue.bytes.is_empty();
            if queue.flush || queue.closing || (pending && due) {
                if queue.closing && !pending {
                    self.publish(queue.sealed, None);
                    return None;
                }
                queue.flush = false;
                return Some(Batch {
                    bytes: std::mem::take(&mut queue.bytes),
                    rows: std::mem::take(&mut queue.rows),
                    through: queue.sealed,
                    closing: queue.closing,
                });
            }
            queue = if pending {
                let left = self.settings.batch_interval.saturating_sub(last.elapsed());
                self.shared
                    .wake
                    .wait_timeout(queue, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            } else {
                self.shared
                    .wake
                    .wait(queue)
                    .unwrap_or_else(|e| e.into_inner())
            };
        }
    }

    /// Writes, syncs and indexes one batch; false when the log gave up.
    fn commit(&mut self, mut batch: Batch) -> bool {
        if self.settings.rotate_daily
            && self.len > 0
            && let (Some(day), Some(first)) = (self.day, batch.rows.first())
            && first.time_ms.div_euclid(DAY_MS) != day
        {
            self.rotate();
        }
        let mut written = 0;
        let mut attempts = 0;
        while let Err(error) = self.persist(&batch.bytes, &mut written) {
            attempts += 1;
            tracing::error!(%error, path = %self.files.live.display(), written, of = batch.bytes.len(), "audit write failed; requests are refused until it succeeds");
            self.publish(self.durable(), Some(error.to_string().into()));
            let closing = batch.closing || self.shared.lock().closing;
            if closing && attempts >= RETRIES_WHEN_CLOSING {
                tracing::error!(
                    bytes = batch.bytes.len() - written,
                    "audit log closed with records it could not write"
                );
                return false;
            }
            std::thread::sleep(RETRY);
        }
        let mut offset = self.len;
        for row in &mut batch.rows {
            row.file = self.number;
            row.offset = offset;
            offset += row.len;
        }
        if self.len == 0 {
            self.day = batch.rows.first().map(|r| r.time_ms.div_euclid(DAY_MS));
        }
        self.len = offset;
        self.index_rows(&batch.rows);
        self.publish(batch.through, None);
        if self
            .settings
            .rotate_bytes
            .is_some_and(|limit| self.len >= limit)
        {
            self.rotate();
        }
        true
    }

    /// Writes `bytes` from `written` on, then syncs; `written` keeps how far
    /// it got, so a retry continues rather than repeats.
    fn persist(&mut self, bytes: &[u8], written: &mut usize) -> std::io::Result<()> {
        while *written < bytes.len() {
            match self.file.write(&bytes[*written..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => *written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.file.sync_data()
    }

    fn durable(&self) -> u64 {
        self.shared.progress.borrow().durable
    }

    fn publish(&self, durable: u64, failure: Option<Arc<str>>) {
        self.shared
            .progress
            .send_replace(Progress { durable, failure });
    }

    fn index_rows(&mut self, rows: &[Row]) {
        let result = if self.index_stale {
            self.index
                .catch_up(&self.files, self.number)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            self.index.insert(rows).map_err(|e| e.to_string())
        };
        self.index_stale = result.is_err();
        if let Err(error) = result {
            tracing::error!(%error, index = %self.files.beside(INDEX_SUFFIX).display(), "audit index write failed; queries may miss the newest records until it recovers");
        }
    }

    /// Renames the live file to its number and starts a new one; the chain
    /// carries on, so the new file's first line links to the old one's last.
    fn rotate(&mut self) {
        let rotated = self.files.numbered(self.number);
        let result = std::fs::rename(&self.files.live, &rotated)
            .and_then(|()| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.files.live)
            })
            .and_then(|file| sync_dir(self.files.dir()).map(|()| file));
        match result {
            Ok(file) => {
                self.file = file;
                self.number += 1;
                self.len = 0;
                self.day = None;
                self.prune();
            }
            Err(error) => {
                tracing::error!(%error, "audit log rotation failed; writing on into the current file");
            }
        }
    }

    /// Removes the oldest rotated files past the retention count.
    fn prune(&mut self) {
        let Some(keep) = self.settings.keep_files else {
            return;
        };
        let Ok(rotated) = self.files.rotated() else {
            return;
        };
        let excess = rotated.len().saturating_sub(keep);
        for &number in &rotated[..excess] {
            if let Err(error) = std::fs::remove_file(self.files.numbered(number)) {
                tracing::warn!(%error, number, "removing an old audit file failed");
            }
        }
        if let Some(&first_kept) = rotated.get(excess)
            && let Err(error) = self.index.forget_files_before(first_kept)
        {
            tracing::warn!(%error, "dropping pruned files from the audit index failed");
        }
    }
}
