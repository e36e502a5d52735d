//! Console sessions: a random session id in an HttpOnly, SameSite=Strict
//! cookie (Secure behind HTTPS), and per session a synchronizer token that
//! every form carries and every write must return (CSRF).
//!
//! Sessions are kept in memory (a restart signs everyone out), at most
//! `limits.console_sessions` at once (a sign-in past it ends the oldest),
//! each for `limits.console_session_minutes` after its sign-in. Only the
//! sha256 of a session id is kept, so the table holds nothing a cookie could
//! be rebuilt from.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::HeaderMap;
use hyper::header::COOKIE;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::Bounds;
use crate::http::HttpError;

/// The session cookie's name.
const COOKIE_NAME: &str = "gatehouse_console";
/// Where the cookie is sent: the console's paths only.
const COOKIE_PATH: &str = "/console";

/// The open sessions.
pub struct Sessions {
    open: Mutex<HashMap<[u8; 32], Session>>,
    cap: usize,
    lifetime: Duration,
}

struct Session {
    admin: String,
    csrf: String,
    started: Instant,
}

/// The session a request carries: who signed in, and the token its forms
/// carry.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The admin token's name (never the token).
    pub admin: String,
    pub csrf: String,
    key: [u8; 32],
}

impl Sessions {
    pub fn new(bounds: &Bounds) -> Self {
        Sessions {
            open: Mutex::new(HashMap::new()),
            cap: bounds.console_sessions.max(1),
            lifetime: bounds.console_session(),
        }
    }

    /// How long a session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Opens a session for `admin`; returns the cookie value (the session id).
    pub fn open(&self, admin: &str) -> Result<String, HttpError> {
        let id = random()?;
        let session = Session {
            admin: admin.to_owned(),
            csrf: random()?,
            started: Instant::now(),
        };
        let mut open = self.lock();
        open.retain(|_, s| s.started.elapsed() < self.lifetime);
        while open.len() >= self.cap {
            let oldest = open.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| *k);
            match oldest {
                Some(key) => open.remove(&key),
                None => break,
            };
        }
        open.insert(key_of(&id), session);
        Ok(id)
    }

    /// The session the request's cookie names, while it lasts.
    pub fn find(&self, headers: &HeaderMap) -> Option<Signed> {
        let id = cookie(headers)?;
        let key = key_of(&id);
        let mut open = self.lock();
        let session = open.get(&key)?;
        if session.started.elapsed() >= self.lifetime {
            open.remove(&key);
            return None;
        }
        Some(Signed {
            admin: session.admin.clone(),
            csrf: session.csrf.clone(),
            key,
        })
    }

    /// Ends `signed`'s session (sign-out).
    pub fn close(&self, signed: &Signed) {
        self.lock().remove(&signed.key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Signed {
    /// Refuses a write whose form did not return this session's token.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), HttpError> {
        let presented = presented.unwrap_or("").as_bytes();
        if bool::from(presented.ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(HttpError::Forbidden(
                "this form lacks the session's CSRF token: reload the page and send it again"
                    .into(),
            ))
        }
    }
}

/// The `Set-Cookie` value that sets the session cookie (empty `id`: clears it).
pub fn set_cookie(id: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={id}; Path={COOKIE_PATH}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The session id in the request's cookies.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE_NAME && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

fn key_of(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// 256 random bits, URL-safe.
fn random() -> Result<String, HttpError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| HttpError::Internal(format!("no randomness for a session: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, cookie.parse().expect("header"));
        headers
    }

    fn sessions(cap: usize, minutes: u64) -> Sessions {
        Sessions::new(&Bounds {
            console_sessions: cap,
            console_session_minutes: minutes,
            ..Bounds::default()
        })
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_closed() {
        let sessions = sessions(4, 60);
        let id = sessions.open("ops").expect("opens");
        let found = sessions
            .find(&headers(&format!("theme=dark; {COOKIE_NAME}={id}")))
            .expect("found");
        assert_eq!(found.admin, "ops");
        assert!(found.check_csrf(Some(&found.csrf)).is_ok());
        assert!(found.check_csrf(Some("guess")).is_err());
        assert!(found.check_csrf(None).is_err());
        assert!(
            sessions
                .find(&headers(&format!("{COOKIE_NAME}=x")))
                .is_none()
        );
        sessions.close(&found);
        assert!(
            sessions
                .find(&headers(&format!("{COOKIE_NAME}={id}")))
                .is_none()
        );
    }

    #[test]
    fn past_the_cap_the_oldest_session_ends() {
        let sessions = sessions(2, 60);
        let ids: Vec<String> = (0..3)
            .map(|_| sessions.open("ops").expect("opens"))
            .collect();
        let live = |id: &str| {
            sessions
                .find(&headers(&format!("{COOKIE_NAME}={id}")))
                .is_some()
        };
        assert!(!live(&ids[0]));
        assert!(live(&ids[1]) && live(&ids[2]));
        assert_eq!(sessions.lock().len(), 2);
    }

    #[test]
    fn the_cookie_is_locked_down() {
        let cookie = set_cookie("abc", Duration::from_secs(60), true);
        for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!set_cookie("abc", Duration::from_secs(60), false).contains("Secure"));
    }
}
