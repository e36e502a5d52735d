//! Caps on what guests and clients can make the host do: text lengths, counts
//! per call, store size, request sizes, connections. One table in the README
//! lists them; each is a key of the `limits:` section of `gatehouse.yaml`.
//!
//! Also here: cutting guest text to a cap ([`cut`]) and the per-address rate
//! limit on auth-failure records ([`AuthFailureLog`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every cap, with its default. Sizes are bytes unless the name says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bounds {
    /// A verdict's reason (and rule) in answers, packuments and the audit; cut with `…`.
    pub reason_bytes: usize,
    /// Advisory ids kept per verdict.
    pub advisories_per_verdict: usize,
    /// Log lines one guest call may write; the rest are counted in one summary line.
    pub log_lines_per_call: usize,
    /// Log bytes one guest call may write.
    pub log_bytes_per_call: usize,
    /// `audit.note` records one guest call may write; the rest are counted in one record.
    pub audit_notes_per_call: usize,
    /// Bytes (keys and values) one component may keep in its store.
    pub store_bytes_per_component: usize,
    /// Keys one component may keep in its store.
    pub store_keys_per_component: usize,
    /// The body of a response an adapter builds, in MiB.
    pub response_mb: usize,
    /// Gate audit records (decisions, policy errors) one adapter call may
    /// write through `gate.evaluate`; the rest are counted in one record.
    pub gate_records_per_call: usize,
    /// Versions in one `osv.affecting` call.
    pub osv_versions_per_call: usize,
    /// Queries in one `POST /api/v1/decide`.
    pub decide_queries: usize,
    /// A package name in a decide query.
    pub name_bytes: usize,
    /// A version in a decide query.
    pub version_bytes: usize,
    /// Auth-failure records per client address per minute; the rest are counted in one record.
    pub auth_failures_per_minute: usize,
    /// How much of a refused request's path the auth-failure record keeps.
    pub audit_path_bytes: usize,
    /// How long a client may take to send a request's headers; also how long
    /// a kept-alive connection may sit idle before its next request.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request body.
    pub request_body_timeout_ms: u64,
    /// Client connections open at once; past it new ones wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            reason_bytes: 1024,
            advisories_per_verdict: 32,
            log_lines_per_call: 200,
            log_bytes_per_call: 64 << 10,
            audit_notes_per_call: 100,
            store_bytes_per_component: 16 << 20,
            store_keys_per_component: 10_000,
            response_mb: 256,
            gate_records_per_call: 1_000,
            osv_versions_per_call: 20_000,
            decide_queries: 1_000,
            name_bytes: 512,
            version_bytes: 256,
            auth_failures_per_minute: 10,
            audit_path_bytes: 256,
            header_read_timeout_ms: 10_000,
            request_body_timeout_ms: 30_000,
            max_connections: 512,
        }
    }
}

impl Bounds {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms.max(1))
    }

    pub fn request_body_timeout(&self) -> Duration {
        Duration::from_millis(self.request_body_timeout_ms.max(1))
    }
}

/// What marks text that was cut.
pub const ELLIPSIS: &str = "…";

/// Cuts `text` to at most `max` bytes (on a character boundary), ending it
/// with [`ELLIPSIS`] when anything was cut.
pub fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(ELLIPSIS);
}

/// [`cut`] for a borrowed string.
pub fn cut_str(text: &str, max: usize) -> String {
    let mut owned = text[..floor_boundary(text, max.saturating_add(1))].to_owned();
    cut(&mut owned, max);
    owned
}

fn floor_boundary(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// How long one rate-limit window of [`AuthFailureLog`] lasts.
const AUTH_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at once; past it, finished windows are forgotten first.
const AUTH_ADDRESSES: usize = 4096;

/// Decides which auth failures get their own audit record: the first
/// `auth_failures_per_minute` per client address and minute. The rest are
/// counted, and the count is recorded once the address's window closes.
#[derive(Default)]
pub struct AuthFailureLog {
    windows: Mutex<HashMap<IpAddr, Window>>,
}

struct Window {
    started: Instant,
    recorded: usize,
    suppressed: usize,
}

/// What to write for one auth failure.
#[derive(Debug, PartialEq, Eq)]
pub struct AuthFailureVerdict {
    /// Whether this failure gets its own record.
    pub record: bool,
    /// Failures from the same address left unrecorded in its last window, to
    /// be recorded as one summary now.
    pub suppressed_before: usize,
    /// True for the first failure left unrecorded in a window (the record
    /// saying that the rest will be counted is written then).
    pub starts_suppressing: bool,
}

impl AuthFailureLog {
    /// Counts one failure from `address` against a cap of `per_minute`.
    pub fn failure(&self, address: IpAddr, per_minute: usize) -> AuthFailureVerdict {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= AUTH_ADDRESSES && !windows.contains_key(&address) {
            windows.retain(|_, w| now.duration_since(w.started) < AUTH_WINDOW);
        }
        let window = windows.entry(address).or_insert(Window {
            started: now,
            recorded: 0,
            suppressed: 0,
        });
        let mut suppressed_before = 0;
        if now.duration_since(window.started) >= AUTH_WINDOW {
            suppressed_before = window.suppressed;
            *window = Window {
                started: now,
                recorded: 0,
                suppressed: 0,
            };
        }
        if window.recorded < per_minute {
            window.recorded += 1;
            AuthFailureVerdict {
                record: true,
                suppressed_before,
                starts_suppressing: false,
            }
        } else {
            window.suppressed += 1;
            AuthFailureVerdict {
                record: false,
                suppressed_before,
                starts_suppressing: window.suppressed == 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_characters_whole_and_marks_the_cut() {
        let mut short = "abc".to_owned();
        cut(&mut short, 10);
        assert_eq!(short, "abc");
        let mut long = "é".repeat(100);
        cut(&mut long, 10);
        assert!(long.len() <= 10 && long.ends_with(ELLIPSIS), "{long}");
        assert_eq!(cut_str(&"x".repeat(5 << 20), 1024).len(), 1024);
    }

    #[test]
    fn auth_failures_past_the_cap_are_counted() {
        let log = AuthFailureLog::default();
        let address: IpAddr = "127.0.0.1".parse().expect("address");
        for _ in 0..3 {
            assert!(log.failure(address, 3).record);
        }
        let fourth = log.failure(address, 3);
        assert!(!fourth.record && fourth.starts_suppressing);
        let fifth = log.failure(address, 3);
        assert!(!fifth.record && !fifth.starts_suppressing);
        let other: IpAddr = "127.0.0.2".parse().expect("address");
        assert!(log.failure(other, 3).record);
    }
}
