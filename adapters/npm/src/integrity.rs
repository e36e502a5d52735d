//! The digests a packument's `dist` declares, as the host verifies them.
//!
//! `dist.integrity` is Subresource Integrity: space-separated `algorithm-base64`
//! tokens, each possibly followed by `?options`. `dist.shasum` is the legacy
//! SHA-1 in hex. Both become lower-case hex [`Digest`]s; the host checks every
//! one before a byte reaches the client.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_adapter_sdk::Digest;

/// The algorithms the host verifies, with their digest lengths in bytes.
const ALGORITHMS: [(&str, usize); 3] = [("sha512", 64), ("sha256", 32), ("sha1", 20)];

/// Every digest `integrity` and `shasum` declare, without repeats.
///
/// Tokens for other algorithms or with a malformed value are skipped: they
/// cannot be verified here, and clients check `integrity` themselves anyway.
pub fn declared_digests(integrity: Option<&str>, shasum: Option<&str>) -> Vec<Digest> {
    let mut digests: Vec<Digest> = integrity
        .into_iter()
        .flat_map(str::split_ascii_whitespace)
        .filter_map(sri_digest)
        .collect();
    if let Some(hex) = shasum
        .map(str::trim)
        .filter(|hex| is_hex_of_length(hex, 20))
    {
        digests.push(Digest {
            algorithm: "sha1".into(),
            hex: hex.to_ascii_lowercase(),
        });
    }
    let mut unique: Vec<Digest> = Vec::with_capacity(digests.len());
    for digest in digests {
        if !unique
            .iter()
            .any(|d| d.algorithm == digest.algorithm && d.hex == digest.hex)
        {
            unique.push(digest);
        }
    }
    unique
}

/// One SRI token, `sha512-<base64>[?options]`, as a hex digest.
fn sri_digest(token: &str) -> Option<Digest> {
    let (algorithm, rest) = token.split_once('-')?;
    let algorithm = algorithm.to_ascii_lowercase();
    let (_, length) = ALGORITHMS.iter().find(|(name, _)| *name == algorithm)?;
    let encoded = rest.split_once('?').map_or(rest, |(value, _)| value);
    let bytes = STANDARD.decode(encoded).ok()?;
    if bytes.len() != *length {
        return None;
    }
    // `encode_to_slice` skips the per-character iterator of `hex::encode`:
    // this runs for every version of every packument.
    let mut hex = vec![0u8; bytes.len() * 2];
    hex::encode_to_slice(&bytes, &mut hex).ok()?;
    Some(Digest {
        algorithm,
        hex: String::from_utf8(hex).ok()?,
    })
}

fn is_hex_of_length(text: &str, bytes: usize) -> bool {
    text.len() == bytes * 2 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The digests of the empty string.
    const SHA512_EMPTY_B64: &str =
        "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==";
    const SHA512_EMPTY_HEX: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
    const SHA1_EMPTY_HEX: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

    fn pairs(digests: &[Digest]) -> Vec<(&str, &str)> {
        digests
            .iter()
            .map(|d| (d.algorithm.as_str(), d.hex.as_str()))
            .collect()
    }

    #[test]
    fn sri_sha512_to_hex() {
        let integrity = format!("sha512-{SHA512_EMPTY_B64}");
        assert_eq!(
            pairs(&declared_digests(Some(&integrity), None)),
            [("sha512", SHA512_EMPTY_HEX)]
        );
    }

    #[test]
    fn shasum_is_lower_cased_and_joins_integrity() {
        let integrity = format!("sha512-{SHA512_EMPTY_B64}?foo");
        let digests = declared_digests(Some(&integrity), Some(&SHA1_EMPTY_HEX.to_uppercase()));
        assert_eq!(
            pairs(&digests),
            [("sha512", SHA512_EMPTY_HEX), ("sha1", SHA1_EMPTY_HEX)]
        );
    }

    #[test]
    fn several_tokens_repeats_and_junk() {
        let integrity = format!(
            "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk= sha384-abc md5-xyz sha512-!!! sha512-{SHA512_EMPTY_B64}"
        );
        let digests = declared_digests(Some(&integrity), Some(SHA1_EMPTY_HEX));
        assert_eq!(
            pairs(&digests),
            [("sha1", SHA1_EMPTY_HEX), ("sha512", SHA512_EMPTY_HEX)]
        );
    }

    #[test]
    fn nothing_declared() {
        assert!(declared_digests(None, None).is_empty());
        assert!(declared_digests(Some(""), Some("not-hex")).is_empty());
        // A truncated digest is no digest.
        assert!(declared_digests(Some("sha512-AAAA"), None).is_empty());
    }
}
