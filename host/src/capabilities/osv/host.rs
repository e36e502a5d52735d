//! The `osv` interface: advisories affecting name@version, from the
//! [`AdvisorySource`] the host runs with.
//!
//! Matching runs on a blocking thread, never on the async workers, in chunks
//! with the call's deadline checked between them; one call may ask about at
//! most `limits.osv_versions_per_call` versions. Versions that do not parse
//! are reported in one log line per call.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{HasData, Linker};

use super::AdvisorySource;
use crate::bindings::policy::gatehouse::plugin::osv::{self, Host};
use crate::bindings::{Advisory, PackageAdvisory};
use crate::bounds::cut_str;
use crate::capabilities::{Call, deadline_exceeded};

/// The advisories one call reads, and how many versions it may ask about.
pub struct OsvState {
    source: Arc<dyn AdvisorySource>,
    versions_per_call: usize,
}

impl OsvState {
    pub fn new(source: Arc<dyn AdvisorySource>, versions_per_call: usize) -> Self {
        OsvState {
            source,
            versions_per_call,
        }
    }
}

/// One call's view of its osv state.
pub struct OsvView<'a> {
    pub call: &'a Call,
    pub state: &'a OsvState,
}

struct HasOsv;

impl HasData for HasOsv {
    type Data<'a> = OsvView<'a>;
}

/// Adds the `osv` interface to `linker`, each call's view from `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> OsvView<'_>,
) -> wasmtime::Result<()> {
    osv::add_to_linker::<T, HasOsv>(linker, get)
}

impl Host for OsvView<'_> {
    async fn affecting(
        &mut self,
        ecosystem: String,
        name: String,
        versions: Vec<String>,
    ) -> wasmtime::Result<Vec<Vec<Advisory>>> {
        self.call.check_deadline()?;
        let cap = self.state.versions_per_call;
        if versions.len() > cap {
            return Err(wasmtime::Error::msg(format!(
                "osv.affecting was asked about {} versions of {} in one call; it answers at most {cap} (limits.osv_versions_per_call)",
                versions.len(),
                cut_str(&name, NAME_IN_MESSAGES),
            )));
        }
        let source = self.state.source.clone();
        self.call
            .host_call(source.prepare(&ecosystem, &name))
            .await?;
        let deadline = self.call.deadline();
        let matching = tokio::task::spawn_blocking(move || {
            match_in_chunks(&*source, &ecosystem, &name, &versions, deadline)
        });
        match self.call.host_call(matching).await? {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(Stopped::Deadline)) => Err(deadline_exceeded()),
            Ok(Err(Stopped::Unavailable(error))) => unavailable_is_a_failure(Err(error)),
            Err(panicked) => Err(wasmtime::Error::msg(format!(
                "osv matching failed: {panicked}"
            ))),
        }
    }

    async fn advisories(
        &mut self,
        ecosystem: String,
        name: String,
    ) -> wasmtime::Result<Vec<PackageAdvisory>> {
        let source = self.state.source.clone();
        self.call
            .host_call(source.prepare(&ecosystem, &name))
            .await?;
        let reading = tokio::task::spawn_blocking(move || source.advisories(&ecosystem, &name));
        match self.call.host_call(reading).await? {
            Ok(result) => unavailable_is_a_failure(result),
            Err(panicked) => Err(wasmtime::Error::msg(format!(
                "osv lookup failed: {panicked}"
            ))),
        }
    }
}

/// Versions matched between two deadline checks.
const OSV_CHUNK: usize = 1000;
/// How much of a guest-given name goes into an error message.
const NAME_IN_MESSAGES: usize = 200;

/// Why matching stopped early.
enum Stopped {
    Deadline,
    Unavailable(anyhow::Error),
}

/// `affecting` for `versions`, a chunk at a time until `deadline`; one log
/// line for every version that did not parse.
fn match_in_chunks(
    source: &dyn AdvisorySource,
    ecosystem: &str,
    name: &str,
    versions: &[String],
    deadline: Instant,
) -> Result<Vec<Vec<Advisory>>, Stopped> {
    let mut found = Vec::with_capacity(versions.len());
    let mut unparsable = 0;
    for chunk in versions.chunks(OSV_CHUNK) {
        if Instant::now() >= deadline {
            return Err(Stopped::Deadline);
        }
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        found.extend(
            source
                .affecting(ecosystem, name, &chunk, &mut unparsable)
                .map_err(Stopped::Unavailable)?,
        );
    }
    if unparsable > 0 {
        tracing::warn!(
            ecosystem = %cut_str(ecosystem, NAME_IN_MESSAGES),
            package = %cut_str(name, NAME_IN_MESSAGES),
            unparsable,
            of = versions.len(),
            "versions that do not parse in the ecosystem's order were matched against listed versions only"
        );
    }
    Ok(found)
}

/// A broken mirror must not read as "no advisories": it fails the call.
fn unavailable_is_a_failure<T>(result: anyhow::Result<T>) -> wasmtime::Result<T> {
    result.map_err(|error| wasmtime::Error::msg(format!("osv mirror unavailable: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::Severity;
    use crate::capabilities::osv::FixedAdvisories;

    fn versions(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("1.0.{i}")).collect()
    }

    #[test]
    fn chunks_answer_every_version_in_order_before_the_deadline() {
        let mut fixed = FixedAdvisories::default();
        let advisory = Advisory {
            id: "GHSA-x".into(),
            aliases: Vec::new(),
            summary: String::new(),
            malicious: false,
            score: None,
            severity: Severity::High,
            fixed: Vec::new(),
            modified: 0,
        };
        fixed.0.insert(
            ("npm".into(), "a".into(), "1.0.1500".into()),
            vec![advisory],
        );
        let later = Instant::now() + std::time::Duration::from_secs(60);
        let Ok(found) = match_in_chunks(&fixed, "npm", "a", &versions(2500), later) else {
            panic!("answered before the deadline");
        };
        assert_eq!(found.len(), 2500);
        assert_eq!(found[1500].len(), 1);
        assert!(
            found
                .iter()
                .enumerate()
                .all(|(i, f)| i == 1500 || f.is_empty())
        );
    }

    #[test]
    fn matching_stops_at_the_deadline() {
        let passed = Instant::now();
        let stopped = match_in_chunks(
            &FixedAdvisories::default(),
            "npm",
            "a",
            &versions(10),
            passed,
        );
        assert!(matches!(stopped, Err(Stopped::Deadline)));
    }
}
