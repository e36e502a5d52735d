//! Artifacts: the host executes an adapter's plan natively. It runs the
//! last-stop gate, fetches the bytes from the URL upstream metadata declared
//! (as the egress rule allows, within the overall upstream deadline),
//! hashes them while streaming to a temporary file, and only when every
//! declared digest matches moves them into the content-addressed store and
//! serves them. A mismatch is refused and nothing is cached.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use tokio::io::AsyncWriteExt as _;

use crate::bindings::Digest;
use crate::capabilities::upstream::{AdapterUpstream, FetchError, classify};
use crate::metrics::metrics;
use crate::single_flight::SingleFlight;

/// A digest algorithm gatehouse verifies, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    Sha512,
    Sha256,
    Sha1,
}

impl Algorithm {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "sha512" => Some(Algorithm::Sha512),
            "sha256" => Some(Algorithm::Sha256),
            "sha1" => Some(Algorithm::Sha1),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha512 => "sha512",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha1 => "sha1",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha512 => 128,
            Algorithm::Sha256 => 64,
            Algorithm::Sha1 => 40,
        }
    }
}

/// The digests an artifact must match, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected(Vec<(Algorithm, String)>);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ArtifactError {
    #[error(
        "upstream metadata declares no digest gatehouse can verify, so the artifact is refused"
    )]
    NoDigest,
    #[error("malformed {0} digest in upstream metadata")]
    BadDigest(&'static str),
    #[error(
        "{algorithm} mismatch: upstream sent {actual}, its metadata declares {expected}; refused and not cached"
    )]
    Mismatch {
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Fetch(String),
    /// The egress rule refused the location or a redirect hop.
    #[error("{0}")]
    Refused(String),
    /// No complete answer within the overall upstream deadline.
    #[error("{0}")]
    Timeout(String),
    #[error("upstream answered {0} for the artifact")]
    Status(u16),
    #[error("artifact store: {0}")]
    Store(String),
}

impl From<FetchError> for ArtifactError {
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::Forbidden(why) => ArtifactError::Refused(why),
            FetchError::Timeout(why) => ArtifactError::Timeout(why),
            other => ArtifactError::Fetch(other.to_string()),
        }
    }
}

impl Expected {
    /// Every declared digest of a known algorithm; at least one is required.
    pub fn from_declared(digests: &[Digest]) -> Result<Self, ArtifactError> {
        let mut expected = Vec::new();
        for digest in digests {
            let Some(algorithm) = Algorithm::parse(&digest.algorithm) else {
                continue;
            };
            let hex = digest.hex.to_ascii_lowercase();
            if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ArtifactError::BadDigest(algorithm.name()));
            }
            expected.push((algorithm, hex));
        }
        expected.sort();
        expected.dedup();
        if expected.is_empty() {
            return Err(ArtifactError::NoDigest);
        }
        Ok(Expected(expected))
    }

    /// The store path: `{algorithm}/{first two hex}/{hex}` of the strongest digest.
    pub fn key(&self) -> String {
        let (algorithm, hex) = &self.0[0];
        format!("{}/{}/{hex}", algorithm.name(), &hex[..2])
    }
}

/// Hashes bytes with every algorithm an [`Expected`] names.
struct Hashers {
    sha512: Option<Sha512>,
    sha256: Option<Sha256>,
    sha1: Option<Sha1>,
}

impl Hashers {
    fn for_expected(expected: &Expected) -> Self {
        let wants = |a| expected.0.iter().any(|(b, _)| *b == a);
        Hashers {
            sha512: wants(Algorithm::Sha512).then(Sha512::new),
            sha256: wants(Algorithm::Sha256).then(Sha256::new),
            sha1: wants(Algorithm::Sha1).then(Sha1::new),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.sha512 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(bytes);
        }
    }

