//! Upstream access: one HTTP client, a metadata cache with validators, TTL and
//! stale-if-error, single-flight per resource, size limits, and the rule of
//! which URLs an adapter may reach at all.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::metrics::metrics;
use crate::single_flight::SingleFlight;

/// Limits and timings for upstream traffic.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Metadata younger than this is served without asking upstream.
    pub ttl: Duration,
    /// How old cached metadata may be and still be served when upstream is down.
    pub max_stale: Duration,
    /// The largest metadata body accepted (after decompression).
    pub max_metadata_bytes: u64,
    /// The largest artifact accepted.
    pub max_artifact_bytes: u64,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(7 * 86400),
            max_metadata_bytes: 256 << 20,
            max_artifact_bytes: 2 << 30,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// Why an upstream fetch produced nothing usable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("{0} is not an upstream this adapter may reach")]
    Forbidden(String),
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    #[error("upstream timed out: {0}")]
    Timeout(String),
    #[error("upstream body too large: {0}")]
    TooLarge(String),
}

/// A metadata response as the adapter sees it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub url: String,
    pub stale: bool,
    /// Identifies the cached copy this came from, when it is one (fresh, 200).
    pub stamp: Option<FetchStamp>,
}

/// Which cached copy of an upstream resource a response was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchStamp {
    key: String,
    checked: SystemTime,
    /// How long the copy counts as current for the adapter that fetched it.
    ttl: Duration,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CachedMeta {
    url: String,
    status: u16,
    headers: Vec<(String, String)>,
    etag: Option<String>,
    last_modified: Option<String>,
    /// When upstream last confirmed this body (fetch or 304).
    checked: SystemTime,
}

#[derive(Clone)]
struct CachedEntry {
    meta: CachedMeta,
    body: Bytes,
}

/// The shared client and metadata cache.
pub struct Upstreams {
    client: reqwest::Client,
    settings: UpstreamSettings,
    dir: PathBuf,
    /// What is known of each cached copy; bodies stay on disk (the page
    /// cache keeps hot ones), so memory does not grow with the cache.
    memory: Mutex<HashMap<String, CachedMeta>>,
    in_flight: SingleFlight,
}

impl Upstreams {
    pub fn new(cache_dir: &Path, settings: UpstreamSettings) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(cache_dir)?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()?;
        Ok(Arc::new(Upstreams {
            client,
            settings,
            dir: cache_dir.to_owned(),
            memory: Mutex::new(HashMap::new()),
            in_flight: SingleFlight::default(),
        }))
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// The cached copy of `key`. Callers hold `key`'s single flight, so the
    /// body on disk is the one `meta` describes.
    fn cached(&self, key: &str) -> Option<CachedEntry> {
        let path = self.entry_path(key);
        let known = self
            .memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        let meta = match known {
            Some(meta) => meta,
            None => {
                let meta: CachedMeta =
                    serde_json::from_slice(&std::fs::read(path.with_extension("json")).ok()?)
                        .ok()?;
                self.remember(key, &meta);
                meta
            }
        };
        let body = Bytes::from(std::fs::read(path.with_extension("body")).ok()?);
        Some(CachedEntry { meta, body })
    }

