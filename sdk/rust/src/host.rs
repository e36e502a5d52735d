//! The host capabilities a policy may call.
//!
//! In a component these call the WIT imports; on a native target (unit tests)
//! they are answered by the thread's [`crate::testing::MockHost`].

use crate::{Advisory, VersionFacts};

#[cfg(target_arch = "wasm32")]
use crate::bindings::gatehouse::plugin as imports;

/// The advisories affecting each of `versions` of one package, in input order.
pub fn osv_affecting(ecosystem: &str, name: &str, versions: &[String]) -> Vec<Vec<Advisory>> {
    #[cfg(target_arch = "wasm32")]
    {
        imports::osv::affecting(ecosystem, name, versions)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::with_mock(|host| host.affecting(ecosystem, name, versions))
    }
}

/// The advisories affecting each version of a batch, in input order: one
/// [`osv_affecting`] call per run of one package's versions (a batch is one
/// package, so normally one call for the whole batch).
pub fn osv_affecting_batch(facts: &[VersionFacts]) -> Result<Vec<Vec<Advisory>>, String> {
    let mut affecting = Vec::with_capacity(facts.len());
    for package in facts.chunk_by(|a, b| a.ecosystem == b.ecosystem && a.name == b.name) {
        let (ecosystem, name) = (&package[0].ecosystem, &package[0].name);
        let versions: Vec<String> = package.iter().map(|f| f.version.clone()).collect();
        let found = osv_affecting(ecosystem, name, &versions);
        if found.len() != versions.len() {
            return Err(format!(
                "the OSV capability answered {} lists for {} versions of {name}",
                found.len(),
                versions.len()
            ));
        }
        affecting.extend(found);
    }
    Ok(affecting)
}

/// Reads a key of this component's store (or, under `gatehouse/`, the host's data).
pub fn store_get(key: &str) -> Option<Vec<u8>> {
    #[cfg(target_arch = "wasm32")]
    {
        imports::store::get(key)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::with_mock(|host| host.store.get(key).cloned())
    }
}

/// Writes a key of this component's store, expiring after `ttl_seconds` when given.
pub fn store_set(key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), String> {
    #[cfg(target_arch = "wasm32")]
    {
        imports::store::set(key, value, ttl_seconds)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = ttl_seconds;
        crate::testing::with_mock(|host| {
            host.store.insert(key.to_owned(), value.to_vec());
            Ok(())
        })
    }
}

/// Appends a note about `name@version` to the audit log.
pub fn audit_note(ecosystem: &str, name: &str, version: &str, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        imports::audit::note(ecosystem, name, version, message)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::with_mock(|host| {
            host.notes
                .push(format!("{ecosystem} {name}@{version}: {message}"))
        })
    }
}

/// Writes a warning to the host's log, tagged with this component's name.
pub fn log_warn(message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        imports::log::log(imports::log::Level::Warn, message)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::with_mock(|host| host.logs.push(message.to_owned()))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::Severity;
    use crate::testing::{MockHost, advisory, facts};

    #[test]
    fn one_query_per_package_answers_in_input_order() {
        MockHost::default()
            .advisory(
                "npm",
                "a",
                "2.0.0",
                advisory("GHSA-a", Severity::High, None),
            )
            .advisory(
                "PyPI",
                "a",
                "1.0.0",
                advisory("PYSEC-a", Severity::Low, None),
            )
            .install();
        let batch = [
            facts("npm", "a", "1.0.0"),
            facts("npm", "a", "2.0.0"),
            facts("PyPI", "a", "1.0.0"),
            facts("npm", "a", "3.0.0"),
        ];
        let ids: Vec<Vec<String>> = osv_affecting_batch(&batch)
            .expect("answers")
            .into_iter()
            .map(|found| found.into_iter().map(|a| a.id).collect())
            .collect();
        assert_eq!(ids, [vec![], vec!["GHSA-a"], vec!["PYSEC-a"], vec![]]);
        // The npm runs are apart: three runs, three queries.
        assert_eq!(MockHost::current().osv_calls, 3);
    }

    #[test]
    fn an_empty_batch_asks_nothing() {
        MockHost::default().install();
        assert_eq!(osv_affecting_batch(&[]), Ok(Vec::new()));
        assert_eq!(MockHost::current().osv_calls, 0);
    }
}
