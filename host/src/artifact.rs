//! Artifacts: the host executes an adapter's plan natively. It runs the
//! last-stop gate, fetches the bytes from the URL upstream metadata declared,
//! hashes them while streaming to a temporary file, and only when every
//! declared digest matches moves them into the content-addressed store and
//! serves them. A mismatch is refused and nothing is cached.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};

use crate::bindings::Digest;
use crate::single_flight::SingleFlight;
use crate::upstream::{AdapterUpstream, FetchError, classify};

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
    #[error("upstream answered {0} for the artifact")]
    Status(u16),
    #[error("artifact store: {0}")]
    Store(String),
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
    fn key(&self) -> String {
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
}

/// A verified artifact ready to serve.
pub struct Ready {
    pub file: std::fs::File,
    pub len: u64,
}

const TMP: &str = "tmp";

impl ArtifactStore {
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join(TMP))?;
        let root = Dir::open_ambient_dir(dir, ambient_authority())?;
        Ok(ArtifactStore {
            root,
            verified: Mutex::new(HashSet::new()),
            flights: SingleFlight::default(),
        })
    }

    /// The verified artifact, from the store or fetched from `url` now.
    pub async fn obtain(
        &self,
        upstream: &AdapterUpstream,
        url: &str,
        expected: &Expected,
    ) -> Result<Ready, ArtifactError> {
        let key = expected.key();
        self.flights
            .run(&key, async {
                if let Some(ready) = self.cached(&key, expected)? {
                    return Ok(ready);
                }
                self.fetch(upstream, url, expected, &key).await?;
                self.cached(&key, expected)?
                    .ok_or_else(|| ArtifactError::Store("stored entry vanished".into()))
            })
            .await
    }

    /// Opens a stored entry; one that fails its digest is deleted.
    fn cached(&self, key: &str, expected: &Expected) -> Result<Option<Ready>, ArtifactError> {
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
            let mut hashers = Hashers::for_expected(expected);
            let mut buffer = vec![0; 256 << 10];
            loop {
                let n = file.read(&mut buffer).map_err(store_error)?;
                if n == 0 {
                    break;
                }
                hashers.update(&buffer[..n]);
            }
            if let Err(error) = hashers.check(expected) {
                tracing::error!(key, %error, "stored artifact is corrupt; deleting it and fetching again");
                let _ = self.root.remove_file(key);
                return Ok(None);
            }
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.to_owned());
            std::io::Seek::rewind(&mut file).map_err(store_error)?;
        }
        Ok(Some(Ready { file, len }))
    }

    async fn fetch(
        &self,
        upstream: &AdapterUpstream,
        url: &str,
        expected: &Expected,
        key: &str,
    ) -> Result<(), ArtifactError> {
        let url = upstream
            .check(url)
            .map_err(|e| ArtifactError::Fetch(e.to_string()))?;
        let shared = upstream.shared();
        let limit = shared.settings().max_artifact_bytes;
        let mut response = shared
            .client()
            .get(url.clone())
            .send()
            .await
            .map_err(|e| ArtifactError::Fetch(classify(&url, &e).to_string()))?;
        if !response.status().is_success() {
            return Err(ArtifactError::Status(response.status().as_u16()));
        }
        let store_error = |e: std::io::Error| ArtifactError::Store(e.to_string());
        let tmp_name = format!("{TMP}/{}", unique_name());
        let mut tmp = self.root.create(&tmp_name).map_err(store_error)?.into_std();
        let mut hashers = Hashers::for_expected(expected);
        let mut total = 0u64;
        let received: Result<(), ArtifactError> = async {
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| ArtifactError::Fetch(classify(&url, &e).to_string()))?
            {
                total += chunk.len() as u64;
                if total > limit {
                    return Err(ArtifactError::Fetch(
                        FetchError::TooLarge(format!("{url} exceeds {limit} bytes")).to_string(),
                    ));
                }
                hashers.update(&chunk);
                std::io::Write::write_all(&mut tmp, &chunk).map_err(store_error)?;
            }
            hashers.check(expected)
        }
        .await;
        if let Err(error) = received {
            let _ = self.root.remove_file(&tmp_name);
            return Err(error);
        }
        tmp.sync_all().map_err(store_error)?;
        if let Some(parent) = Path::new(key).parent() {
            self.root.create_dir_all(parent).map_err(store_error)?;
        }
        self.root
            .rename(&tmp_name, &self.root, key)
            .map_err(store_error)?;
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned());
        Ok(())
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
mod tests {
    use super::*;

    fn digest(algorithm: &str, hex: &str) -> Digest {
        Digest {
            algorithm: algorithm.into(),
            hex: hex.into(),
        }
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
