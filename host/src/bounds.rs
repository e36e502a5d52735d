//! Applying the caps of `limits:` ([`crate::config::Bounds`]): cutting guest
//! text to a cap ([`cut`]) and the per-address rate limit on auth-failure
//! records ([`AuthFailureLog`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
/// Sources tracked at once; past it, finished windows are forgotten first,
/// and while every tracked window is young new sources share one window.
const AUTH_SOURCES: usize = 4096;
/// All sources together get this many times one source's records a minute,
/// so rotating addresses (an IPv6 range, say) cannot grow the audit either.
const AUTH_ALL_SOURCES_FACTOR: usize = 10;

/// Decides which auth failures get their own audit record: the first
/// `auth_failures_per_minute` per client source (an IPv4 address or an IPv6
/// /64) and minute, and at most ten times that from all sources together.
/// The rest are counted, and the count is recorded once the source's
/// window closes.
#[derive(Default)]
pub struct AuthFailureLog {
    windows: Mutex<AuthWindows>,
}

#[derive(Default)]
struct AuthWindows {
    by_source: HashMap<IpAddr, Window>,
    all: Option<Window>,
}

struct Window {
    started: Instant,
    recorded: usize,
    suppressed: usize,
}

impl Window {
    fn new(now: Instant) -> Self {
        Window {
            started: now,
            recorded: 0,
            suppressed: 0,
        }
    }

    /// Starts a new window once this one is over; returns what the old one
    /// left unrecorded.
    fn roll(&mut self, now: Instant) -> usize {
        if now.duration_since(self.started) < AUTH_WINDOW {
            return 0;
        }
        let suppressed = self.suppressed;
        *self = Window::new(now);
        suppressed
    }
}

/// The source a failure is counted against: IPv6 addresses by their /64 (one
/// client can hold a whole /64), IPv4-mapped addresses as IPv4.
fn auth_source(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from_bits(
            v6.to_bits() & !u128::from(u64::MAX),
        )),
        v4 => v4,
    }
}

/// What to write for one auth failure.
#[derive(Debug, PartialEq, Eq)]
pub struct AuthFailureVerdict {
    /// Whether this failure gets its own record.
    pub record: bool,
    /// Failures from the same source left unrecorded in its last window, to
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
        let AuthWindows { by_source, all } = &mut *windows;
        let all = all.get_or_insert_with(|| Window::new(now));
        all.roll(now);
        let mut source = auth_source(address);
        if by_source.len() >= AUTH_SOURCES && !by_source.contains_key(&source) {
            by_source.retain(|_, w| now.duration_since(w.started) < AUTH_WINDOW);
            if by_source.len() >= AUTH_SOURCES {
                // Every tracked source is busy: the newcomers share one window.
                source = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
            }
        }
        let window = by_source.entry(source).or_insert_with(|| Window::new(now));
        let suppressed_before = window.roll(now);
        if window.recorded < per_minute
            && all.recorded < per_minute.saturating_mul(AUTH_ALL_SOURCES_FACTOR)
        {
            window.recorded += 1;
            all.recorded += 1;
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

    #[test]
    fn rotating_sources_share_one_cap() {
        let log = AuthFailureLog::default();
        // One IPv6 /64 is one source.
        let recorded = (0..10u16)
            .filter(|i| {
                let address: IpAddr = format!("2001:db8::{i:x}").parse().expect("address");
                log.failure(address, 3).record
            })
            .count();
        assert_eq!(recorded, 3);
        // Many IPv4 addresses: at most ten times one source's cap in all.
        let recorded = (0..=255u8)
            .flat_map(|a| (0..4u8).map(move |b| IpAddr::from([10, 0, a, b])))
            .filter(|&address| log.failure(address, 3).record)
            .count();
        assert_eq!(recorded, 3 * AUTH_ALL_SOURCES_FACTOR - 3);
    }
}