    fn check(self, expected: &Expected) -> Result<(), ArtifactError> {
        let actual = [
            (
                Algorithm::Sha512,
                self.sha512.map(|h| hex::encode(h.finalize())),
            ),
            (
                Algorithm::Sha256,
                self.sha256.map(|h| hex::encode(h.finalize())),
            ),
            (
                Algorithm::Sha1,
                self.sha1.map(|h| hex::encode(h.finalize())),
            ),
        ];
        for (algorithm, want) in &expected.0 {
            let got = actual
                .iter()
                .find(|(a, _)| a == algorithm)
                .and_then(|(_, h)| h.clone())
                .unwrap_or_default();
            if &got != want {
                return Err(ArtifactError::Mismatch {
                    algorithm: algorithm.name(),
                    expected: want.clone(),
                    actual: got,
                });
            }
        }
        Ok(())
    }
}

/// The content-addressed artifact store under the data directory.
pub struct ArtifactStore {
    root: Dir,
    /// Entries hashed since start: served without rehashing.
    verified: Mutex<HashSet<String>>,
    flights: SingleFlight,
    usage: Mutex<Usage>,
    hot: Mutex<Hot>,
}

/// Size and last use of every stored entry, for eviction by size (LRU).
struct Usage {
    limit: u64,
    total: u64,
    entries: HashMap<String, Entry>,
}

struct Entry {
    len: u64,
    used: SystemTime,
}

/// A use is written to the file's mtime (which survives restarts) at most
/// this often per entry.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

impl Usage {
    /// Records a new entry; returns the entries to evict (see [`Usage::evict`]).
    fn insert(&mut self, key: &str, len: u64) -> Vec<String> {
        let now = SystemTime::now();
        if let Some(old) = self
            .entries
            .insert(key.to_owned(), Entry { len, used: now })
        {
            self.total -= old.len;
        }
        self.total += len;
        self.evict(key)
    }

    /// When over the limit: forgets the least recently used entries (never
    /// `keep`) until the store fits in 90% of its limit, and returns them.
    fn evict(&mut self, keep: &str) -> Vec<String> {
        if self.total <= self.limit {
            return Vec::new();
        }
        let target = self.limit / 10 * 9;
        let mut by_age: Vec<(&String, &Entry)> =
            self.entries.iter().filter(|(k, _)| *k != keep).collect();
        by_age.sort_by_key(|(_, entry)| entry.used);
        let mut total = self.total;
        let mut evict = Vec::new();
        for (key, entry) in by_age {
            if total <= target {
                break;
            }
            total -= entry.len;
            evict.push(key.clone());
        }
        for key in &evict {
            self.remove(key);
        }
        evict
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.total -= entry.len;
        }
    }

    /// Marks a use; true when the file's mtime should be updated too.
    fn touch(&mut self, key: &str, len: u64) -> bool {
        let now = SystemTime::now();
        match self.entries.get_mut(key) {
            Some(entry) => {
                let stale = now.duration_since(entry.used).unwrap_or_default() >= TOUCH_EVERY;
                if stale {
                    entry.used = now;
                }
                stale
            }
            None => {
                // Stored before a restart with a different limit, or by hand.
                self.entries
                    .insert(key.to_owned(), Entry { len, used: now });
                self.total += len;
                true
            }
        }
    }
}

/// A verified artifact ready to serve.
pub enum Ready {
    /// A small, often served artifact, from memory.
    Memory(Bytes),
    /// An open store file, positioned at its start.
    File { file: std::fs::File, len: u64 },
}

impl Ready {
    /// The artifact's size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Ready::Memory(bytes) => bytes.len() as u64,
            Ready::File { len, .. } => *len,
        }
    }
}

/// Verified small artifacts kept in memory, evicted first in, first out.
#[derive(Default)]
struct Hot {
    size: usize,
    entries: HashMap<String, Bytes>,
    order: VecDeque<String>,
}

/// Artifacts up to this size are kept in memory once verified ...
const HOT_FILE: u64 = 1 << 20;
/// ... up to this much in all.
const HOT_TOTAL: usize = 32 << 20;

