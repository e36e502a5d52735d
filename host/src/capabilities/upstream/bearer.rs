//! The registry token dance (the distribution spec's bearer challenge): an
//! upstream that answers `401` with `WWW-Authenticate: Bearer realm=…,
//! service=…, scope=…` is asked again with a token from that realm, fetched
//! anonymously or with the upstream's configured credentials (sent to the
//! realm only, never logged). Tokens are kept until they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use url::Url;

use super::{Deadline, FetchError, classify, read_limited};
use crate::config::Credentials;

/// The most a token answer may hold.
const TOKEN_BYTES: u64 = 64 << 10;
/// How long a token without `expires_in` is used (the spec's default).
const TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// A token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// A bearer challenge: where to get a token, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: Url,
    service: Option<String>,
    scope: Option<String>,
}

impl Challenge {
    /// The bearer challenge among a 401's headers, if there is one.
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(Challenge::parse)
    }

    fn parse(value: &str) -> Option<Self> {
        let (scheme, params) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut fields: HashMap<String, String> = HashMap::new();
        let mut rest = params.trim();
        while let Some((key, after)) = rest.split_once('=') {
            let key = key
                .trim()
                .trim_start_matches(',')
                .trim()
                .to_ascii_lowercase();
            let after = after.trim_start();
            let (value, next) = match after.strip_prefix('"') {
                Some(quoted) => {
                    let end = quoted.find('"')?;
                    (&quoted[..end], &quoted[end + 1..])
                }
                None => after.split_once(',').unwrap_or((after, "")),
            };
            fields.insert(key, value.trim().to_owned());
            rest = next.trim_start_matches([',', ' ']);
        }
        Some(Challenge {
            realm: Url::parse(fields.get("realm")?).ok()?,
            service: fields.remove("service"),
            scope: fields.remove("scope"),
        })
    }

    /// The token request's URL.
    fn url(&self) -> Url {
        let mut url = self.realm.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &self.service {
                query.append_pair("service", service);
            }
            if let Some(scope) = &self.scope {
                query.append_pair("scope", scope);
            }
        }
        url
    }
}

/// Tokens got, by challenge and account, until they expire.
#[derive(Default)]
pub struct Tokens(Mutex<HashMap<String, (String, Instant)>>);

impl Tokens {
    /// A token answering `challenge`, from the cache or its realm now.
    pub async fn get(
        &self,
        client: &reqwest::Client,
        challenge: &Challenge,
        credentials: Option<&Credentials>,
        deadline: &Deadline,
    ) -> Result<String, FetchError> {
        let key = format!(
            "{:?}\n{}",
            challenge,
            credentials.map_or("", |c| c.username.as_str())
        );
        let now = Instant::now();
        if let Some((token, _)) = self.lock().get(&key).filter(|(_, expires)| *expires > now) {
            return Ok(token.clone());
        }
        let url = challenge.url();
        let mut request = client.get(url.clone());
        if let Some(credentials) = credentials {
            request = request.basic_auth(&credentials.username, Some(&credentials.password));
        }
        let response = deadline
            .within(0, request.send())
            .await?
            .map_err(|e| classify(&challenge.realm, &e))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let who = match credentials {
                Some(_) => {
                    "the credentials configured for this upstream (upstreams.NAME.credentials)"
                }
                None => "an anonymous pull; configure upstreams.NAME.credentials",
            };
            return Err(FetchError::Unreachable(format!(
                "{}: the upstream's token service refused {who} (HTTP {status})",
                challenge.realm
            )));
        }
        let body = read_limited(response, TOKEN_BYTES, &challenge.realm, deadline).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = answer["token"]
            .as_str()
            .or_else(|| answer["access_token"].as_str())
            .ok_or_else(|| {
                FetchError::Unreachable(format!(
                    "{}: the token service's answer holds no token",
                    challenge.realm
                ))
            })?
            .to_owned();
        let lifetime = answer["expires_in"]
            .as_u64()
            .map_or(TOKEN_LIFETIME, Duration::from_secs)
            .saturating_sub(TOKEN_MARGIN);
        self.lock().insert(key, (token.clone(), now + lifetime));
        Ok(token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read_with_quoted_and_bare_values() {
        let challenge = Challenge::parse(
            r#"Bearer realm="https://auth.test/token",service="registry.test",scope="repository:library/alpine:pull""#,
        )
        .expect("a bearer challenge");
        assert_eq!(
            challenge.url().as_str(),
            "https://auth.test/token?service=registry.test&scope=repository%3Alibrary%2Falpine%3Apull"
        );
        let bare = Challenge::parse("bearer realm=http://127.0.0.1:9/t, service=s").expect("bare");
        assert_eq!(bare.url().as_str(), "http://127.0.0.1:9/t?service=s");
        assert_eq!(Challenge::parse(r#"Basic realm="x""#), None);
        assert_eq!(Challenge::parse(r#"Bearer service="no realm""#), None);
    }
}