    fn remember(&self, key: &str, meta: &CachedMeta) {
        self.memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned(), meta.clone());
    }

    /// Writes body then metadata (each by rename), so a crash leaves no torn entry.
    fn persist(&self, key: &str, entry: &CachedEntry) {
        let path = self.entry_path(key);
        let write = |ext: &str, bytes: &[u8]| -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
            std::io::Write::write_all(&mut tmp, bytes)?;
            tmp.persist(path.with_extension(ext))?;
            Ok(())
        };
        let meta = serde_json::to_vec(&entry.meta).unwrap_or_default();
        match write("body", &entry.body).and_then(|()| write("json", &meta)) {
            Ok(()) => self.remember(key, &entry.meta),
            Err(error) => tracing::warn!(%error, "could not persist cached metadata"),
        }
    }

    /// GET `url` for metadata, through the cache; a copy younger than `ttl`
    /// (the adapter's, else the cache's) is used without asking upstream.
    pub async fn fetch_metadata(
        &self,
        url: &Url,
        accept: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<Fetched, FetchError> {
        let ttl = ttl.unwrap_or(self.settings.ttl);
        let key = format!("{url}\n{}", accept.unwrap_or(""));
        // A copy confirmed after this request arrived answers it: requests that
        // queued behind an in-flight fetch share its result.
        let arrived = SystemTime::now();
        self.in_flight
            // Adapters with different TTLs never share a fetch (nor its stamp).
            .run(
                &format!("{key}\n{}", ttl.as_millis()),
                self.fetch_locked(&key, url, accept, arrived, ttl),
            )
            .await
    }

    async fn fetch_locked(
        &self,
        key: &str,
        url: &Url,
        accept: Option<&str>,
        arrived: SystemTime,
        ttl: Duration,
    ) -> Result<Fetched, FetchError> {
        let cached = self.cached(key);
        if let Some(entry) = &cached {
            let age = entry.meta.checked.elapsed().unwrap_or(Duration::MAX);
            if age < ttl || entry.meta.checked >= arrived {
                metrics().cache("metadata", "hit");
                return Ok(fetched(key, entry, false, ttl));
            }
        }
        let mut request = self.client.get(url.clone());
        if let Some(accept) = accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        if let Some(entry) = &cached {
            if let Some(etag) = &entry.meta.etag {
                request = request.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(modified) = &entry.meta.last_modified {
                request = request.header(reqwest::header::IF_MODIFIED_SINCE, modified);
            }
        }
        let started = std::time::Instant::now();
        let sent = request.send().await;
        metrics().upstream("metadata", started.elapsed());
        let outcome = match sent {
            Ok(response) => self.receive(response).await,
            Err(error) => Err(classify(url, &error)),
        };
        match (outcome, cached) {
            (Ok(Received::NotModified), Some(mut entry)) => {
                entry.meta.checked = SystemTime::now();
                self.persist(key, &entry);
                metrics().cache("metadata", "revalidated");
                Ok(fetched(key, &entry, false, ttl))
            }
            (Ok(Received::Fresh(entry)), _) => {
                metrics().cache("metadata", "miss");
                if entry.meta.status == 200 {
                    self.persist(key, &entry);
                }
                Ok(fetched(key, &entry, false, ttl))
            }
            (
                Ok(Received::ServerError(_))
                | Err(FetchError::Unreachable(_) | FetchError::Timeout(_)),
                Some(entry),
            ) if self.within_stale(&entry) => {
                tracing::warn!(%url, "upstream failing; serving cached metadata");
                metrics().cache("metadata", "stale");
                Ok(fetched(key, &entry, true, ttl))
            }
            (Ok(Received::ServerError(status)), _) => {
                Err(FetchError::Unreachable(format!("{url} answered {status}")))
            }
            (Ok(Received::NotModified), None) => Err(FetchError::Unreachable(format!(
                "{url} answered 304 to an unconditional request"
            ))),
            (Err(error), _) => Err(error),
        }
    }

    /// True while `stamp`'s copy is still the cached one and within its TTL:
    /// anything built from it may be reused without asking upstream.
    pub fn is_current(&self, stamp: &FetchStamp) -> bool {
        self.memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&stamp.key)
            .is_some_and(|meta| {
                meta.checked == stamp.checked
                    && meta.checked.elapsed().unwrap_or(Duration::MAX) < stamp.ttl
            })
    }

    fn within_stale(&self, entry: &CachedEntry) -> bool {
        entry.meta.checked.elapsed().unwrap_or(Duration::MAX) < self.settings.max_stale
    }

    async fn receive(&self, response: reqwest::Response) -> Result<Received, FetchError> {
        let status = response.status().as_u16();
        if status == 304 {
            return Ok(Received::NotModified);
        }
        if status >= 500 {
            return Ok(Received::ServerError(status));
        }
        let url = response.url().clone();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let body = read_limited(response, self.settings.max_metadata_bytes, &url).await?;
        Ok(Received::Fresh(CachedEntry {
            meta: CachedMeta {
                url: url.to_string(),
                status,
                etag: header("etag"),
                last_modified: header("last-modified"),
                headers,
                checked: SystemTime::now(),
            },
            body,
        }))
    }
}

enum Received {
    Fresh(CachedEntry),
    NotModified,
    ServerError(u16),
}

fn fetched(key: &str, entry: &CachedEntry, stale: bool, ttl: Duration) -> Fetched {
    let stamp = (!stale && entry.meta.status == 200).then(|| FetchStamp {
        key: key.to_owned(),
        checked: entry.meta.checked,
        ttl,
    });
    Fetched {
        stamp,
        status: entry.meta.status,
        headers: entry.meta.headers.clone(),
        body: entry.body.clone(),
        url: entry.meta.url.clone(),
        stale,
    }
}

