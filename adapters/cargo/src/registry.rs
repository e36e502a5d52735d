//! The registry's `config.json`: the one this adapter serves (downloads come
//! back through it) and the upstream's, whose `dl` template says where each
//! `.crate` really lives.

use serde::Deserialize;

use crate::route::{DOWNLOADS, index_prefix};

/// The markers a `dl` template may contain; with none, cargo appends
/// `/{crate}/{version}/download`.
const MARKERS: [&str; 5] = [
    "{crate}",
    "{version}",
    "{prefix}",
    "{lowerprefix}",
    "{sha256-checksum}",
];

/// The `config.json` clients get: downloads and the API point at this
/// adapter; with client authentication on, `auth-required` makes cargo send
/// its token with every request, not only this one.
pub fn proxy_config(public_base: &str, auth_required: bool) -> Vec<u8> {
    let mut config = serde_json::json!({
        "dl": format!("{public_base}{DOWNLOADS}"),
        "api": public_base,
    });
    if auth_required {
        config["auth-required"] = true.into();
    }
    config.to_string().into_bytes()
}

/// The part of an upstream `config.json` this adapter uses.
#[derive(Debug, Deserialize)]
pub struct UpstreamConfig {
    dl: String,
}

impl UpstreamConfig {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let config: UpstreamConfig =
            serde_json::from_slice(body).map_err(|e| format!("unreadable config.json: {e}"))?;
        if !(config.dl.starts_with("http://") || config.dl.starts_with("https://")) {
            return Err(format!(
                "config.json's dl {:?} is not an http(s) URL",
                config.dl
            ));
        }
        Ok(config)
    }

    /// Where `name` (as the index spells it) at `version` is downloaded from.
    pub fn download_url(&self, name: &str, version: &str, sha256: &str) -> String {
        if !MARKERS.iter().any(|marker| self.dl.contains(marker)) {
            return format!("{}/{name}/{version}/download", self.dl);
        }
        let prefix = index_prefix(name);
        self.dl
            .replace("{crate}", name)
            .replace("{version}", version)
            .replace("{prefix}", &prefix)
            .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
            .replace("{sha256-checksum}", sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dl: &str) -> UpstreamConfig {
        UpstreamConfig::parse(serde_json::json!({ "dl": dl }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_plain_dl_gets_the_default_path_appended() {
        let url = config("http://127.0.0.1:9/api/v1/crates").download_url("Demo", "1.0.0", "ab");
        assert_eq!(url, "http://127.0.0.1:9/api/v1/crates/Demo/1.0.0/download");
    }

    #[test]
    fn every_marker_is_expanded() {
        let dl = "http://127.0.0.1:9/{prefix}/{lowerprefix}/{crate}/{crate}-{version}.crate?sum={sha256-checksum}";
        let url = config(dl).download_url("Inflector", "0.11.4", "00ff");
        assert_eq!(
            url,
            "http://127.0.0.1:9/In/fl/in/fl/Inflector/Inflector-0.11.4.crate?sum=00ff"
        );
        assert_eq!(
            config("http://127.0.0.1:9/{prefix}/{crate}").download_url("ab", "1.0.0", ""),
            "http://127.0.0.1:9/2/ab"
        );
    }

    #[test]
    fn upstream_config_must_name_an_http_dl() {
        assert!(UpstreamConfig::parse(br#"{"dl": "file:///etc"}"#).is_err());
        assert!(UpstreamConfig::parse(br#"{"api": "http://x"}"#).is_err());
        assert!(UpstreamConfig::parse(b"not json").is_err());
    }

    #[test]
    fn clients_download_through_the_proxy() {
        let served: serde_json::Value =
            serde_json::from_slice(&proxy_config("http://gh:8080/cargo", false)).unwrap();
        assert_eq!(served["dl"], "http://gh:8080/cargo/api/v1/crates");
        assert_eq!(served["api"], "http://gh:8080/cargo");
    }
}