impl Hot {
    fn insert(&mut self, key: &str, bytes: Bytes) {
        if self.entries.contains_key(key) {
            return;
        }
        while self.size + bytes.len() > HOT_TOTAL {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.entries.remove(&oldest) {
                self.size -= old.len();
            }
        }
        self.size += bytes.len();
        self.order.push_back(key.to_owned());
        self.entries.insert(key.to_owned(), bytes);
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            self.size -= old.len();
            self.order.retain(|k| k != key);
        }
    }
}

const TMP: &str = "tmp";

impl ArtifactStore {
    /// Opens the store in `dir`, holding at most `limit` bytes; what is there
    /// is indexed by size and last use (mtime), and leftovers of interrupted
    /// downloads are removed.
    // At start-up, before serving.
    #[allow(clippy::disallowed_methods)]
    pub fn open(dir: &Path, limit: u64) -> anyhow::Result<Self> {
        let _ = std::fs::remove_dir_all(dir.join(TMP));
        std::fs::create_dir_all(dir.join(TMP))?;
        let root = Dir::open_ambient_dir(dir, ambient_authority())?;
        let mut usage = Usage {
            limit,
            total: 0,
            entries: HashMap::new(),
        };
        for algorithm in [Algorithm::Sha512, Algorithm::Sha256, Algorithm::Sha1] {
            let Ok(shards) = std::fs::read_dir(dir.join(algorithm.name())) else {
                continue;
            };
            for file in shards
                .flatten()
                .filter_map(|shard| std::fs::read_dir(shard.path()).ok())
                .flatten()
                .flatten()
            {
                let (Ok(meta), Ok(relative)) = (
                    file.metadata(),
                    file.path().strip_prefix(dir).map(Path::to_owned),
                ) else {
                    continue;
                };
                let key = relative.to_string_lossy().into_owned();
                usage.total += meta.len();
                usage.entries.insert(
                    key,
                    Entry {
                        len: meta.len(),
                        used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    },
                );
            }
        }
        let store = ArtifactStore {
            root,
            verified: Mutex::new(HashSet::new()),
            flights: SingleFlight::default(),
            usage: Mutex::new(usage),
            hot: Mutex::default(),
        };
        store.evict_if_over();
        Ok(store)
    }

