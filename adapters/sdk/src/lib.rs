//! What every registry adapter shares: the adapter world's bindings (generated
//! from `wit/`), the export macro, and small protocol helpers.

pub mod bindings;
mod failure;
mod host;
mod response;

pub use failure::{Failure, upstream_answer};
pub use host::{Host, WitHost};

/// The raw gate import, without the decision-count check: adapters call
/// [`Host::gate`], which fails closed on a miscount.
pub use bindings::gatehouse::plugin::gate::evaluate as gate_unchecked;
pub use bindings::gatehouse::plugin::gate::{Decision, reads as gate_reads};
pub use bindings::gatehouse::plugin::types::{
    Action, Dependency, Digest, FactFields, FactReads, Purpose, Verdict, VersionFacts,
};
pub use bindings::gatehouse::plugin::upstream::{self, FetchError, Fetched};
pub use bindings::gatehouse::plugin::{audit, log, osv, store};
pub use bindings::{ArtifactPlan, ErrorFormat, Guest, Outcome, Request, Response};

/// Exports an adapter: `$adapter` implements [`Guest`].
///
/// Only in the component: natively (tests, the fuzz targets) several adapters
/// link into one binary, where their exports' names would clash.
#[macro_export]
macro_rules! export_adapter {
    ($adapter:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::bindings::__export_adapter!($adapter with_types_in $crate::bindings);
        #[cfg(not(target_family = "wasm"))]
        const _: fn(String, $crate::Request) -> $crate::Outcome = <$adapter as $crate::Guest>::handle;
    };
}

impl Request {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A plain-text 405 saying `what` is read-only, with `allow: GET, HEAD`,
    /// unless this is a GET or HEAD.
    pub fn refuse_writes(&self, what: &str) -> Option<Response> {
        if matches!(self.method.as_str(), "GET" | "HEAD") {
            return None;
        }
        let refusal = Response::text(405, &format!("{what} is read-only"));
        Some(refusal.with_header("allow", "GET, HEAD"))
    }
}

impl VersionFacts {
    /// Facts that name a version and nothing more; adapters fill in what
    /// their metadata says.
    pub fn named(ecosystem: &str, name: &str, version: &str) -> Self {
        VersionFacts {
            ecosystem: ecosystem.into(),
            name: name.into(),
            version: version.into(),
            published: None,
            license: None,
            install_scripts: Vec::new(),
            deprecated: None,
            yanked: None,
            size: None,
            digests: Vec::new(),
            dependencies: Vec::new(),
            raw: String::from("{}"),
        }
    }
}

impl Decision {
    /// Allowed, with no verdicts.
    pub fn allow() -> Self {
        Decision {
            action: Action::Allow,
            verdicts: Vec::new(),
        }
    }

    /// `action`, by one verdict of `rule` (what fake hosts answer in tests).
    pub fn by_rule(action: Action, rule: &str, reason: String) -> Self {
        Decision {
            action,
            verdicts: vec![Verdict {
                action,
                rule: rule.into(),
                reason,
                advisories: Vec::new(),
            }],
        }
    }
}

/// The reason a decision gives, as `rule: reason; rule: reason`.
pub fn decision_message(decision: &Decision) -> String {
    decision
        .verdicts
        .iter()
        .filter(|v| v.action == decision.action)
        .map(|v| format!("{}: {}", v.rule, v.reason))
        .collect::<Vec<_>>()
        .join("; ")
}
