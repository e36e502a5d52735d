//! Native unit tests for policies: a mock host, fact builders, and the fixture
//! runner.
//!
//! ```ignore
//! use gatehouse_sdk::testing::{facts, MockHost};
//! MockHost::default().advisory("npm", "chalk", "5.6.1", advisory).install();
//! let verdicts = gatehouse_sdk::testing::evaluate::<MyPolicy>(r#"{"action":"block"}"#, &[facts("npm", "chalk", "5.6.1")]);
//! assert_eq!(MockHost::current().osv_calls, 1);
//! ```

use std::cell::RefCell;
use std::collections::HashMap;

use crate::{Advisory, Context, Policy, Purpose, Severity, Verdicts, VersionFacts};

mod fixtures;

pub use fixtures::run_fixtures;

/// What the host would answer, for tests on a native target.
#[derive(Default, Clone, Debug)]
pub struct MockHost {
    advisories: HashMap<(String, String, String), Vec<Advisory>>,
    pub store: HashMap<String, Vec<u8>>,
    pub notes: Vec<String>,
    pub logs: Vec<String>,
    /// How many `osv` queries the policy made (one per package's versions asked).
    pub osv_calls: usize,
}

thread_local! {
    static MOCK: RefCell<MockHost> = RefCell::new(MockHost::default());
}

pub(crate) fn with_mock<T>(f: impl FnOnce(&mut MockHost) -> T) -> T {
    MOCK.with(|mock| f(&mut mock.borrow_mut()))
}

impl MockHost {
    /// Makes `advisory` affect `name@version` in `ecosystem`.
    pub fn advisory(
        mut self,
        ecosystem: &str,
        name: &str,
        version: &str,
        advisory: Advisory,
    ) -> Self {
        self.advisories
            .entry((ecosystem.into(), name.into(), version.into()))
            .or_default()
            .push(advisory);
        self
    }

    /// Puts `value` at `key` of the store.
    pub fn stored(mut self, key: &str, value: impl Into<Vec<u8>>) -> Self {
        self.store.insert(key.into(), value.into());
        self
    }

    /// Makes this the host of the current thread's policy calls.
    pub fn install(self) {
        with_mock(|mock| *mock = self);
    }

    /// What the policy left behind (store, notes, logs) on this thread.
    pub fn current() -> MockHost {
        with_mock(|mock| mock.clone())
    }

    pub(crate) fn affecting(
        &mut self,
        ecosystem: &str,
        name: &str,
        versions: &[String],
    ) -> Vec<Vec<Advisory>> {
        self.osv_calls += 1;
        versions
            .iter()
            .map(|v| {
                self.advisories
                    .get(&(ecosystem.into(), name.into(), v.clone()))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// An advisory with the given id and severity, for tests.
pub fn advisory(id: &str, severity: Severity, score: Option<f32>) -> Advisory {
    Advisory {
        id: id.into(),
        aliases: Vec::new(),
        summary: format!("{id} summary"),
        malicious: id.starts_with("MAL-"),
        score,
        severity,
        fixed: Vec::new(),
        modified: 0,
    }
}

/// Minimal facts for `name@version`; adjust the fields a test cares about.
pub fn facts(ecosystem: &str, name: &str, version: &str) -> VersionFacts {
    crate::named(ecosystem, name, version)
}

/// A metadata-purpose context at `now` (seconds since the epoch).
pub fn context(now: i64) -> Context {
    Context {
        purpose: Purpose::Metadata,
        now,
        requester: None,
    }
}

/// Runs policy `P` natively, as the component would, at time 1,700,000,000.
pub fn evaluate<P: Policy>(settings: &str, facts: &[VersionFacts]) -> Verdicts {
    crate::run::<P>(settings, &context(1_700_000_000), facts)
}