    /// The bytes stored now.
    #[cfg(test)]
    fn stored_bytes(&self) -> u64 {
        self.usage.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    fn evict_if_over(&self) {
        let evict = self
            .usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .evict("");
        self.remove_entries(&evict);
    }

    fn remove_entries(&self, keys: &[String]) {
        let mut hot = self.hot.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            hot.remove(key);
        }
        drop(hot);
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            // A file being served stays readable through its open handle.
            if let Err(error) = self.root.remove_file(key) {
                tracing::warn!(key, %error, "evicting an artifact failed");
            }
            verified.remove(key);
        }
        drop(verified);
        if !keys.is_empty() {
            tracing::info!(
                evicted = keys.len(),
                "artifact store over its size limit; evicted the least recently served"
            );
            metrics().cache_evictions.inc_by(keys.len() as u64);
        }
    }

    /// The verified artifact, from the store or fetched from `url` now.
    pub async fn obtain(
        &self,
        upstream: &AdapterUpstream,
        url: &str,
        expected: &Expected,
    ) -> Result<Ready, ArtifactError> {
        let key = expected.key();
        let hot = self
            .hot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .get(&key)
            .cloned();
        if let Some(bytes) = hot {
            metrics().cache("artifact", "hit");
            if self.touched(&key, bytes.len() as u64) {
                // The file's mtime keeps the use across restarts.
                if let Ok(file) = self.root.open(&key) {
                    let _ = file.into_std().set_modified(SystemTime::now());
                }
            }
            return Ok(Ready::Memory(bytes));
        }
        self.flights
            .run(&key, async {
                if let Some(ready) = self.cached(&key, expected).await? {
                    metrics().cache("artifact", "hit");
                    return Ok(ready);
                }
                metrics().cache("artifact", "miss");
                self.fetch(upstream, url, expected, &key).await?;
                self.cached(&key, expected)
                    .await?
                    .ok_or_else(|| ArtifactError::Store("stored entry vanished".into()))
            })
            .await
    }

    /// Marks a use of `key`; true when its file's mtime should follow.
    fn touched(&self, key: &str, len: u64) -> bool {
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .touch(key, len)
    }

    /// Opens a stored entry; one that fails its digest is deleted. A small
    /// one is read into memory, where later requests find it.
    async fn cached(&self, key: &str, expected: &Expected) -> Result<Option<Ready>, ArtifactError> {
        let mut file = match self.root.open(key) {
            Ok(file) => file.into_std(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ArtifactError::Store(e.to_string())),
        };
        let store_error = |e: std::io::Error| ArtifactError::Store(e.to_string());
        let len = file.metadata().map_err(store_error)?.len();
        let known_good = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key);
        if !known_good {
            // Up to the artifact size limit (GiBs): off the async threads.
            let hashers = Hashers::for_expected(expected);
            let hashed = tokio::task::spawn_blocking(move || hash_file(file, hashers))
                .await
                .map_err(|e| ArtifactError::Store(e.to_string()))?
                .map_err(store_error)?;
            let hashers;
            (file, hashers) = hashed;
            if let Err(error) = hashers.check(expected) {
                tracing::error!(key, %error, "stored artifact is corrupt; deleting it and fetching again");
                let _ = self.root.remove_file(key);
                self.usage
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(key);
                self.hot
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(key);
                return Ok(None);
            }
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.to_owned());
            std::io::Seek::rewind(&mut file).map_err(store_error)?;
        }
        if self.touched(key, len) {
            let _ = file.set_modified(SystemTime::now());
        }
        if len <= HOT_FILE {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes).map_err(store_error)?;
            let bytes = Bytes::from(bytes);
            self.hot
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, bytes.clone());
            return Ok(Some(Ready::Memory(bytes)));
        }
        Ok(Some(Ready::File { file, len }))
    }

    async fn fetch(
        &self,
        upstream: &AdapterUpstream,
        url: &str,
        expected: &Expected,
        key: &str,
    ) -> Result<(), ArtifactError> {
        let url = upstream.declared_location(url)?;
        let shared = upstream.shared();
        let limit = shared.settings().max_artifact_bytes;
        let started = std::time::Instant::now();
        let sent = shared
            .get(
                upstream.origins(),
                upstream.credentials.as_ref(),
                &url,
                Default::default(),
            )
            .await;
        metrics().upstream("artifact", started.elapsed());
        let (mut response, deadline) = sent?;
        if !response.status().is_success() {
            return Err(ArtifactError::Status(response.status().as_u16()));
        }
        let store_error = |e: std::io::Error| ArtifactError::Store(e.to_string());
        let tmp_name = format!("{TMP}/{}", unique_name());
        // Writes and the final fsync go to the blocking pool (tokio::fs).
        let mut tmp =
            tokio::fs::File::from_std(self.root.create(&tmp_name).map_err(store_error)?.into_std());
        let mut hashers = Hashers::for_expected(expected);
        let mut total = 0u64;
        let received: Result<(), ArtifactError> = async {
            while let Some(chunk) = deadline
                .within(total, response.chunk())
                .await?
                .map_err(|e| ArtifactError::from(classify(&url, &e)))?
            {
                total += chunk.len() as u64;
                if total > limit {
                    return Err(ArtifactError::Fetch(
                        FetchError::TooLarge(format!("{url} exceeds {limit} bytes")).to_string(),
                    ));
                }
                hashers.update(&chunk);
                tmp.write_all(&chunk).await.map_err(store_error)?;
            }
            hashers.check(expected)?;
            tmp.flush().await.map_err(store_error)?;
            tmp.sync_all().await.map_err(store_error)
        }
        .await;
        if let Err(error) = received {
            let _ = self.root.remove_file(&tmp_name);
            return Err(error);
        }
        drop(tmp);
        if let Some(parent) = Path::new(key).parent() {
            self.root.create_dir_all(parent).map_err(store_error)?;
        }
        self.root
            .rename(&tmp_name, &self.root, key)
            .map_err(store_error)?;
        metrics()
            .artifact_fetch
            .observe(started.elapsed().as_secs_f64());
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned());
        let evict = self
            .usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, total);
        self.remove_entries(&evict);
        Ok(())
    }
}

