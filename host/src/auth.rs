//! Tokens: admin tokens for `/api/v1/admin/*` and optional client tokens for
//! the proxy routes.
//!
//! The config holds only each token's sha256; a presented token is hashed and
//! compared with every entry in constant time, so neither the secret nor its
//! position in the list leaks through timing.

use base64::Engine as _;
use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::TokenConfig;

/// A token entry in the config is malformed.
#[derive(Debug, thiserror::Error)]
#[error("{list} token {name:?}: sha256 must be 64 hex digits (`gatehouse token new` prints one)")]
pub struct BadTokenEntry {
    list: &'static str,
    name: String,
}

/// A set of named tokens, kept as hashes.
#[derive(Debug, Default)]
pub struct Tokens {
    entries: Vec<(String, [u8; 32])>,
}

impl Tokens {
    /// Reads the config's entries; `list` names them in errors.
    pub fn from_config(list: &'static str, entries: &[TokenConfig]) -> Result<Self, BadTokenEntry> {
        let entries = entries
            .iter()
            .map(|entry| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(entry.sha256.trim(), &mut hash).map_err(|_| {
                    BadTokenEntry {
                        list,
                        name: entry.name.clone(),
                    }
                })?;
                Ok((entry.name.clone(), hash))
            })
            .collect::<Result<_, _>>()?;
        Ok(Tokens { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The name of the entry `presented` matches, checking every entry.
    pub fn identify(&self, presented: &str) -> Option<&str> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (name, expected) in &self.entries {
            if bool::from(expected.ct_eq(&hash)) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

/// The hex sha256 of `token`, as the config stores it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (256 bits, URL-safe).
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(format!(
        "gh_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The token a request carries, in whichever form its client sends it:
/// `Bearer TOKEN` (npm `_authToken`, the admin API), `Basic base64(user:TOKEN)`
/// (pip, uv, go and Maven credentials; the password is the token, or the user
/// name when the password is empty), or the bare token (cargo).
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or(match value {
        scheme if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic") => {
            (scheme, "")
        }
        _ => ("", value),
    });
    let token = if scheme.eq_ignore_ascii_case("bearer") {
        rest.trim().to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':').unwrap_or((&text, ""));
        if password.is_empty() { user } else { password }.to_owned()
    } else {
        value.to_owned()
    };
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secrets: &[(&str, &str)]) -> Tokens {
        let entries: Vec<TokenConfig> = secrets
            .iter()
            .map(|(name, secret)| TokenConfig {
                name: (*name).into(),
                sha256: hash_token(secret),
            })
            .collect();
        Tokens::from_config("admin", &entries).expect("valid")
    }

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization.parse().expect("header"));
        headers
    }

    #[test]
    fn identifies_by_hash() {
        let set = tokens(&[("ops", "s3cret"), ("ci", "other")]);
        assert_eq!(set.identify("s3cret"), Some("ops"));
        assert_eq!(set.identify("other"), Some("ci"));
        assert_eq!(set.identify("s3cre"), None);
        assert_eq!(set.identify(""), None);
    }

    #[test]
    fn reads_every_client_form() {
        let basic = |text: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(text)
            )
        };
        assert_eq!(
            presented_token(&headers("Bearer abc")).as_deref(),
            Some("abc")
        );
        assert_eq!(presented_token(&headers("abc")).as_deref(), Some("abc"));
        assert_eq!(
            presented_token(&headers(&basic("alice:abc"))).as_deref(),
            Some("abc")
        );
        assert_eq!(
            presented_token(&headers(&basic("abc:"))).as_deref(),
            Some("abc")
        );
        assert_eq!(presented_token(&headers("Bearer ")), None);
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }

    #[test]
    fn rejects_malformed_entries() {
        let entry = TokenConfig {
            name: "ops".into(),
            sha256: "not-hex".into(),
        };
        let error = Tokens::from_config("admin", &[entry]).expect_err("malformed");
        assert!(error.to_string().contains("\"ops\""), "{error}");
    }

    #[test]
    fn new_tokens_differ() {
        let a = new_token().expect("random");
        assert_ne!(a, new_token().expect("random"));
        assert!(a.len() > 40);
    }
}
