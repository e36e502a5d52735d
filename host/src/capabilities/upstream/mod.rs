//! Upstream access: one HTTP client whose every request and redirect hop
//! passes the [`egress`](crate::egress) rule within one overall deadline, and
//! a metadata cache with validators, TTL and stale-if-error, single-flight per
//! resource and size limits. A fresh copy is kept only once an adapter built
//! an answer from it ([`Upstreams::settle`]).

mod bearer;
mod host;
mod layers;

pub use host::{Trace, UpstreamState, UpstreamView, add_to_linker};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::config::{Credentials, UpstreamSettings};
use crate::egress::{Egress, EgressResolver, MAX_REDIRECTS, Origins, origin, refusal_in};
use crate::metrics::metrics;
use crate::single_flight::SingleFlight;
use bearer::{Challenge, Tokens};
use gatehouse_archive::{ArchiveLimits, Member, layer_files};
use layers::LayerMemo;

/// Fresh copies no adapter has settled yet are dropped after this long.
const PENDING_FOR: Duration = Duration::from_secs(300);

/// Why an upstream fetch produced nothing usable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The egress rule refused a URL or a redirect hop (the message says which rule).
    #[error("{0}")]
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
    /// False until an adapter built an answer from it: only then is it kept.
    accepted: bool,
}

/// The shared client and metadata cache.
pub struct Upstreams {
    client: reqwest::Client,
    settings: UpstreamSettings,
    dir: PathBuf,
    /// What is known of each cached copy; bodies stay on disk (the page
    /// cache keeps hot ones), so memory does not grow with the cache.
    memory: Mutex<HashMap<String, CachedMeta>>,
    /// Fresh copies waiting for an adapter's verdict, in memory only, so a
    /// body no adapter could use is never kept (not even across a restart).
    pending: Mutex<HashMap<String, CachedEntry>>,
    in_flight: SingleFlight,
    egress: Arc<Egress>,
    /// Registry tokens got by answering bearer challenges.
    tokens: Tokens,
    /// What image layers held.
    layers: LayerMemo,
}

