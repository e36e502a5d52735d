//! Advisories as the gate sees them: the OSV mirror, whether its data is
//! current per ecosystem, the background sync that keeps it so, and the live
//! fallback for packages it has no record for.
//!
//! An ecosystem is *watched* when `osv.ecosystems` names it or, by default,
//! when an adapter for it is in `adapters_dir` and sync is on. A watched
//! ecosystem is *stale* when it has never synced or its last successful sync
//! is older than `osv.max_age`; `/healthz`, `/metrics`, `gatehouse osv status`
//! and the `on_stale` host key of policies that import `osv` all read that
//! one judgement ([`health`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_osv::live::Live;
use gatehouse_osv::{EcosystemStatus, Mirror};

use super::{AdvisorySource, Prepare};
use crate::bindings::{Advisory, PackageAdvisory};
use crate::config::{OsvSettings, Settings};

/// The OSV mirror's database, in the data dir.
pub const OSV_DATABASE: &str = "osv.sqlite";

/// First wait after a failed sync; it doubles up to the sync interval.
const FIRST_RETRY: Duration = Duration::from_secs(30);
/// A sync's connection attempt, and each wait for more bytes, end after these.
const SYNC_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const SYNC_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How often `serve` looks for adapters of ecosystems it does not watch yet
/// (a new one is synced at once).
const REWATCH_EVERY: Duration = Duration::from_secs(60);

/// One ecosystem's advisory data, and whether it is current.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EcosystemHealth {
    pub ecosystem: String,
    pub records: usize,
    /// When the last successful sync finished, unix seconds.
    pub last_sync: Option<i64>,
    /// Seconds since then.
    pub age_seconds: Option<u64>,
    /// Where the data is synced from.
    pub source: Option<String>,
    /// Why the last sync attempt failed, if it did.
    pub last_error: Option<String>,
    /// Why the data is not current; `None` when it is (or is not watched).
    pub stale: Option<String>,
}

/// Sets the OSV gauges of `/metrics` from `health`.
pub fn publish(health: &[EcosystemHealth]) {
    for entry in health {
        crate::metrics::metrics().observe_osv(
            &entry.ecosystem,
            entry.records,
            entry.age_seconds,
            entry.stale.is_some(),
        );
    }
}

/// The mirror with its freshness judgement and live fallback.
pub struct Advisories {
    pub mirror: Arc<Mirror>,
    settings: OsvSettings,
    /// Where adapters are dropped: their ecosystems are watched (see [`watched`]).
    adapters_dir: PathBuf,
    watched: RwLock<Vec<String>>,
    /// The mirror's per-ecosystem state, re-read after each sync and every minute.
    snapshot: RwLock<Vec<EcosystemStatus>>,
    live: Option<Live>,
}

