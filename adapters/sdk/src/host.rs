//! The host capabilities an adapter's request flow uses, behind a trait so
//! the flow runs natively in tests against a fake host.

use crate::osv::PackageAdvisory;
use crate::{
    Decision, Digest, FactFields, FactReads, Failure, FetchError, Fetched, LayerFile, Purpose,
    VersionFacts, gate_reads, gate_unchecked, osv, upstream,
};

/// What an adapter needs from the host.
pub trait Host {
    /// The configured upstream's root (no trailing slash).
    fn upstream_base(&self) -> String;

    /// GET `url` through the host's cache, with an optional `Accept`.
    fn fetch(&self, url: &str, accept: Option<&str>) -> Result<Fetched, FetchError>;

    /// The gate's answer as it comes, meant to be one decision per input;
    /// adapters call [`Host::gate`], which holds it to that.
    fn evaluate(&self, purpose: Purpose, facts: &[VersionFacts]) -> Vec<Decision>;

    /// Which costly facts the active policies read. By default all of them,
    /// which is what a policy that declares nothing reads: always correct,
    /// only slower to fill in.
    fn gate_reads(&self) -> FactReads {
        FactReads {
            fields: FactFields::all(),
            raw_keys: None,
        }
    }

    /// Every advisory the host's OSV mirror holds for `name`.
    fn advisories(&self, ecosystem: &str, name: &str) -> Vec<PackageAdvisory>;

    /// The files at `paths` in the image layer at `url`, verified against
    /// `digest` by the host (0.1.3). Only the OCI adapter reads layers; a
    /// host that offers none says so.
    fn layer_files(
        &self,
        url: &str,
        _digest: &Digest,
        _paths: &[String],
    ) -> Result<Vec<LayerFile>, FetchError> {
        Err(FetchError::Forbidden(format!(
            "{url}: this host reads no image layers"
        )))
    }

    /// The gate's decisions, `decisions[i]` for `facts[i]`. An answer of any
    /// other length is refused rather than matched up (a version left without
    /// a decision would pass unjudged): a 500, as the gate is gatehouse's own.
    fn gate(&self, purpose: Purpose, facts: &[VersionFacts]) -> Result<Vec<Decision>, Failure> {
        let decisions = self.evaluate(purpose, facts);
        if decisions.len() != facts.len() {
            return Err(Failure::new(
                500,
                format!(
                    "the gate answered {} decisions for {} versions",
                    decisions.len(),
                    facts.len()
                ),
            ));
        }
        Ok(decisions)
    }
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

    fn evaluate(&self, purpose: Purpose, facts: &[VersionFacts]) -> Vec<Decision> {
        gate_unchecked(purpose, facts)
    }

    fn gate_reads(&self) -> FactReads {
        gate_reads()
    }

    fn advisories(&self, ecosystem: &str, name: &str) -> Vec<PackageAdvisory> {
        osv::advisories(ecosystem, name)
    }

    fn layer_files(
        &self,
        url: &str,
        digest: &Digest,
        paths: &[String],
    ) -> Result<Vec<LayerFile>, FetchError> {
        upstream::layer_files(url, digest, paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;

    /// A host whose gate answers `decisions` allows, whatever it is asked.
    struct Answers {
        decisions: usize,
    }

    impl Host for Answers {
        fn upstream_base(&self) -> String {
            unreachable!("the gate alone is under test")
        }

        fn fetch(&self, _url: &str, _accept: Option<&str>) -> Result<Fetched, FetchError> {
            unreachable!("the gate alone is under test")
        }

        fn evaluate(&self, _purpose: Purpose, _facts: &[VersionFacts]) -> Vec<Decision> {
            let allow = || Decision {
                action: Action::Allow,
                verdicts: Vec::new(),
            };
            std::iter::repeat_with(allow).take(self.decisions).collect()
        }

        fn advisories(&self, _ecosystem: &str, _name: &str) -> Vec<PackageAdvisory> {
            unreachable!("the gate alone is under test")
        }
    }

    fn two_versions() -> Vec<VersionFacts> {
        ["1.0.0", "2.0.0"]
            .map(|version| VersionFacts::named("npm", "demo", version))
            .to_vec()
    }

    #[test]
    fn one_decision_per_version_is_passed_on() {
        let host = Answers { decisions: 2 };
        let decisions = host.gate(Purpose::Metadata, &two_versions()).unwrap();
        assert_eq!(decisions.len(), 2);
    }

    #[test]
    fn a_short_or_long_answer_is_refused() {
        for decisions in [0, 1, 3] {
            let host = Answers { decisions };
            let failure = host.gate(Purpose::Metadata, &two_versions()).unwrap_err();
            assert_eq!(failure.status, 500);
            assert_eq!(
                failure.message,
                format!("the gate answered {decisions} decisions for 2 versions")
            );
        }
    }
}
