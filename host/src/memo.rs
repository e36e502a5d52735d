//! Reuse of adapter outcomes: a GET answered once is answered again without
//! running WASM, parsing JSON or asking the policies, for as long as nothing
//! it was built from has changed — the same adapter and policy generation, the
//! same OSV generation, the same request (as far as the response's `Vary`
//! says), and every upstream copy it read still current within its TTL.
//! Artifact outcomes are reused as plans; their last-stop gate decisions are
//! reused by [`GateMemo`] for a short while under the same conditions, so a
//! warm artifact is served without any guest call.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, VARY};
use hyper::{HeaderMap, StatusCode};

use crate::bindings::adapter::ArtifactPlan;
use crate::capabilities::upstream::{FetchStamp, Trace, Upstreams};

/// A response an adapter built, cheap to clone, with its headers parsed once
/// and a gzipped body made once, in the background, for clients that take it.
#[derive(Clone)]
pub struct Built {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    gzipped: Arc<Gzipped>,
}

#[derive(Default)]
struct Gzipped {
    started: AtomicBool,
    body: OnceLock<Bytes>,
}

/// Bodies smaller than this are sent as they are.
const GZIP_FROM: usize = 1024;

impl Built {
    /// Parses the adapter's status and headers (invalid ones are dropped).
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Bytes) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                map.append(name, value);
            }
        }
        Built {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            headers: map,
            body,
            gzipped: Arc::default(),
        }
    }

    /// Whether a gzipped variant suits this response (a text body of some size).
    pub fn compressible(&self) -> bool {
        let text = self
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("json") || t.starts_with("text/") || t.contains("xml"));
        self.status == StatusCode::OK
            && text
            && self.body.len() >= GZIP_FROM
            && !self.headers.contains_key(CONTENT_ENCODING)
    }

    /// The gzipped body once it exists; the first call starts making it off
    /// the async threads, so no request waits for compression.
    pub fn gzipped(&self) -> Option<Bytes> {
        if let Some(body) = self.gzipped.body.get() {
            return Some(body.clone());
        }
        if !self.gzipped.started.swap(true, Ordering::AcqRel) {
            let gzipped = self.gzipped.clone();
            let body = self.body.clone();
            tokio::task::spawn_blocking(move || {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                let done =
                    std::io::Write::write_all(&mut encoder, &body).and_then(|()| encoder.finish());
                match done {
                    Ok(compressed) => {
                        let _ = gzipped.body.set(Bytes::from(compressed));
                    }
                    Err(error) => tracing::warn!(%error, "gzipping a response failed"),
                }
            });
        }
        None
    }
}

#[derive(Clone)]
pub enum Remembered {
    Respond(Built),
    Artifact(Box<ArtifactPlan>),
}

struct Entry {
    outcome: Remembered,
    stamps: Vec<FetchStamp>,
    /// Request header values the response varies on (names lower case).
    vary: Vec<(String, Option<String>)>,
    size: usize,
}

/// The memo, bounded by total body size.
pub struct Memo {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    order: VecDeque<String>,
    size: usize,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Memo {
    pub fn new(limit_bytes: usize) -> Self {
        Memo {
            limit: limit_bytes,
            state: Mutex::new(State::default()),
        }
    }

    /// The remembered outcome for `key`, if everything it depended on still holds.
    pub fn get(
        &self,
        key: &str,
        request_headers: &[(String, String)],
        upstreams: &Upstreams,
    ) -> Option<Remembered> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let entry = state.entries.get(key)?;
        let same_request = entry
            .vary
            .iter()
            .all(|(name, value)| header(request_headers, name) == value.as_deref());
        (same_request && entry.stamps.iter().all(|s| upstreams.is_current(s)))
            .then(|| entry.outcome.clone())
    }

    /// Remembers an outcome built from `trace`'s upstream copies, when it can
    /// be reused; true when it was kept.
    pub fn put(
        &self,
        key: String,
        request_headers: &[(String, String)],
        outcome: Remembered,
        trace: Trace,
    ) -> bool {
        if !trace.reusable {
            return false;
        }
        let (size, vary) = match &outcome {
            Remembered::Respond(built) => {
                // Only successes are worth keeping; errors should be retried.
                if built.status != StatusCode::OK {
                    return false;
                }
                let vary = built
                    .headers
                    .get_all(VARY)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(|name| name.trim().to_ascii_lowercase())
                    .filter(|name| !name.is_empty())
                    .map(|name| {
                        let value = header(request_headers, &name).map(str::to_owned);
                        (name, value)
                    })
                    .collect();
                (built.body.len() + 512, vary)
            }
            Remembered::Artifact(_) => (1024, Vec::new()),
        };
        if size > self.limit / 4 {
            return false;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = state.entries.remove(&key) {
            state.size -= old.size;
            state.order.retain(|k| k != &key);
        }
        while state.size + size > self.limit {
            let Some(oldest) = state.order.pop_front() else {
                break;
            };
            if let Some(old) = state.entries.remove(&oldest) {
                state.size -= old.size;
            }
        }
        state.size += size;
        state.order.push_back(key.clone());
        state.entries.insert(
            key,
            Entry {
                outcome,
                stamps: trace.stamps,
                vary,
                size,
            },
        );
        true
    }
}

/// A last-stop gate answer for an artifact plan.
#[derive(Debug, Clone, PartialEq)]
pub enum GateAnswer {
    Allow,
    /// The blocking rules and the message the client is shown.
    Block {
        rules: String,
        message: String,
    },
}

/// Last-stop gate answers, keyed like the memo (generation, decision epoch,
/// request) plus the requester, and kept for at most `ttl`: policies that
/// read the clock (such as a minimum age) are re-asked that often.
pub struct GateMemo {
    ttl: Duration,
    limit: usize,
    entries: Mutex<HashMap<String, (Instant, GateAnswer)>>,
}

impl GateMemo {
    pub fn new(ttl: Duration, limit: usize) -> Self {
        GateMemo {
            ttl,
            limit,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &str) -> Option<GateAnswer> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (at, answer) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| answer.clone())
    }

    pub fn put(&self, key: String, answer: GateAnswer) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.limit {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= self.limit {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), answer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_answers_expire_and_stay_bounded() {
        let memo = GateMemo::new(Duration::from_secs(60), 2);
        memo.put("a".into(), GateAnswer::Allow);
        assert_eq!(memo.get("a"), Some(GateAnswer::Allow));
        memo.put("b".into(), GateAnswer::Allow);
        memo.put("c".into(), GateAnswer::Allow);
        assert_eq!(memo.entries.lock().map(|e| e.len()).unwrap_or(0), 1);
        let expired = GateMemo::new(Duration::ZERO, 2);
        expired.put("a".into(), GateAnswer::Allow);
        assert_eq!(expired.get("a"), None);
    }
}