/// Reads `file` to its end through `hashers`; returns both for the check.
fn hash_file(
    mut file: std::fs::File,
    mut hashers: Hashers,
) -> std::io::Result<(std::fs::File, Hashers)> {
    let mut buffer = vec![0; 256 << 10];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok((file, hashers));
        }
        hashers.update(&buffer[..n]);
    }
}

fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
// Tests prepare files directly.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn digest(algorithm: &str, hex: &str) -> Digest {
        Digest {
            algorithm: algorithm.into(),
            hex: hex.into(),
        }
    }

    #[test]
    fn usage_evicts_the_least_recently_used_down_to_90_percent() {
        let mut usage = Usage {
            limit: 100,
            total: 0,
            entries: HashMap::new(),
        };
        assert!(usage.insert("a", 40).is_empty());
        assert!(usage.insert("b", 40).is_empty());
        // `a` was used last, so `b` goes first.
        usage.entries.get_mut("b").expect("b").used = SystemTime::UNIX_EPOCH;
        assert_eq!(usage.insert("c", 40), ["b"]);
        assert_eq!(usage.total, 80);
        // An entry larger than the whole store evicts the rest, never itself.
        let mut evicted = usage.insert("huge", 500);
        evicted.sort();
        assert_eq!(evicted, ["a", "c"]);
        assert_eq!(usage.total, 500);
    }

    #[test]
    fn the_store_evicts_past_its_limit_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, age) in [("old", 3_000), ("new", 1_000)] {
            let shard = dir.path().join("sha256").join("ab");
            std::fs::create_dir_all(&shard).expect("mkdir");
            let path = shard.join(format!("ab{name}"));
            std::fs::write(&path, vec![0; 60]).expect("write");
            let file = std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open");
            file.set_modified(SystemTime::now() - Duration::from_secs(age))
                .expect("mtime");
        }
        let store = ArtifactStore::open(dir.path(), 100).expect("open");
        assert_eq!(store.stored_bytes(), 60);
        assert!(!dir.path().join("sha256/ab/abold").exists());
        assert!(dir.path().join("sha256/ab/abnew").exists());
    }

    #[test]
    fn expected_digests_are_validated() {
        assert_eq!(Expected::from_declared(&[]), Err(ArtifactError::NoDigest));
        assert_eq!(
            Expected::from_declared(&[digest("md5", "00")]),
            Err(ArtifactError::NoDigest)
        );
        assert_eq!(
            Expected::from_declared(&[digest("sha256", "../../etc")]),
            Err(ArtifactError::BadDigest("sha256"))
        );
        let sha1 = "a".repeat(40);
        let sha512 = "b".repeat(128);
        let expected =
            Expected::from_declared(&[digest("sha1", &sha1), digest("SHA-512", &sha512)])
                .expect("valid");
        assert_eq!(expected.key(), format!("sha512/bb/{sha512}"));
    }

    #[test]
    fn hashers_check_every_declared_digest() {
        let body = b"hello";
        let sha256 = hex::encode(Sha256::digest(body));
        let sha1 = hex::encode(Sha1::digest(body));
        let expected = Expected::from_declared(&[digest("sha256", &sha256), digest("sha1", &sha1)])
            .expect("valid");
        let mut hashers = Hashers::for_expected(&expected);
        hashers.update(body);
        assert_eq!(hashers.check(&expected), Ok(()));

        let wrong =
            Expected::from_declared(&[digest("sha256", &sha256), digest("sha1", &"0".repeat(40))])
                .expect("valid");
        let mut hashers = Hashers::for_expected(&wrong);
        hashers.update(body);
        assert!(matches!(
            hashers.check(&wrong),
            Err(ArtifactError::Mismatch {
                algorithm: "sha1",
                ..
            })
        ));
    }
}
