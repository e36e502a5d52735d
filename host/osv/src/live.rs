//! The live fallback: packages the mirror has no record for are asked of an
//! OSV-API-shaped service, and its answers are kept for a while.
//!
//! One `POST {base}/v1/querybatch` per package, asking by package (no
//! version), so that one answer serves every version of it. Each listed vuln
//! that is a whole record (it has `affected`) is used as it is; a bare
//! `{id, modified}` entry, as the OSV API lists them, is fetched from
//! `{base}/v1/vulns/{id}`. The records go into an in-memory [`Mirror`], so
//! matching is the mirror's own. A package's answer is reused for the TTL; a
//! failed query is retried after [`RETRY_AFTER_FAILURE`] at the earliest, so
//! a service that is down is not asked on every request. OSV withdraws
//! records rather than deleting them, so a record once answered is kept (a
//! newer copy replaces it) for the life of the process.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::import::Item;
use crate::{Mirror, OsvError, normalize_name};

/// How long one request to the service may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed query, the package is not asked again for this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// Packages whose last answer time is remembered (older ones are asked again).
const REMEMBERED_PACKAGES: usize = 100_000;

/// A client of an OSV-API-shaped service with its answers cached.
pub struct Live {
    base: String,
    client: reqwest::Client,
    ttl: Duration,
    answers: Mirror,
    /// Package key → until when its answer (or failure) stands.
    asked: Mutex<LruCache<String, Instant>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("base", &self.base)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Live {
    /// A fallback to the service at `base` (e.g. `http://127.0.0.1:8000`),
    /// keeping each package's answer for `ttl`.
    pub fn new(base: &str, ttl: Duration) -> Result<Live, OsvError> {
        let client = crate::http::client_builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|source| OsvError::Http {
                url: base.to_owned(),
                source,
            })?;
        let capacity = NonZeroUsize::new(REMEMBERED_PACKAGES).unwrap_or(NonZeroUsize::MIN);
        Ok(Live {
            base: base.trim_end_matches('/').to_owned(),
            client,
            ttl,
            answers: Mirror::open_in_memory()?,
            asked: Mutex::new(LruCache::new(capacity)),
        })
    }

    /// The service's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// What the service said, matched like the mirror.
    pub fn answers(&self) -> &Mirror {
        &self.answers
    }

    /// Asks the service about one package unless its answer is younger than
    /// the TTL (or it failed less than a minute ago).
    pub async fn refresh(&self, ecosystem: &str, name: &str) -> Result<(), OsvError> {
        let name = normalize_name(ecosystem, name.trim());
        let key = format!("{ecosystem}\u{0}{name}");
        let now = Instant::now();
        if self.lock().get(&key).is_some_and(|&until| until > now) {
            return Ok(());
        }
        let outcome = self.query(ecosystem, &name).await;
        let stands = if outcome.is_ok() {
            self.ttl
        } else {
            RETRY_AFTER_FAILURE.min(self.ttl)
        };
        self.lock().put(key, now + stands);
        outcome
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Instant>> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn query(&self, ecosystem: &str, name: &str) -> Result<(), OsvError> {
        let url = format!("{}/v1/querybatch", self.base);
        let body = serde_json::json!({
            "queries": [{"package": {"ecosystem": ecosystem, "name": name}}]
        });
        let answer: serde_json::Value = self.post_json(&url, body.to_string()).await?;
        let vulns = answer["results"][0]["vulns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut items = Vec::with_capacity(vulns.len());
        for vuln in vulns {
            let Some(id) = vuln["id"].as_str().map(str::to_owned) else {
                continue;
            };
            let record = if vuln.get("affected").is_some() {
                vuln
            } else {
                let url = format!(
                    "{}/v1/vulns/{}",
                    self.base,
                    crate::sync::encode_segment(&id)
                );
                self.get_json(&url).await?
            };
            items.push(Item::Record {
                source: format!("{}:{id}", self.base),
                bytes: serde_json::to_vec(&record)?,
            });
        }
        if items.is_empty() {
            return Ok(());
        }
        let answers = self.answers.clone();
        let report = tokio::task::spawn_blocking(move || answers.import_items(items))
            .await
            .map_err(|e| OsvError::Task(e.to_string()))?;
        for skipped in &report.skipped {
            tracing::warn!(file = %skipped.file, reason = %skipped.reason, "live OSV record skipped");
        }
        Ok(())
    }

    async fn post_json(&self, url: &str, body: String) -> Result<serde_json::Value, OsvError> {
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        read_json(url, request.send().await).await
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, OsvError> {
        read_json(url, self.client.get(url).send().await).await
    }
}

async fn read_json(
    url: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<serde_json::Value, OsvError> {
    let http = |source| OsvError::Http {
        url: url.to_owned(),
        source,
    };
    let response = sent.map_err(http)?;
    if !response.status().is_success() {
        return Err(OsvError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let bytes = crate::http::body_capped(response, url, crate::http::ANSWER_BYTES).await?;
    serde_json::from_slice(&bytes).map_err(|e| OsvError::Bundle {
        url: url.to_owned(),
        reason: format!("not JSON: {e}"),
    })
}