/// The OSV ecosystems of the adapters in `adapters_dir` (by file stem).
// A directory listing, at start-up and once a minute.
#[allow(clippy::disallowed_methods)]
pub fn adapter_ecosystems(adapters_dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(adapters_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension()? == "wasm").then_some(())?;
            let stem = path.file_stem()?.to_str()?.to_owned();
            crate::ecosystem::canonical_ecosystem(&stem).map(str::to_owned)
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The ecosystems whose data is synced and judged.
pub fn watched(settings: &OsvSettings, adapters_dir: &Path) -> Vec<String> {
    if !settings.ecosystems.is_empty() {
        settings.ecosystems.clone()
    } else if settings.source.is_some() {
        adapter_ecosystems(adapters_dir)
    } else {
        Vec::new()
    }
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `3h2m`-style, to the second (one word, for tables).
pub fn age_text(seconds: u64) -> String {
    humantime::format_duration(Duration::from_secs(seconds))
        .to_string()
        .replace(' ', "")
}

/// Per ecosystem (watched ones first, then any other the mirror holds): its
/// figures and, for watched ones, why it is stale.
pub fn health(
    snapshot: &[EcosystemStatus],
    watched: &[String],
    settings: &OsvSettings,
    now: i64,
) -> Vec<EcosystemHealth> {
    let others = snapshot
        .iter()
        .map(|s| &s.ecosystem)
        .filter(|e| !watched.contains(e));
    watched
        .iter()
        .chain(others)
        .map(|ecosystem| {
            let status = snapshot.iter().find(|s| &s.ecosystem == ecosystem);
            let last_sync = status.and_then(|s| s.last_sync);
            let age_seconds = last_sync.map(|at| u64::try_from(now - at).unwrap_or(0));
            let source = status
                .and_then(|s| s.source.clone())
                .or_else(|| settings.source.clone());
            let last_error = status.and_then(|s| s.last_error.as_deref()).map(|error| {
                source
                    .as_deref()
                    .map_or_else(|| error.to_owned(), |s| error.replace(s, &redacted(s)))
            });
            let records = status.map_or(0, |s| s.records);
            let stale = if watched.contains(ecosystem) {
                stale_reason(
                    ecosystem,
                    records,
                    age_seconds,
                    last_error.as_deref(),
                    settings,
                )
            } else {
                None
            };
            EcosystemHealth {
                ecosystem: ecosystem.clone(),
                records,
                last_sync,
                age_seconds,
                source: source.as_deref().map(redacted),
                last_error,
                stale,
            }
        })
        .collect()
}

/// `url` without a user name or password (`/healthz` answers anyone).
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn stale_reason(
    ecosystem: &str,
    records: usize,
    age_seconds: Option<u64>,
    last_error: Option<&str>,
    settings: &OsvSettings,
) -> Option<String> {
    let failed = last_error
        .map(|e| format!("; the last sync failed: {e}"))
        .unwrap_or_default();
    let Some(age) = age_seconds else {
        return Some(match (&settings.source, records) {
            (Some(source), 0) if last_error.is_none() => format!(
                "no advisory data for {ecosystem} yet: the first sync from {} has not finished",
                redacted(source)
            ),
            (Some(_), 0) => format!("no advisory data for {ecosystem}{failed}"),
            (None, 0) => format!(
                "no advisory data for {ecosystem}: sync is off (osv.sync: false) and nothing was imported"
            ),
            (_, records) => format!(
                "{ecosystem} has {records} records from an import but was never synced, so their age is unknown{failed}"
            ),
        });
    };
    (age > settings.max_age.as_secs()).then(|| {
        format!(
            "advisory data for {ecosystem} is {} old (osv.max_age {}){failed}",
            age_text(age),
            age_text(settings.max_age.as_secs())
        )
    })
}

impl Advisories {
    pub fn new(
        mirror: Arc<Mirror>,
        settings: OsvSettings,
        adapters_dir: &Path,
    ) -> anyhow::Result<Self> {
        let live = match &settings.live {
            Some((url, ttl)) => Some(Live::new(url, *ttl)?),
            None => None,
        };
        let advisories = Advisories {
            mirror,
            watched: RwLock::new(watched(&settings, adapters_dir)),
            settings,
            adapters_dir: adapters_dir.to_owned(),
            snapshot: RwLock::new(Vec::new()),
            live,
        };
        advisories.refresh();
        Ok(advisories)
    }

    /// Re-reads the mirror's per-ecosystem state (a few SQLite counts).
    pub fn refresh(&self) {
        match self.mirror.status() {
            Ok(status) => *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = status,
            Err(error) => tracing::warn!(%error, "reading the OSV mirror's status failed"),
        }
    }

    /// Each ecosystem's figures and staleness, as of now.
    pub fn report(&self) -> Vec<EcosystemHealth> {
        let snapshot = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        health(&snapshot, &self.watching(), &self.settings, now_seconds())
    }

    fn watching(&self) -> Vec<String> {
        self.watched
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Looks at `adapters_dir` again; true when the watched set changed.
    pub fn rewatch(&self) -> bool {
        let now = watched(&self.settings, &self.adapters_dir);
        let mut watched = self.watched.write().unwrap_or_else(|e| e.into_inner());
        if *watched == now {
            return false;
        }
        tracing::info!(ecosystems = ?now, "OSV: watching the ecosystems of the adapters now present");
        *watched = now;
        true
    }

    /// Logs what the mirror holds: a warning per stale ecosystem.
    pub fn log_state(&self) {
        for ecosystem in self.report() {
            match &ecosystem.stale {
                Some(reason) => tracing::warn!(
                    ecosystem = %ecosystem.ecosystem,
                    "{reason}; until it is current, policies that read advisories apply their on_stale setting (default warn)"
                ),
                None => tracing::info!(
                    ecosystem = %ecosystem.ecosystem,
                    records = ecosystem.records,
                    age = %ecosystem.age_seconds.map_or_else(|| "unknown".to_owned(), age_text),
                    "OSV advisory data"
                ),
            }
        }
        if self.watching().is_empty() && self.report().iter().all(|e| e.records == 0) {
            match &self.live {
                Some(live) => tracing::warn!(
                    live = %redacted(live.base()),
                    "the OSV mirror is empty and no ecosystem is synced: only the live fallback answers"
                ),
                None => tracing::warn!(
                    "the OSV mirror is empty and no ecosystem is synced: the malicious and vulnerability policies check against nothing"
                ),
            }
        }
    }

    /// Syncs the watched ecosystems now and then every interval, in the
    /// background; a failure is logged and retried sooner (30 s, doubling).
    /// Every minute it re-reads the mirror's figures (an `osv import` by
    /// another process shows) and the adapters (a new one's ecosystem is
    /// synced at once).
    pub fn spawn_upkeep(self: &Arc<Self>) {
        let Some(source) = self.settings.source.clone() else {
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(REWATCH_EVERY).await;
                    let refreshed = this.clone();
                    let _ = tokio::task::spawn_blocking(move || refreshed.refresh()).await;
                }
            });
            return;
        };
        if self.watching().is_empty() {
            tracing::warn!(
                %source,
                "OSV sync is on but no ecosystem is watched yet (no adapters for npm, PyPI, crates.io, Go or Maven, and osv.ecosystems is empty)"
            );
        }
        let this = self.clone();
        let interval = self.settings.interval;
        tokio::spawn(async move {
            // No overall timeout (a full all.zip takes minutes), but a source
            // that stops answering fails the sync instead of hanging it.
            let client = gatehouse_osv::http::client_builder()
                .connect_timeout(SYNC_CONNECT_TIMEOUT)
                .read_timeout(SYNC_READ_TIMEOUT)
                .build()
                .unwrap_or_default();
            let mut backoff = FIRST_RETRY;
            let mut due = tokio::time::Instant::now();
            loop {
                let rewatched = this.clone();
                if tokio::task::spawn_blocking(move || {
                    rewatched.refresh();
                    rewatched.rewatch()
                })
                .await
                .unwrap_or(false)
                {
                    due = tokio::time::Instant::now();
                }
                let ecosystems = this.watching();
                let now = tokio::time::Instant::now();
                if ecosystems.is_empty() || due > now {
                    let until = if ecosystems.is_empty() {
                        now + REWATCH_EVERY
                    } else {
                        due.min(now + REWATCH_EVERY)
                    };
                    tokio::time::sleep_until(until).await;
                    continue;
                }
                let outcome =
                    gatehouse_osv::sync(&this.mirror, &client, &source, &ecosystems).await;
                let refreshed = this.clone();
                let _ = tokio::task::spawn_blocking(move || refreshed.refresh()).await;
                let wait = match outcome {
                    Ok(report) => {
                        for done in &report.ecosystems {
                            tracing::info!(
                                ecosystem = %done.ecosystem,
                                full = done.full,
                                imported = done.import.imported,
                                "OSV sync finished"
                            );
                        }
                        backoff = FIRST_RETRY;
                        interval
                    }
                    Err(error) => {
                        let wait = backoff;
                        backoff = (backoff * 2).min(interval);
                        tracing::warn!(
                            error = %error.chain(),
                            retry_in = %age_text(wait.as_secs()),
                            "OSV sync failed"
                        );
                        this.log_state();
                        wait
                    }
                };
                due = tokio::time::Instant::now() + wait;
            }
        });
    }
}