impl Upstreams {
    // At start-up, before serving.
    #[allow(clippy::disallowed_methods)]
    pub fn new(cache_dir: &Path, settings: UpstreamSettings) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(cache_dir)?;
        let egress = Arc::new(Egress::new(settings.allow.clone()));
        // Redirects are followed by `get`, each hop admitted by the rule.
        let client = reqwest::Client::builder()
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .redirect(reqwest::redirect::Policy::none())
            // An environment proxy (HTTP_PROXY, ALL_PROXY) would resolve
            // names itself, past the egress check in the resolver.
            .no_proxy()
            .dns_resolver(Arc::new(EgressResolver(egress.clone())))
            .build()?;
        Ok(Arc::new(Upstreams {
            client,
            settings,
            dir: cache_dir.to_owned(),
            memory: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            in_flight: SingleFlight::default(),
            egress,
            tokens: Tokens::default(),
            layers: LayerMemo::default(),
        }))
    }

    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// GETs `url` as an adapter with `origins` may: every hop admitted by the
    /// egress rule, redirects followed here (at most [`MAX_REDIRECTS`]), all
    /// within one [`Deadline`], which the caller keeps for reading the body.
    /// A bearer challenge is answered once with a token from its realm (a
    /// location upstream named, admitted like one), got with `credentials`
    /// when the upstream has some; the token goes to the challenging origin only.
    pub async fn get(
        &self,
        origins: &Origins,
        credentials: Option<&Credentials>,
        url: &Url,
        headers: reqwest::header::HeaderMap,
    ) -> Result<(reqwest::Response, Deadline), FetchError> {
        let deadline = Deadline::start(&self.settings, url);
        let mut hop = url.clone();
        let mut bearer: Option<(String, reqwest::header::HeaderValue)> = None;
        for _ in 0..=MAX_REDIRECTS {
            deadline
                .within(0, self.egress.admit(origins, &hop))
                .await?
                .map_err(|refused| match &hop == url {
                    true => FetchError::Forbidden(refused.to_string()),
                    false => FetchError::Forbidden(format!("{url} redirected to {refused}")),
                })?;
            let mut sent = headers.clone();
            if let Some((challenger, token)) = &bearer
                && *challenger == origin(&hop)
            {
                sent.insert(reqwest::header::AUTHORIZATION, token.clone());
            }
            let request = self.client.get(hop.clone()).headers(sent);
            let response = deadline
                .within(0, request.send())
                .await?
                .map_err(|e| classify(&hop, &e))?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED
                && bearer.is_none()
                && let Some(challenge) = Challenge::of(response.headers())
            {
                origins.learn(&challenge.realm);
                deadline
                    .within(0, self.egress.admit(origins, &challenge.realm))
                    .await?
                    .map_err(|refused| {
                        FetchError::Forbidden(format!("{url}: its token realm: {refused}"))
                    })?;
                let token = self
                    .tokens
                    .get(&self.client, &challenge, credentials, &deadline)
                    .await?;
                let value = format!("Bearer {token}").parse().map_err(|_| {
                    FetchError::Unreachable(format!(
                        "{}: the token is no header value",
                        challenge.realm
                    ))
                })?;
                bearer = Some((origin(&hop), value));
                continue;
            }
            let redirect = matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308);
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| hop.join(location).ok());
            match location {
                Some(next) if redirect => hop = next,
                _ => return Ok((response, deadline)),
            }
        }
        Err(FetchError::Unreachable(format!(
            "{url}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// The cached copy of `key`. Callers hold `key`'s single flight, so the
    /// body on disk is the one `meta` describes.
    async fn cached(&self, key: &str) -> Option<CachedEntry> {
        if let Some(pending) = lock(&self.pending).get(key) {
            return Some(pending.clone());
        }
        let path = self.entry_path(key);
        let known = self
            .memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        // Bodies can be hundreds of MiB: read on the blocking pool (tokio::fs).
        let meta = match known {
            Some(meta) => meta,
            None => {
                let meta: CachedMeta = serde_json::from_slice(
                    &tokio::fs::read(path.with_extension("json")).await.ok()?,
                )
                .ok()?;
                self.remember(key, &meta);
                meta
            }
        };
        let body = Bytes::from(tokio::fs::read(path.with_extension("body")).await.ok()?);
        Some(CachedEntry {
            meta,
            body,
            accepted: true,
        })
    }

    fn remember(&self, key: &str, meta: &CachedMeta) {
        self.memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned(), meta.clone());
    }

    /// Writes body then metadata (each by rename), so a crash leaves no torn
    /// entry; on the blocking pool, as the body can be large.
    async fn persist(&self, key: &str, entry: &CachedEntry) {
        let (dir, path) = (self.dir.clone(), self.entry_path(key));
        let (body, meta) = (
            entry.body.clone(),
            serde_json::to_vec(&entry.meta).unwrap_or_default(),
        );
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let write = |ext: &str, bytes: &[u8]| -> std::io::Result<()> {
                let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
                std::io::Write::write_all(&mut tmp, bytes)?;
                tmp.persist(path.with_extension(ext))?;
                Ok(())
            };
            write("body", &body).and_then(|()| write("json", &meta))
        })
        .await
        .unwrap_or_else(|panicked| Err(std::io::Error::other(panicked.to_string())));
        match written {
            Ok(()) => self.remember(key, &entry.meta),
            Err(error) => tracing::warn!(%error, "could not persist cached metadata"),
        }
    }

    /// Holds a fresh copy until an adapter settles it (see [`Upstreams::settle`]).
    fn hold(&self, key: &str, entry: &CachedEntry) {
        let mut pending = lock(&self.pending);
        pending
            .retain(|_, held| held.meta.checked.elapsed().unwrap_or(Duration::MAX) < PENDING_FOR);
        pending.insert(key.to_owned(), entry.clone());
    }

    /// An adapter call that read the copies `stamps` name ended: when it built
    /// an answer (`accepted`) they are kept as the cached copies; otherwise
    /// they are dropped, so the next request fetches them again.
    pub async fn settle(&self, stamps: &[FetchStamp], accepted: bool) {
        let held = |stamp: &FetchStamp| {
            lock(&self.pending)
                .get(&stamp.key)
                .filter(|held| held.meta.checked == stamp.checked)
                .cloned()
        };
        for stamp in stamps {
            let Some(mut entry) = held(stamp) else {
                continue;
            };
            if accepted {
                // On disk before it leaves `pending`: readers take the held
                // copy until then, never a half-written one.
                entry.accepted = true;
                self.persist(&stamp.key, &entry).await;
            } else {
                metrics().cache("metadata", "refused");
            }
            let mut pending = lock(&self.pending);
            if pending
                .get(&stamp.key)
                .is_some_and(|held| held.meta.checked == stamp.checked)
            {
                pending.remove(&stamp.key);
            }
        }
    }

    /// GET `url` for metadata, through the cache; a copy younger than `ttl`
    /// (the adapter's, else the cache's) is used without asking upstream.
    pub async fn fetch_metadata(
        &self,
        origins: &Origins,
        credentials: Option<&Credentials>,
        url: &Url,
        accept: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<Fetched, FetchError> {
        // Also for cached copies: what is not admitted now is not served.
        self.egress
            .admit(origins, url)
            .await
            .map_err(|refused| FetchError::Forbidden(refused.to_string()))?;
        let ttl = ttl.unwrap_or(self.settings.ttl);
        let key = format!("{url}\n{}", accept.unwrap_or(""));
        // A copy confirmed after this request arrived answers it: requests that
        // queued behind an in-flight fetch share its result.
        let arrived = SystemTime::now();
        self.in_flight
            // Adapters with different TTLs never share a fetch (nor its stamp).
            .run(
                &format!("{key}\n{}", ttl.as_millis()),
                self.fetch_locked((origins, credentials), &key, url, accept, arrived, ttl),
            )
            .await
    }

    async fn fetch_locked(
        &self,
        (origins, credentials): (&Origins, Option<&Credentials>),
        key: &str,
        url: &Url,
        accept: Option<&str>,
        arrived: SystemTime,
        ttl: Duration,
    ) -> Result<Fetched, FetchError> {
        let cached = self.cached(key).await;
        if let Some(entry) = &cached {
            let age = entry.meta.checked.elapsed().unwrap_or(Duration::MAX);
            if age < ttl || entry.meta.checked >= arrived {
                metrics().cache("metadata", "hit");
                return Ok(fetched(key, entry, false, ttl));
            }
        }
        let mut headers = reqwest::header::HeaderMap::new();
        let mut header = |name, value: &str| {
            if let Ok(value) = value.parse() {
                headers.insert(name, value);
            }
        };
        if let Some(accept) = accept {
            header(reqwest::header::ACCEPT, accept);
        }
        if let Some(entry) = &cached {
            if let Some(etag) = &entry.meta.etag {
                header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(modified) = &entry.meta.last_modified {
                header(reqwest::header::IF_MODIFIED_SINCE, modified);
            }
        }
        let started = Instant::now();
        let sent = self.get(origins, credentials, url, headers).await;
        metrics().upstream("metadata", started.elapsed());
        let outcome = match sent {
            Ok((response, deadline)) => self.receive(response, &deadline).await,
            Err(error) => Err(error),
        };
        match (outcome, cached) {
            (Ok(Received::NotModified), Some(mut entry)) => {
                entry.meta.checked = SystemTime::now();
                if entry.accepted {
                    self.persist(key, &entry).await;
                } else {
                    self.hold(key, &entry);
                }
                metrics().cache("metadata", "revalidated");
                Ok(fetched(key, &entry, false, ttl))
            }
            (Ok(Received::Fresh(entry)), _) => {
                metrics().cache("metadata", "miss");
                if entry.meta.status == 200 {
                    self.hold(key, &entry);
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

    async fn receive(
        &self,
        response: reqwest::Response,
        deadline: &Deadline,
    ) -> Result<Received, FetchError> {
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
        let body = read_limited(response, self.settings.max_metadata_bytes, &url, deadline).await?;
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
            accepted: false,
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
    if let Some(refused) = refusal_in(error) {
        FetchError::Forbidden(format!("{url}: {refused}"))
    } else if error.is_timeout() {
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

/// The overall time one upstream request may take: `deadline`, plus a second
/// for every `min_rate` bytes of body received, so a large body arriving at a
/// fair rate completes and a dripping one is cut.
pub struct Deadline {
    started: Instant,
    base: Duration,
    min_rate: u64,
    url: Url,
}

impl Deadline {
    fn start(settings: &UpstreamSettings, url: &Url) -> Self {
        Deadline {
            started: Instant::now(),
            base: settings.deadline,
            min_rate: settings.min_rate.max(1),
            url: url.clone(),
        }
    }

    /// Runs `work` with what is left once `received` bytes have arrived.
    pub async fn within<T>(
        &self,
        received: u64,
        work: impl Future<Output = T>,
    ) -> Result<T, FetchError> {
        let earned = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
        let left = (self.base + earned).saturating_sub(self.started.elapsed());
        tokio::time::timeout(left, work).await.map_err(|_| {
            FetchError::Timeout(format!(
                "{}: no complete answer within the overall upstream deadline ({}, egress.deadline)",
                self.url,
                humantime::format_duration(self.base)
            ))
        })
    }
}

/// Reads a whole body, refusing more than `limit` bytes (decompressed).
async fn read_limited(
    mut response: reqwest::Response,
    limit: u64,
    url: &Url,
    deadline: &Deadline,
) -> Result<Bytes, FetchError> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(FetchError::TooLarge(format!("{url} exceeds {limit} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = deadline
        .within(body.len() as u64, response.chunk())
        .await?
        .map_err(|e| classify(url, &e))?
    {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(FetchError::TooLarge(format!("{url} exceeds {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// One adapter's view of upstream: its base URL and the origins it may reach.
pub struct AdapterUpstream {
    pub base: Url,
    /// This adapter's metadata TTL, when it has its own.
    pub ttl: Option<Duration>,
    /// What its registry's token service takes (`upstreams.NAME.credentials`).
    pub credentials: Option<Credentials>,
    shared: Arc<Upstreams>,
    origins: Origins,
}

impl AdapterUpstream {
    pub fn new(base: Url, extra_origins: &[Url], shared: Arc<Upstreams>) -> Self {
        let configured: Vec<&Url> = std::iter::once(&base).chain(extra_origins).collect();
        for origin in &configured {
            shared.egress().configure(origin);
        }
        AdapterUpstream {
            origins: Origins::new(configured),
            base,
            ttl: None,
            credentials: None,
            shared,
        }
    }

    pub fn shared(&self) -> &Arc<Upstreams> {
        &self.shared
    }

    pub fn origins(&self) -> &Origins {
        &self.origins
    }

    /// A location the adapter took from a metadata field (an artifact plan's
    /// URL): its origin is learned, and the egress rule still applies to it.
    pub fn declared_location(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = parse(url)?;
        self.origins.learn(&parsed);
        Ok(parsed)
    }

    /// The files at `paths` in the container image layer at `url` (a
    /// location the adapter took from metadata), whose sha256 must be
    /// `sha256`: streamed to a temporary file beside the metadata cache while
    /// hashed, verified, then read within `limits` off the async threads.
    /// The layer is not kept; the files read out of it are remembered.
    pub async fn layer_files(
        &self,
        url: &str,
        sha256: &str,
        paths: Vec<String>,
        limits: ArchiveLimits,
    ) -> Result<Arc<Vec<Member>>, FetchError> {
        let key = LayerMemo::key(sha256, &paths);
        if let Some(files) = self.shared.layers.get(&key) {
            return Ok(files);
        }
        let files = Arc::new(self.read_layer(url, sha256, paths, limits).await?);
        self.shared.layers.put(key, files.clone());
        Ok(files)
    }

    async fn read_layer(
        &self,
        url: &str,
        sha256: &str,
        paths: Vec<String>,
        limits: ArchiveLimits,
    ) -> Result<Vec<Member>, FetchError> {
        let url = self.declared_location(url)?;
        let (mut response, deadline) = self
            .shared
            .get(
                &self.origins,
                self.credentials.as_ref(),
                &url,
                Default::default(),
            )
            .await?;
        if !response.status().is_success() {
            return Err(FetchError::Unreachable(format!(
                "{url} answered {}",
                response.status().as_u16()
            )));
        }
        let local = |e: std::io::Error| {
            FetchError::Unreachable(format!("{url}: a temporary file for the layer: {e}"))
        };
        let dir = self.shared.dir.clone();
        let tmp = tokio::task::spawn_blocking(move || tempfile::tempfile_in(dir))
            .await
            .map_err(|e| FetchError::Unreachable(e.to_string()))?
            .map_err(local)?;
        let mut tmp = tokio::fs::File::from_std(tmp);
        let limit = self.shared.settings.max_artifact_bytes;
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        while let Some(chunk) = deadline
            .within(total, response.chunk())
            .await?
            .map_err(|e| classify(&url, &e))?
        {
            total += chunk.len() as u64;
            if total > limit {
                return Err(FetchError::TooLarge(format!("{url} exceeds {limit} bytes")));
            }
            hasher.update(&chunk);
            tokio::io::AsyncWriteExt::write_all(&mut tmp, &chunk)
                .await
                .map_err(local)?;
        }
        let actual = hex::encode(hasher.finalize());
        if actual != sha256 {
            return Err(FetchError::Unreachable(format!(
                "{url}: sha256 mismatch: upstream sent {actual}, the manifest declares {sha256}; refused"
            )));
        }
        let file = tmp.into_std().await;
        tokio::task::spawn_blocking(move || layer_files(file, &paths, limits))
            .await
            .map_err(|e| FetchError::Unreachable(e.to_string()))?
            .map_err(|e| FetchError::Unreachable(format!("{url}: the layer cannot be read: {e}")))
    }

    /// Fetches metadata, as the egress rule allows.
    pub async fn fetch(&self, url: &str, accept: Option<&str>) -> Result<Fetched, FetchError> {
        let url = parse(url)?;
        self.shared
            .fetch_metadata(
                &self.origins,
                self.credentials.as_ref(),
                &url,
                accept,
                self.ttl,
            )
            .await
    }
}

fn parse(url: &str) -> Result<Url, FetchError> {
    Url::parse(url).map_err(|e| {
        FetchError::Forbidden(format!(
            "{url}: refused by gatehouse's egress rule: not a URL ({e})"
        ))
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// An HTTP server on 127.0.0.1 answering `body` to every request; counts them.
    async fn serve(body: &'static str) -> (Url, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base =
            Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut head = [0; 4096];
                let _ = stream.read(&mut head).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        (base, hits)
    }

    fn upstream(base: Url, dir: &Path) -> AdapterUpstream {
        let shared = Upstreams::new(dir, UpstreamSettings::default()).expect("client");
        AdapterUpstream::new(base, &[], shared)
    }

    #[tokio::test]
    async fn free_text_never_makes_an_origin_reachable() {
        let (base, _) =
            serve(r#"{"readme":"see http://127.0.0.2:7/x.tgz and https://files.example.test/p"}"#)
                .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let up = upstream(base.clone(), dir.path());
        let fetched = up
            .fetch(base.join("pkg").expect("url").as_str(), None)
            .await;
        assert_eq!(fetched.expect("fetched").status, 200);
        for named in [
            "http://127.0.0.2:7/other.tgz",
            "https://files.example.test/p/y.whl",
        ] {
            match up.fetch(named, None).await {
                Err(FetchError::Forbidden(why)) => {
                    assert!(why.contains("neither a configured upstream"), "{why}")
                }
                other => panic!("{named} was not refused: {other:?}"),
            }
        }
        // A location the adapter declares (an artifact plan's URL) is learned.
        let declared = up
            .declared_location("https://files.example.test/p/x.whl")
            .expect("url");
        let admitted = up.shared().egress().admit(up.origins(), &declared).await;
        assert!(admitted.is_ok(), "{admitted:?}");
    }

    #[tokio::test]
    async fn a_body_arriving_at_the_minimum_rate_earns_time_past_the_deadline() {
        let settings = UpstreamSettings {
            deadline: Duration::from_millis(100),
            min_rate: 1000,
            ..UpstreamSettings::default()
        };
        let deadline = Deadline::start(&settings, &Url::parse("http://up.test/x").expect("url"));
        let slow = || tokio::time::sleep(Duration::from_millis(500));
        // Never ready, so a busy machine cannot make it finish first.
        match deadline.within(0, std::future::pending::<()>()).await {
            Err(FetchError::Timeout(why)) => {
                assert!(
                    why.contains("http://up.test/x") && why.contains("deadline"),
                    "{why}"
                )
            }
            other => panic!("not cut at the deadline: {other:?}"),
        }
        // 60,000 bytes at 1,000 bytes a second have earned a minute.
        assert!(deadline.within(60_000, slow()).await.is_ok());
    }

    #[tokio::test]
    async fn a_fresh_copy_is_kept_only_once_an_adapter_accepted_it() {
        let (base, hits) = serve(r#"{"name":"pkg"}"#).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let up = upstream(base.clone(), dir.path());
        let url = base.join("pkg").expect("url");
        let fetch = || async {
            let fetched = up.fetch(url.as_str(), None).await.expect("fetched");
            fetched.stamp.expect("a fresh 200 has a stamp")
        };
        let refused = fetch().await;
        up.shared().settle(&[refused], false).await;
        let accepted = fetch().await;
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "a refused copy is fetched again"
        );
        assert!(
            !up.shared().is_current(&accepted),
            "not kept before it is settled"
        );
        up.shared()
            .settle(std::slice::from_ref(&accepted), true)
            .await;
        assert!(up.shared().is_current(&accepted));
        fetch().await;
        assert_eq!(hits.load(Ordering::SeqCst), 2, "an accepted copy is reused");
        // And it survives a restart.
        let restarted = upstream(base, dir.path());
        restarted.fetch(url.as_str(), None).await.expect("fetched");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}
