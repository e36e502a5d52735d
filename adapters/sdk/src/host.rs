//! The host capabilities an adapter's request flow uses, behind a trait so
//! the flow runs natively in tests against a fake host.

use crate::{Decision, FetchError, Fetched, Purpose, VersionFacts, gate, upstream};

/// What an adapter needs from the host.
pub trait Host {
    /// The configured upstream's root (no trailing slash).
    fn upstream_base(&self) -> String;
    /// GET `url` through the host's cache, with an optional `Accept`.
    fn fetch(&self, url: &str, accept: Option<&str>) -> Result<Fetched, FetchError>;
    /// The gate's decisions, one per input.
    fn gate(&self, purpose: Purpose, facts: &[VersionFacts]) -> Vec<Decision>;
}

/// The real host, through the adapter world's imports.
pub struct WitHost;

impl Host for WitHost {
    fn upstream_base(&self) -> String {
        upstream::base()
    }

    fn fetch(&self, url: &str, accept: Option<&str>) -> Result<Fetched, FetchError> {
        upstream::fetch(url, accept)
    }

    fn gate(&self, purpose: Purpose, facts: &[VersionFacts]) -> Vec<Decision> {
        gate(purpose, facts)
    }
}