/// `gatehouse osv status`: a table of what the mirror holds, and plain words
/// when it is empty or stale (exit 1 then).
pub fn print_status(config: &Settings) -> anyhow::Result<i32> {
    let settings = &config.osv;
    let watched = watched(settings, &config.adapters_dir);
    let path = config.data_dir.join(OSV_DATABASE);
    // A read: a missing database is reported, not created.
    let snapshot = if path.is_file() {
        Mirror::open(&path)
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?
            .status()?
    } else {
        Vec::new()
    };
    let report = health(&snapshot, &watched, settings, now_seconds());
    let mut rows = vec![[
        "ECOSYSTEM".to_owned(),
        "RECORDS".to_owned(),
        "LAST SYNC".to_owned(),
        "AGE".to_owned(),
        "SOURCE".to_owned(),
    ]];
    for entry in &report {
        let last_sync = entry.last_sync.map_or_else(
            || "never".to_owned(),
            |at| {
                let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0));
                humantime::format_rfc3339_seconds(at).to_string()
            },
        );
        rows.push([
            entry.ecosystem.clone(),
            entry.records.to_string(),
            last_sync,
            entry.age_seconds.map_or_else(|| "-".to_owned(), age_text),
            entry.source.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    if let Some((url, ttl)) = &settings.live {
        println!(
            "live fallback: {} for packages the mirror lacks (answers kept {})",
            redacted(url),
            age_text(ttl.as_secs())
        );
    }
    let mut troubled = false;
    for entry in &report {
        if let Some(reason) = &entry.stale {
            troubled = true;
            println!("{}: STALE: {reason}", entry.ecosystem);
        } else if let Some(error) = &entry.last_error {
            println!("{}: the last sync failed: {error}", entry.ecosystem);
        }
    }
    if report.iter().all(|entry| entry.records == 0) {
        troubled = true;
        let meanwhile = if settings.live.is_some() {
            "only the live fallback answers"
        } else {
            "the malicious and vulnerability policies check against nothing"
        };
        println!(
            "the OSV mirror in {} is EMPTY: {meanwhile} until a sync (`gatehouse serve` syncs in the background) or `gatehouse osv import` fills it",
            path.display()
        );
    }
    Ok(i32::from(troubled))
}

impl AdvisorySource for Advisories {
    fn affecting(
        &self,
        ecosystem: &str,
        name: &str,
        versions: &[&str],
        unparsable: &mut usize,
    ) -> anyhow::Result<Vec<Vec<Advisory>>> {
        let source: &dyn AdvisorySource = self.answering(ecosystem, name)?;
        source.affecting(ecosystem, name, versions, unparsable)
    }

    fn advisories(&self, ecosystem: &str, name: &str) -> anyhow::Result<Vec<PackageAdvisory>> {
        let source: &dyn AdvisorySource = self.answering(ecosystem, name)?;
        source.advisories(ecosystem, name)
    }

    /// The mirror's generation plus the live answers' (both only grow).
    fn generation(&self) -> u64 {
        self.mirror.generation()
            + self
                .live
                .as_ref()
                .map_or(0, |live| live.answers().generation())
    }

    fn prepare<'a>(&'a self, ecosystem: &'a str, name: &'a str) -> Prepare<'a> {
        Box::pin(async move {
            let Some(live) = &self.live else { return };
            if self.mirror.knows(ecosystem, name).unwrap_or(true) {
                return;
            }
            if let Err(error) = live.refresh(ecosystem, name).await {
                tracing::warn!(
                    ecosystem,
                    package = name,
                    error = %error.chain(),
                    "the live OSV fallback failed; answering from the mirror alone"
                );
            }
        })
    }

    fn health(&self) -> Vec<EcosystemHealth> {
        self.report()
    }
}

