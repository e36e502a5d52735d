//! The `osv` interface: advisories affecting name@version, from the OSV mirror
//! (or from fixtures, for `gatehouse policy test`).

use std::collections::HashMap;

use crate::bindings::policy::gatehouse::plugin::osv::Host;
use crate::bindings::{Advisory, Severity};
use crate::runtime::guest::GuestState;

/// Where advisories come from.
pub trait AdvisorySource: Send + Sync {
    /// The advisories affecting each of `versions` of one package, in input order.
    fn affecting(
        &self,
        ecosystem: &str,
        name: &str,
        versions: &[&str],
    ) -> anyhow::Result<Vec<Vec<Advisory>>>;

    /// Changes whenever any advisory changes (decision caches key on it).
    fn generation(&self) -> u64;
}

impl AdvisorySource for gatehouse_osv::Mirror {
    fn affecting(
        &self,
        ecosystem: &str,
        name: &str,
        versions: &[&str],
    ) -> anyhow::Result<Vec<Vec<Advisory>>> {
        let found = gatehouse_osv::Mirror::affecting(self, ecosystem, name, versions)?;
        Ok(found
            .into_iter()
            .map(|list| list.into_iter().map(from_mirror).collect())
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

    fn generation(&self) -> u64 {
        0
    }
}

impl Host for GuestState {
    async fn affecting(
        &mut self,
        ecosystem: String,
        name: String,
        versions: Vec<String>,
    ) -> wasmtime::Result<Vec<Vec<Advisory>>> {
        let started = std::time::Instant::now();
        let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
        let result = self.caps.osv.affecting(&ecosystem, &name, &versions);
        self.charge_host(started.elapsed());
        match result {
            Ok(found) => Ok(found),
            // A broken mirror must not read as "no advisories": fail the call.
            Err(error) => Err(wasmtime::Error::msg(format!(
                "osv mirror unavailable: {error}"
            ))),
        }
    }
}