/// Maps a client error to what the adapter is told.
pub fn classify(url: &Url, error: &reqwest::Error) -> FetchError {
    if error.is_timeout() {
        FetchError::Timeout(format!("{url}: {error}"))
    } else {
        FetchError::Unreachable(format!("{url}: {}", error_chain(error)))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Reads a whole body, refusing more than `limit` bytes (decompressed).
async fn read_limited(
    mut response: reqwest::Response,
    limit: u64,
    url: &Url,
) -> Result<Bytes, FetchError> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(FetchError::TooLarge(format!("{url} exceeds {limit} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(url, &e))? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(FetchError::TooLarge(format!("{url} exceeds {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// `scheme://host:port` of a URL.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// One adapter's view of upstream: its base URL and the origins it may reach.
pub struct AdapterUpstream {
    pub name: String,
    pub base: Url,
    /// This adapter's metadata TTL, when it has its own.
    pub ttl: Option<Duration>,
    shared: Arc<Upstreams>,
    allowed: Mutex<HashSet<String>>,
}

/// The most origins an adapter learns from upstream metadata.
const MAX_LEARNED_ORIGINS: usize = 256;

impl AdapterUpstream {
    pub fn new(name: &str, base: Url, extra_origins: &[Url], shared: Arc<Upstreams>) -> Self {
        let mut allowed: HashSet<String> = extra_origins.iter().map(origin).collect();
        allowed.insert(origin(&base));
        AdapterUpstream {
            name: name.to_owned(),
            base,
            ttl: None,
            shared,
            allowed: Mutex::new(allowed),
        }
    }

    pub fn shared(&self) -> &Arc<Upstreams> {
        &self.shared
    }

    /// Parses `url` and checks that this adapter may fetch it: its upstream's
    /// origin, configured extra origins, or an origin upstream metadata named.
    pub fn check(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = Url::parse(url).map_err(|_| FetchError::Forbidden(url.to_owned()))?;
        let allowed = matches!(parsed.scheme(), "http" | "https")
            && parsed.username().is_empty()
            && self
                .allowed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&origin(&parsed));
        if allowed {
            Ok(parsed)
        } else {
            Err(FetchError::Forbidden(url.to_owned()))
        }
    }

    /// Fetches metadata and learns the origins its body names.
    pub async fn fetch(&self, url: &str, accept: Option<&str>) -> Result<Fetched, FetchError> {
        let url = self.check(url)?;
        let fetched = self.shared.fetch_metadata(&url, accept, self.ttl).await?;
        if (200..300).contains(&fetched.status) {
            self.learn_origins(&fetched.body);
        }
        Ok(fetched)
    }

    fn learn_origins(&self, body: &[u8]) {
        let mut found = HashSet::new();
        for scheme in [&b"https://"[..], &b"http://"[..]] {
            for start in memchr::memmem::find_iter(body, scheme) {
                let rest = &body[start..];
                let end = rest[scheme.len()..]
                    .iter()
                    .position(|b| {
                        matches!(
                            b,
                            b'/' | b'"' | b'\'' | b'<' | b'>' | b' ' | b'\\' | b'?' | b'#' | b'\n'
                        )
                    })
                    .map_or(rest.len(), |p| p + scheme.len());
                if let Some(origin) = std::str::from_utf8(&rest[..end])
                    .ok()
                    .and_then(|text| Url::parse(text).ok())
                    .filter(|u| u.host_str().is_some())
                    .map(|u| origin(&u))
                {
                    found.insert(origin);
                }
                if found.len() > MAX_LEARNED_ORIGINS {
                    break;
                }
            }
        }
        let mut allowed = self.allowed.lock().unwrap_or_else(|e| e.into_inner());
        for origin in found {
            if allowed.len() >= MAX_LEARNED_ORIGINS {
                break;
            }
            allowed.insert(origin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream() -> AdapterUpstream {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = Upstreams::new(dir.path(), UpstreamSettings::default()).expect("client");
        AdapterUpstream::new(
            "npm",
            Url::parse("http://127.0.0.1:9/registry").expect("url"),
            &[],
            shared,
        )
    }

    #[test]
    fn only_known_origins_are_reachable() {
        let up = upstream();
        assert!(up.check("http://127.0.0.1:9/registry/x").is_ok());
        assert!(up.check("http://127.0.0.1:10/x").is_err());
        assert!(up.check("file:///etc/passwd").is_err());
        assert!(up.check("http://user@127.0.0.1:9/x").is_err());
        up.learn_origins(br#"{"dist":{"tarball":"http://127.0.0.2:7/x.tgz"}} <a href="https://files.example.test/p/x.whl#sha256=00">"#);
        assert!(up.check("http://127.0.0.2:7/other.tgz").is_ok());
        assert!(up.check("https://files.example.test/p/y.whl").is_ok());
        assert!(up.check("http://127.0.0.3:7/x").is_err());
    }
}
