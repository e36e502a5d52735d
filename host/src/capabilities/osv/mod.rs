//! The `osv` capability: where advisories come from ([`AdvisorySource`]):
//! the OSV mirror kept current ([`advisories`]), or fixtures for `gatehouse
//! policy test`; `host` answers the `osv` interface from it.

pub mod advisories;
mod host;

pub use host::{OsvState, OsvView, add_to_linker};

use std::collections::HashMap;

use crate::bindings::{Advisory, Interval, PackageAdvisory, Severity};
use advisories::EcosystemHealth;

/// What [`AdvisorySource::prepare`] returns.
pub type Prepare<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where advisories come from.
pub trait AdvisorySource: Send + Sync {
    /// The advisories affecting each of `versions` of one package, in input
    /// order; adds the number of versions that did not parse to `unparsable`.
    fn affecting(
        &self,
        ecosystem: &str,
        name: &str,
        versions: &[&str],
        unparsable: &mut usize,
    ) -> anyhow::Result<Vec<Vec<Advisory>>>;

    /// Every advisory recorded for one package, with what it affects.
    fn advisories(&self, ecosystem: &str, name: &str) -> anyhow::Result<Vec<PackageAdvisory>>;

    /// Changes whenever any advisory changes (decision caches key on it).
    fn generation(&self) -> u64;

    /// Fetches from elsewhere what answering about one package needs (the
    /// live fallback); called before `affecting` and `advisories`.
    fn prepare<'a>(&'a self, _ecosystem: &'a str, _name: &'a str) -> Prepare<'a> {
        Box::pin(std::future::ready(()))
    }

    /// Per ecosystem: what the data is and whether it is current.
    fn health(&self) -> Vec<EcosystemHealth> {
        Vec::new()
    }
}

/// Why `ecosystem`'s advisory data is not current, if it is not.
pub fn staleness(source: &dyn AdvisorySource, ecosystem: &str) -> Option<String> {
    source
        .health()
        .into_iter()
        .find(|h| h.ecosystem == ecosystem)
        .and_then(|h| h.stale)
}

impl AdvisorySource for gatehouse_osv::Mirror {
    fn affecting(
        &self,
        ecosystem: &str,
        name: &str,
        versions: &[&str],
        unparsable: &mut usize,
    ) -> anyhow::Result<Vec<Vec<Advisory>>> {
        let found = self.affecting_counted(ecosystem, name, versions, unparsable)?;
        Ok(found
            .into_iter()
            .map(|list| list.into_iter().map(from_mirror).collect())
            .collect())
    }

    fn advisories(&self, ecosystem: &str, name: &str) -> anyhow::Result<Vec<PackageAdvisory>> {
        let found = gatehouse_osv::Mirror::advisories(self, ecosystem, name)?;
        Ok(found
            .into_iter()
            .map(|entry| PackageAdvisory {
                advisory: from_mirror(entry.advisory),
                intervals: entry
                    .intervals
                    .into_iter()
                    .map(|i| Interval {
                        introduced: i.introduced,
                        fixed: i.fixed,
                        last_affected: i.last_affected,
                    })
                    .collect(),
                versions: entry.versions,
            })
            .collect())
    }

    fn generation(&self) -> u64 {
        gatehouse_osv::Mirror::generation(self)
    }
}

fn from_mirror(advisory: gatehouse_osv::Advisory) -> Advisory {
    use gatehouse_osv::Severity as S;
    Advisory {
        id: advisory.id,
        aliases: advisory.aliases,
        summary: advisory.summary,
        malicious: advisory.malicious,
        score: advisory.score,
        severity: match advisory.severity {
            S::Unknown => Severity::Unknown,
            S::Low => Severity::Low,
            S::Medium => Severity::Medium,
            S::High => Severity::High,
            S::Critical => Severity::Critical,
        },
        fixed: advisory.fixed,
        modified: advisory.modified,
    }
}

/// Advisories listed explicitly, keyed by (ecosystem, name, version).
#[derive(Default)]
pub struct FixedAdvisories(pub HashMap<(String, String, String), Vec<Advisory>>);

impl AdvisorySource for FixedAdvisories {
    fn affecting(
        &self,
        ecosystem: &str,
        name: &str,
        versions: &[&str],
        _unparsable: &mut usize,
    ) -> anyhow::Result<Vec<Vec<Advisory>>> {
        Ok(versions
            .iter()
            .map(|v| {
                self.0
                    .get(&(ecosystem.to_owned(), name.to_owned(), (*v).to_owned()))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect())
    }

    /// Fixtures name versions, not ranges: each listed version is one.
    fn advisories(&self, ecosystem: &str, name: &str) -> anyhow::Result<Vec<PackageAdvisory>> {
        let mut found: Vec<PackageAdvisory> = Vec::new();
        for ((e, n, version), advisories) in &self.0 {
            if e != ecosystem || n != name {
                continue;
            }
            for advisory in advisories {
                match found.iter_mut().find(|f| f.advisory.id == advisory.id) {
                    Some(entry) => entry.versions.push(version.clone()),
                    None => found.push(PackageAdvisory {
                        advisory: advisory.clone(),
                        intervals: Vec::new(),
                        versions: vec![version.clone()],
                    }),
                }
            }
        }
        Ok(found)
    }

    fn generation(&self) -> u64 {
        0
    }
}