impl Advisories {
    /// The mirror, or the live answers for a package the mirror does not know.
    fn answering(&self, ecosystem: &str, name: &str) -> anyhow::Result<&Mirror> {
        match &self.live {
            Some(live) if !self.mirror.knows(ecosystem, name)? => Ok(live.answers()),
            _ => Ok(&self.mirror),
        }
    }
}

#[cfg(test)]
// Tests prepare files directly.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn settings(source: Option<&str>) -> OsvSettings {
        OsvSettings {
            source: source.map(str::to_owned),
            interval: Duration::from_secs(3600),
            ecosystems: Vec::new(),
            max_age: Duration::from_secs(24 * 3600),
            live: None,
        }
    }

    fn status(ecosystem: &str, records: usize, last_sync: Option<i64>) -> EcosystemStatus {
        EcosystemStatus {
            ecosystem: ecosystem.into(),
            records,
            last_sync,
            cursor: None,
            source: None,
            last_attempt: None,
            last_error: None,
        }
    }

    #[test]
    fn judges_only_watched_ecosystems() {
        let now = 100_000;
        let snapshot = [
            status("npm", 5, Some(now - 60)),
            status("PyPI", 7, Some(now - 25 * 3600)),
            status("Go", 3, None),
        ];
        let watched = ["npm".to_owned(), "PyPI".to_owned(), "crates.io".to_owned()];
        let report = health(&snapshot, &watched, &settings(Some("http://x")), now);
        let names: Vec<_> = report.iter().map(|h| h.ecosystem.as_str()).collect();
        assert_eq!(names, ["npm", "PyPI", "crates.io", "Go"]);
        assert_eq!(report[0].stale, None);
        assert_eq!(report[0].age_seconds, Some(60));
        let old = report[1].stale.as_deref().expect("PyPI is stale");
        assert!(old.contains("1day1h old (osv.max_age 1day)"), "{old}");
        let empty = report[2].stale.as_deref().expect("crates.io is empty");
        assert!(
            empty.contains("first sync from http://x has not finished"),
            "{empty}"
        );
        assert_eq!(report[3].stale, None, "Go is not watched");
    }

    #[test]
    fn a_failed_first_sync_says_why_without_credentials() {
        let source = "http://reader:secret@127.0.0.1:9/osv";
        let mut failed = status("npm", 0, None);
        failed.source = Some(source.into());
        failed.last_error = Some(format!("fetching {source}/npm/modified_id.csv: refused"));
        let report = health(&[failed], &["npm".into()], &settings(Some(source)), 0);
        assert_eq!(
            report[0].stale.as_deref(),
            Some(
                "no advisory data for npm; the last sync failed: fetching http://127.0.0.1:9/osv/npm/modified_id.csv: refused"
            )
        );
        assert_eq!(report[0].source.as_deref(), Some("http://127.0.0.1:9/osv"));
    }

    #[test]
    fn an_adapter_dropped_in_later_is_watched() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("npm.wasm"), b"").expect("write");
        let mirror = Arc::new(Mirror::open_in_memory().expect("mirror"));
        let advisories =
            Advisories::new(mirror, settings(Some("http://x")), dir.path()).expect("advisories");
        assert_eq!(advisories.watching(), ["npm"]);
        assert!(!advisories.rewatch(), "nothing changed");
        std::fs::write(dir.path().join("pypi.wasm"), b"").expect("write");
        assert!(advisories.rewatch());
        assert_eq!(advisories.watching(), ["PyPI", "npm"]);
        let stale: Vec<_> = advisories
            .report()
            .into_iter()
            .filter(|h| h.stale.is_some())
            .map(|h| h.ecosystem)
            .collect();
        assert_eq!(stale, ["PyPI", "npm"], "neither has synced yet");
    }

    #[test]
    fn sync_off_watches_only_named_ecosystems() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("npm.wasm"), b"").expect("write");
        std::fs::write(dir.path().join("cargo.wasm"), b"").expect("write");
        std::fs::write(dir.path().join("other.wasm"), b"").expect("write");
        assert_eq!(
            watched(&settings(Some("http://x")), dir.path()),
            ["crates.io", "npm"]
        );
        assert!(watched(&settings(None), dir.path()).is_empty());
        let mut named = settings(None);
        named.ecosystems = vec!["PyPI".into()];
        assert_eq!(watched(&named, dir.path()), ["PyPI"]);
    }
}
