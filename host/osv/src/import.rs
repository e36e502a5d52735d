//! Importing records: reading `all.zip` bundles (recovering what precedes the
//! damage in a truncated one), folders of `{ID}.json` and single files, then
//! writing them in batches of one transaction each.
//!
//! Bad input never stops an import: a file or entry that cannot be read, is not
//! JSON or has no `id` lands in [`ImportReport::skipped`] and the rest goes on.

// Imports read files on the thread that calls them: the CLI, or the
// blocking pool (`sync` runs them through `spawn_blocking`).
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use zip::ZipArchive;

use crate::record::{self, Note, Prepared};
use crate::{ImportReport, Mirror, OsvError, Skipped};

/// Records per transaction: large batches spare the WAL rewriting the same
/// index pages (a 200,000-record import runs twice as fast as with 4,096).
const BATCH: usize = 16_384;
/// Larger records (or zip entries claiming to be) are refused.
const MAX_RECORD_BYTES: u64 = 32 << 20;

/// An input to the importer: a record's bytes, or a failure to read one.
pub enum Item {
    Record { source: String, bytes: Vec<u8> },
    Failed(Skipped),
}

impl Mirror {
    /// Imports `path`: an `all.zip` bundle (any `.zip`), a folder (every
    /// `.json` and `.zip` below it, in name order) or one record file.
    /// `Err` only when `path` itself cannot be read.
    pub fn import_path(&self, path: &Path) -> Result<ImportReport, OsvError> {
        let meta = std::fs::metadata(path).map_err(|source| OsvError::Io {
            path: path.to_owned(),
            source,
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_files(path, &mut files).map_err(|source| OsvError::Io {
                path: path.to_owned(),
                source,
            })?;
            files.sort();
            let items = files.into_iter().flat_map(move |file| {
                let label = file
                    .strip_prefix(path)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                items_of_file(&file, label)
            });
            return Ok(self.import_items(items));
        }
        let label = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(self.import_items(items_of_file(path, label)))
    }

    /// Imports a zip bundle, naming its entries `{label}:{entry}`.
    pub(crate) fn import_zip(&self, path: &Path, label: &str) -> ImportReport {
        self.import_items(zip_items(path, label.to_owned()))
    }

    /// Imports records given as (source name, JSON bytes); the source name is
    /// what [`Skipped::file`] reports.
    pub fn import_records(
        &self,
        records: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> ImportReport {
        self.import_items(
            records
                .into_iter()
                .map(|(source, bytes)| Item::Record { source, bytes }),
        )
    }

    /// Prepares and writes `items` in batches; each batch is one transaction.
    /// Parsing runs on the calling thread while a second thread writes the
    /// previous batch.
    pub fn import_items(&self, items: impl IntoIterator<Item = Item>) -> ImportReport {
        let mut report = ImportReport::default();
        let mut no_order: BTreeMap<String, usize> = BTreeMap::new();
        let written = std::thread::scope(|scope| {
            let (to_writer, batches) = mpsc::sync_channel::<Vec<(String, Prepared)>>(1);
            let writer = scope.spawn(move || {
                let mut written = ImportReport::default();
                for mut batch in batches {
                    self.write(&mut batch, &mut written);
                }
                written
            });
            let mut batch: Vec<(String, Prepared)> = Vec::with_capacity(BATCH);
            let send = move |batch: Vec<(String, Prepared)>, report: &mut ImportReport| {
                if let Err(mpsc::SendError(mut batch)) = to_writer.send(batch) {
                    // The writer is gone (it panicked): write here instead.
                    self.write(&mut batch, report);
                }
            };
            for item in items {
                match item {
                    Item::Failed(skipped) => report.skipped.push(skipped),
                    Item::Record { source, bytes } => match record::prepare(&bytes) {
                        Ok(prepared) => {
                            note(&source, &prepared, &mut no_order);
                            batch.push((source, prepared));
                            if batch.len() >= BATCH {
                                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                                send(full, &mut report);
                            }
                        }
                        Err(e) => report.skipped.push(Skipped {
                            file: source,
                            reason: e.to_string(),
                        }),
                    },
                }
            }
            if !batch.is_empty() {
                send(batch, &mut report);
            }
            // Closes the channel: the writer finishes its last batch and returns.
            drop(send);
            writer.join().unwrap_or_else(|_| {
                tracing::error!("the OSV import writer thread panicked");
                ImportReport::default()
            })
        });
        report.merge(written);
        for (ecosystem, records) in no_order {
            tracing::warn!(
                ecosystem = %ecosystem,
                records,
                "ecosystem has no known version order; its ranges are ignored and versions[] decides"
            );
        }
        if !report.skipped.is_empty() {
            tracing::warn!(
                skipped = report.skipped.len(),
                first = %report.skipped[0].file,
                reason = %report.skipped[0].reason,
                "some OSV records were not imported"
            );
        }
        report
    }

    fn write(&self, batch: &mut Vec<(String, Prepared)>, report: &mut ImportReport) {
        if batch.is_empty() {
            return;
        }
        match self.store().write_batch(batch.iter().map(|(_, p)| p)) {
            Ok((outcome, generation)) => {
                report.imported += outcome.imported.len();
                report.unchanged += outcome.unchanged;
                if let Some(g) = generation {
                    self.advance(g);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "writing a batch of OSV records failed; rolled back");
                report
                    .skipped
                    .extend(batch.iter().map(|(source, _)| Skipped {
                        file: source.clone(),
                        reason: format!("not stored: {e}"),
                    }));
            }
        }
        batch.clear();
    }
}

fn note(source: &str, prepared: &Prepared, no_order: &mut BTreeMap<String, usize>) {
    for n in &prepared.notes {
        match n {
            Note::BadModified => tracing::warn!(
                record = %prepared.id, source,
                "`modified` missing or not RFC 3339; taken as 1970"
            ),
            Note::BadVersion { ecosystem, version } => tracing::warn!(
                record = %prepared.id, ecosystem = %ecosystem, version = %version,
                "range has a version that does not parse; the range is ignored and versions[] decides"
            ),
            Note::NoOrder { ecosystem } => *no_order.entry(ecosystem.clone()).or_default() += 1,
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(&path, out)?;
        } else if kind.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("zip"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn failed(file: impl Into<String>, reason: impl Into<String>) -> Item {
    Item::Failed(Skipped {
        file: file.into(),
        reason: reason.into(),
    })
}

/// The items of one file: a zip's entries, or the file as one record.
fn items_of_file(path: &Path, label: String) -> Box<dyn Iterator<Item = Item>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Box::new(std::iter::once(failed(label, format!("unreadable: {e}")))),
    };
    let mut magic = [0u8; 4];
    let is_zip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        || (file.read_exact(&mut magic).is_ok() && magic == *b"PK\x03\x04");
    if is_zip {
        return zip_items(path, label);
    }
    let mut bytes = Vec::new();
    let read = File::open(path).and_then(|f| f.take(MAX_RECORD_BYTES + 1).read_to_end(&mut bytes));
    Box::new(std::iter::once(match read {
        Err(e) => failed(label, format!("unreadable: {e}")),
        Ok(_) if bytes.len() as u64 > MAX_RECORD_BYTES => {
            failed(label, format!("larger than {MAX_RECORD_BYTES} bytes"))
        }
        Ok(_) => Item::Record {
            source: label,
            bytes,
        },
    }))
}

fn zip_items(path: &Path, label: String) -> Box<dyn Iterator<Item = Item>> {
    let open = || File::open(path).map(BufReader::new);
    let reader = match open() {
        Ok(r) => r,
        Err(e) => return Box::new(std::iter::once(failed(label, format!("unreadable: {e}")))),
    };
    match ZipArchive::new(reader) {
        Ok(archive) => Box::new(ZipEntries {
            label,
            archive,
            next: 0,
        }),
        Err(e) => {
            // No central directory (a truncated download): read the local
            // entries from the start up to the damage.
            let head = failed(
                label.clone(),
                format!("damaged zip ({e}); importing the entries before the damage"),
            );
            let stream: Box<dyn Iterator<Item = Item>> = match open() {
                Ok(reader) => Box::new(StreamEntries {
                    label,
                    reader,
                    done: false,
                }),
                Err(_) => Box::new(std::iter::empty()),
            };
            Box::new(std::iter::once(head).chain(stream))
        }
    }
}

fn wanted(name: &str) -> bool {
    !name.ends_with('/') && name.to_ascii_lowercase().ends_with(".json")
}

fn read_entry(reader: impl Read, size: u64, source: String) -> Item {
    if size > MAX_RECORD_BYTES {
        return failed(source, format!("larger than {MAX_RECORD_BYTES} bytes"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
    match reader.take(MAX_RECORD_BYTES + 1).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > MAX_RECORD_BYTES => {
            failed(source, format!("larger than {MAX_RECORD_BYTES} bytes"))
        }
        Ok(_) => Item::Record { source, bytes },
        Err(e) => failed(source, format!("unreadable zip entry: {e}")),
    }
}

/// Entries of a readable zip, by index.
struct ZipEntries {
    label: String,
    archive: ZipArchive<BufReader<File>>,
    next: usize,
}

impl Iterator for ZipEntries {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        while self.next < self.archive.len() {
            let i = self.next;
            self.next += 1;
            let entry = match self.archive.by_index(i) {
                Ok(entry) => entry,
                Err(e) => return Some(failed(format!("{}:#{i}", self.label), format!("{e}"))),
            };
            let name = match entry.name() {
                Ok(n) => n.into_owned(),
                Err(e) => return Some(failed(format!("{}:#{i}", self.label), format!("{e}"))),
            };
            if !wanted(&name) {
                continue;
            }
            let size = entry.size();
            return Some(read_entry(entry, size, format!("{}:{name}", self.label)));
        }
        None
    }
}

/// Entries of a zip without a usable central directory, read front to back.
struct StreamEntries {
    label: String,
    reader: BufReader<File>,
    done: bool,
}

impl Iterator for StreamEntries {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        while !self.done {
            let entry = match zip::read::read_zipfile_from_stream(&mut self.reader) {
                Ok(Some(entry)) => entry,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(failed(self.label.clone(), format!("zip ends early: {e}")));
                }
            };
            let name = match entry.name() {
                Ok(n) => n.into_owned(),
                Err(e) => {
                    self.done = true;
                    return Some(failed(self.label.clone(), format!("{e}")));
                }
            };
            if !wanted(&name) {
                continue;
            }
            let size = entry.size();
            let item = read_entry(entry, size, format!("{}:{name}", self.label));
            if matches!(item, Item::Failed(_)) {
                // The stream position is unknown after a failed entry.
                self.done = true;
            }
            return Some(item);
        }
        None
    }
}
