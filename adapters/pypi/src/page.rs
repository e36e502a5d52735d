//! One project's page of the simple API, independent of its serialisation.

use std::collections::BTreeMap;

use gatehouse_adapter_sdk::Digest;

/// The simple API version this adapter speaks (PEP 629); 1.1 adds PEP 700.
pub const API_VERSION: &str = "1.1";

/// Hash name → lower-case hex, as the index declares them.
pub type Hashes = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProjectPage {
    /// The normalised project name.
    pub name: String,
    pub files: Vec<DistFile>,
    /// Every published version (PEP 700), as upstream listed them; empty when
    /// upstream did not say.
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DistFile {
    pub filename: String,
    /// Absolute, without a fragment.
    pub url: String,
    pub hashes: Hashes,
    pub requires_python: Option<String>,
    /// PEP 592: `Some("")` when yanked without a reason.
    pub yanked: Option<String>,
    /// PEP 658/714: `Some` when a `.metadata` file exists, with its hashes
    /// (which may be empty when upstream only said `true`).
    pub core_metadata: Option<Hashes>,
    /// PEP 700.
    pub size: Option<u64>,
    /// PEP 700, ISO 8601 in UTC as upstream wrote it.
    pub upload_time: Option<String>,
}

impl DistFile {
    /// Seconds since the Unix epoch of `upload_time`, when it can be read.
    pub fn uploaded_at(&self) -> Option<i64> {
        let text = self.upload_time.as_deref()?;
        text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
    }
}

/// The digests among `hashes` the host can verify (sha256, sha512), well formed.
pub fn verifiable_digests(hashes: &Hashes) -> Vec<Digest> {
    [("sha256", 64), ("sha512", 128)]
        .into_iter()
        .filter_map(|(algorithm, hex_len)| {
            let hex = hashes.get(algorithm)?;
            (hex.len() == hex_len && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Digest {
                algorithm: algorithm.into(),
                hex: hex.to_ascii_lowercase(),
            })
        })
        .collect()
}

/// Reads `name=hex` (a URL fragment or a PEP 658 attribute value).
pub fn parse_hash(text: &str) -> Option<(String, String)> {
    let (name, hex) = text.split_once('=')?;
    let well_formed = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| (name.to_ascii_lowercase(), hex.to_ascii_lowercase()))
}

/// Fails on a simple API major version other than 1 (PEP 629 asks clients to).
pub fn check_api_version(version: &str) -> Result<(), String> {
    match version.split('.').next() {
        Some("1") => Ok(()),
        _ => Err(format!(
            "upstream speaks simple API version {version}, not 1.x"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_sha256_and_sha512_are_verifiable() {
        let sha256 = "A".repeat(64);
        let hashes = Hashes::from([
            ("sha256".into(), sha256),
            ("sha512".into(), "zz".into()),
            ("md5".into(), "0".repeat(32)),
        ]);
        let digests = verifiable_digests(&hashes);
        assert_eq!(digests.len(), 1);
        assert_eq!(digests[0].algorithm, "sha256");
        assert_eq!(digests[0].hex, "a".repeat(64));
    }

    #[test]
    fn hash_fragments() {
        assert_eq!(
            parse_hash("SHA256=ABCDEF"),
            Some(("sha256".into(), "abcdef".into()))
        );
        assert_eq!(parse_hash("true"), None);
        assert_eq!(parse_hash("sha256="), None);
        assert_eq!(parse_hash("sha256=xyz"), None);
    }

    #[test]
    fn upload_times_parse_with_and_without_fractions() {
        let mut file = DistFile {
            upload_time: Some("2023-01-02T03:04:05.123456Z".into()),
            ..DistFile::default()
        };
        assert_eq!(file.uploaded_at(), Some(1_672_628_645));
        file.upload_time = Some("2023-01-02T03:04:05Z".into());
        assert_eq!(file.uploaded_at(), Some(1_672_628_645));
        file.upload_time = Some("yesterday".into());
        assert_eq!(file.uploaded_at(), None);
    }

    #[test]
    fn api_major_version_must_be_one() {
        assert!(check_api_version("1.0").is_ok());
        assert!(check_api_version("1.4").is_ok());
        assert!(check_api_version("2.0").is_err());
    }
}
