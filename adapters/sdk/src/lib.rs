//! What every registry adapter shares: the adapter world's bindings (generated
//! from `wit/`), the export macro, and small protocol helpers.

pub mod bindings;
mod failure;
mod host;
mod response;

pub use failure::{Failure, upstream_answer};
pub use host::{Host, WitHost};

pub use bindings::exports::gatehouse::plugin::manifest::{
    Guest as ManifestGuest, Member as ManifestMember,
};
/// The raw gate import, without the decision-count check: adapters call
/// [`Host::gate`], which fails closed on a miscount.
pub use bindings::gatehouse::plugin::gate::evaluate as gate_unchecked;
pub use bindings::gatehouse::plugin::gate::{Decision, reads as gate_reads};
pub use bindings::gatehouse::plugin::types::{
    Action, Dependency, Digest, FactFields, FactReads, Purpose, Verdict, VersionFacts,
};
pub use bindings::gatehouse::plugin::upstream::{self, FetchError, Fetched, LayerFile};
pub use bindings::gatehouse::plugin::{audit, log, osv, store};
pub use bindings::{ArtifactPlan, ErrorFormat, Guest, Outcome, Request, Response};

/// Exports an adapter: `$adapter` implements [`Guest`] (its registry
/// protocol); `manifest = path::read` names how it reads its ecosystem's
/// manifests out of artifacts (a `fn(&VersionFacts, &[ManifestMember]) ->
/// Result<Option<VersionFacts>, String>`, see [`ManifestGuest`]). Without it
/// the adapter reads none: the host has nothing to compare its artifacts with.
#[macro_export]
macro_rules! export_adapter {
    ($adapter:ident) => {
        $crate::export_adapter!($adapter, manifest = $crate::no_manifest);
    };
    ($adapter:ident, manifest = $read:path) => {
        impl $crate::ManifestGuest for $adapter {
            fn read(
                _settings: String,
                registry: $crate::VersionFacts,
                members: Vec<$crate::ManifestMember>,
            ) -> Result<Option<$crate::VersionFacts>, String> {
                $read(&registry, &members)
            }
        }
        // Only a component exports: a native build (the adapters' own tests)
        // cannot carry interface export names (`gatehouse:plugin/...`) in
        // its symbol table.
        #[cfg(target_family = "wasm")]
        $crate::bindings::__export_adapter!($adapter with_types_in $crate::bindings);
    };
}

/// The manifest reader of an adapter that reads none.
pub fn no_manifest(
    _registry: &VersionFacts,
    _members: &[ManifestMember],
) -> Result<Option<VersionFacts>, String> {
    Ok(None)
}

/// The last of `members` at the top of a package directory (`{dir}/{file}`)
/// that `wanted` accepts: unpacking writes a later duplicate over an earlier
/// one, so the last is what a client installs.
pub fn top_level_member(
    members: &[ManifestMember],
    wanted: impl Fn(&str, &str) -> bool,
) -> Option<&ManifestMember> {
    members.iter().rev().find(|member| {
        let parts: Vec<&str> = member.path.split('/').filter(|p| !p.is_empty()).collect();
        matches!(parts.as_slice(), [dir, file] if wanted(dir, file))
    })
}

impl Request {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
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

impl Fetched {
    /// The first value of response header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }
}

/// The first value of `name` (lower case) among `headers` (names in lower case).
fn first_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
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
