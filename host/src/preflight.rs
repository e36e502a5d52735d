//! The pre-flight: what `/api/v1/decide` and `gatehouse check` answer for a
//! package version, judged on the facts the proxy would judge it on.
//!
//! The facts come from the ecosystem's adapter itself. The host asks the
//! adapter for the package's metadata route (`/npm/{name}`,
//! `/pypi/simple/{name}/`, `/cargo/index/…/{name}`,
//! `/go/{module}/@v/{version}.info`, `/maven/…/maven-metadata.xml`) on a copy of
//! with a gate that records the facts the adapter sends it instead of
//! judging them ([`FactsProbe`]); the recorded facts of the asked
//! version are then judged once by the real gate (purpose `check`). So they are
//! the proxy's facts by construction: the same adapter code, the same cached
//! upstream copies, the same trimming to what the policies read. This needs no
//! second facts path in every adapter and no WIT change, and works with
//! adapters built against any WIT minor.
//!
//! With `offline`, or when the ecosystem has no adapter or upstream
//! configured, versions are judged on their name and version alone; answers
//! say which (`"facts": "upstream"` or `"name-only"`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use gatehouse_versions::names::pep503;
use serde_json::json;

use crate::adapter_route::{AdapterRoute, call_adapter};
use crate::bindings::FactReads;
use crate::bindings::adapter::gatehouse::plugin::gate::Decision;
use crate::bindings::adapter::{Outcome, Request};
use crate::bindings::{Action, Purpose, VersionFacts};
use crate::capabilities::Capabilities;
use crate::capabilities::gate::{Gated, PolicyGate, RecordBudget};
use crate::ecosystem::{Ecosystem, named};
use crate::gate::action_name;
use crate::runtime::guest::GuestFailure;
use crate::runtime::{Generation, Kind};

/// A package version named by a client of the decide API or `gatehouse check`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Query {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
}

impl From<gatehouse_lockfile::Pin> for Query {
    fn from(pin: gatehouse_lockfile::Pin) -> Self {
        Query {
            ecosystem: pin.ecosystem.into(),
            name: pin.name,
            version: pin.version,
        }
    }
}

/// Why a version could not be judged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "unknown ecosystem {0:?}: use npm, pypi, cargo, go or maven (OSV's npm, PyPI, crates.io, Go and Maven work too)"
    )]
    UnknownEcosystem(String),
    /// The name or version cannot name anything upstream.
    #[error("{0}")]
    Invalid(String),
    /// Upstream has no such package or version.
    #[error("{0}")]
    NotFound(String),
    /// Upstream or the adapter failed; `offline=true` judges the name alone.
    #[error("{0}; pass offline=true (--offline) to judge the name and version alone")]
    Upstream(String),
}

/// The ecosystem `spelling` names, in any usual spelling and case.
pub fn ecosystem(spelling: &str) -> Result<&'static Ecosystem, PreflightError> {
    crate::ecosystem::lookup(spelling)
        .ok_or_else(|| PreflightError::UnknownEcosystem(spelling.to_owned()))
}

impl Ecosystem {
    /// The version as the adapter's facts spell it (Go versions carry a `v`).
    fn version(&self, version: &str) -> String {
        let version = version.trim();
        if self.adapter == "go" && !version.starts_with('v') {
            format!("v{version}")
        } else {
            version.to_owned()
        }
    }

    /// The adapter path whose handling gates `name` (and `version`).
    fn metadata_path(&self, name: &str, version: &str) -> Result<String, PreflightError> {
        let plain = |text: &str| {
            !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~!@/:+".contains(&b))
        };
        if !plain(name) || !plain(version) {
            return Err(PreflightError::Invalid(format!(
                "{name:?} {version:?} does not name a package version"
            )));
        }
        Ok(match self.adapter {
            "npm" => format!("/{}", name.replacen('/', "%2f", 1)),
            "pypi" => format!("/simple/{}/", pep503(name)),
            "cargo" => {
                let name = name.to_ascii_lowercase();
                format!("/index/{}/{name}", cargo_index_prefix(&name))
            }
            "go" => format!("/{}/@v/{}.info", go_escape(name), go_escape(version)),
            _ => {
                let (group, artifact) = name.split_once(':').ok_or_else(|| {
                    PreflightError::Invalid(format!(
                        "Maven packages are named group:artifact, not {name:?}"
                    ))
                })?;
                format!("/{}/{artifact}/maven-metadata.xml", group.replace('.', "/"))
            }
        })
    }
}

/// The sparse index's directory of a (lower-case) crate name.
fn cargo_index_prefix(name: &str) -> String {
    match name.len() {
        1 => "1".into(),
        2 => "2".into(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    }
}

/// The module proxy's case encoding: `A` as `!a`.
fn go_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A gate that records the facts it is given and allows them all; it says
/// the policies read what the generation's policies read.
pub struct FactsProbe {
    facts: Mutex<Vec<VersionFacts>>,
    reads: FactReads,
}

impl FactsProbe {
    pub fn new(reads: FactReads) -> Self {
        FactsProbe {
            facts: Mutex::new(Vec::new()),
            reads,
        }
    }

    /// Keeps `facts`; one `allow` per version, so the adapter goes on as usual.
    fn record(&self, facts: &[VersionFacts]) -> Vec<Decision> {
        self.facts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(facts.iter().cloned());
        facts
            .iter()
            .map(|_| Decision {
                action: Action::Allow,
                verdicts: Vec::new(),
            })
            .collect()
    }

    fn take(&self) -> Vec<VersionFacts> {
        std::mem::take(&mut *self.facts.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl PolicyGate for FactsProbe {
    fn evaluate<'a>(
        &'a self,
        _purpose: Purpose,
        facts: &'a [VersionFacts],
        _requester: Option<&'a str>,
        _until: std::time::Instant,
        _records: &'a mut RecordBudget,
    ) -> Gated<'a> {
        Box::pin(std::future::ready(self.record(facts)))
    }

    fn reads(&self) -> FactReads {
        self.reads.clone()
    }
}

/// Where a version's facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactsSource {
    Upstream,
    NameOnly,
}

/// One query's answer: the gate's decision, or why there is none.
pub struct Answer {
    pub query: Query,
    pub outcome: Result<Judged, PreflightError>,
}

pub struct Judged {
    pub decision: Decision,
    pub source: FactsSource,
    /// Why the facts are name-only, when that was not asked for.
    pub note: Option<String>,
}

impl Answer {
    /// `allow`, `warn`, `block`, or `error`.
    pub fn action(&self) -> &'static str {
        match &self.outcome {
            Ok(judged) => action_name(judged.decision.action),
            Err(_) => "error",
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let query = &self.query;
        let ecosystem = ecosystem(&query.ecosystem).map_or(query.ecosystem.as_str(), |e| e.osv);
        let mut answer = json!({
            "ecosystem": ecosystem,
            "name": query.name,
            "version": query.version,
            "action": self.action(),
        });
        match &self.outcome {
            Ok(judged) => {
                answer["facts"] = json!(match judged.source {
                    FactsSource::Upstream => "upstream",
                    FactsSource::NameOnly => "name-only",
                });
                if let Some(note) = &judged.note {
                    answer["note"] = json!(note);
                }
                answer["verdicts"] = judged
                    .decision
                    .verdicts
                    .iter()
                    .map(|v| {
                        json!({
                            "action": action_name(v.action),
                            "rule": v.rule,
                            "reason": v.reason,
                            "advisories": v.advisories,
                        })
                    })
                    .collect();
            }
            Err(error) => answer["error"] = json!(error.to_string()),
        }
        answer
    }
}

/// An adapter (by name) and the path of its metadata route.
type MetadataRoute = (String, String);

/// The facts to judge a version on, where they came from, and a note.
type Gathered = (VersionFacts, FactsSource, Option<String>);

/// How many metadata routes one pre-flight asks at a time.
const CONCURRENT_ROUTES: usize = 8;

/// How one query's facts are found.
enum Plan {
    /// Judged on these (name-only) facts, with a note why.
    Ready(VersionFacts, Option<String>),
    /// The version's entry among the facts an adapter route gates.
    Upstream {
        ecosystem: &'static Ecosystem,
        name: String,
        version: String,
        route: MetadataRoute,
    },
}

/// What a pre-flight runs with.
pub struct Preflight<'a> {
    pub generation: Arc<Generation>,
    pub caps: &'a Arc<Capabilities>,
    pub routes: &'a BTreeMap<String, AdapterRoute>,
    /// Judge names and versions alone, without asking upstream.
    pub offline: bool,
    pub requester: Option<&'a str>,
}

impl Preflight<'_> {
    /// One answer per query, in order; the gate runs once over all of them.
    pub async fn decide(&self, queries: &[Query]) -> Vec<Answer> {
        let plans: Vec<Result<Plan, PreflightError>> =
            queries.iter().map(|query| self.plan(query)).collect();
        // Each metadata route once (versions of one package share it), a few
        // at a time: a lockfile names hundreds of packages.
        let mut routes: Vec<MetadataRoute> = plans
            .iter()
            .filter_map(|plan| match plan {
                Ok(Plan::Upstream { route, .. }) => Some(route.clone()),
                _ => None,
            })
            .collect();
        routes.sort();
        routes.dedup();
        let fetched: BTreeMap<MetadataRoute, Result<Vec<VersionFacts>, PreflightError>> =
            futures_util::stream::iter(routes)
                .map(|route: MetadataRoute| async move {
                    let facts = self.upstream_facts(&route).await;
                    (route, facts)
                })
                .buffer_unordered(CONCURRENT_ROUTES)
                .collect()
                .await;
        let gathered: Vec<Result<Gathered, PreflightError>> = plans
            .into_iter()
            .map(|plan| match plan? {
                Plan::Ready(facts, note) => Ok((facts, FactsSource::NameOnly, note)),
                Plan::Upstream {
                    ecosystem,
                    name,
                    version,
                    route,
                } => {
                    let all = fetched
                        .get(&route)
                        .ok_or_else(|| {
                            PreflightError::Upstream(format!("{} was not asked", route.1))
                        })?
                        .as_ref()
                        .map_err(Clone::clone)?;
                    // The spelling upstream uses first, then another case, or
                    // in PyPI another spelling of the same version (`1.0` = `1.0.0`).
                    let same = |f: &&VersionFacts| {
                        f.version.eq_ignore_ascii_case(&version)
                            || (ecosystem.osv == "PyPI"
                                && gatehouse_versions::compare("PyPI", &f.version, &version)
                                    == Ok(std::cmp::Ordering::Equal))
                    };
                    all.iter()
                        .find(|f| f.version == version)
                        .or_else(|| all.iter().find(same))
                        .map(|f| (f.clone(), FactsSource::Upstream, None))
                        .ok_or_else(|| {
                            PreflightError::NotFound(format!(
                                "{} {name} has no version {version} upstream",
                                ecosystem.osv
                            ))
                        })
                }
            })
            .collect();
        let facts: Vec<VersionFacts> = gathered
            .iter()
            .filter_map(|g| g.as_ref().ok().map(|(facts, _, _)| facts.clone()))
            .collect();
        let mut decisions = self
            .generation
            .gate(self.caps, Purpose::Check, &facts, self.requester)
            .await
            .into_iter();
        queries
            .iter()
            .zip(gathered)
            .map(|(query, gathered)| Answer {
                query: query.clone(),
                outcome: gathered.and_then(|(_, source, note)| {
                    let decision = decisions.next().ok_or_else(|| {
                        PreflightError::Upstream("the gate answered too few decisions".into())
                    })?;
                    Ok(Judged {
                        decision,
                        source,
                        note,
                    })
                }),
            })
            .collect()
    }

    /// Where `query`'s facts come from.
    fn plan(&self, query: &Query) -> Result<Plan, PreflightError> {
        let ecosystem: &'static Ecosystem = ecosystem(&query.ecosystem)?;
        let name_only = |note: Option<String>| {
            Ok(Plan::Ready(
                named(ecosystem.osv, &query.name, &query.version),
                note,
            ))
        };
        if self.offline {
            return name_only(None);
        }
        let configured = self.generation.adapters.contains_key(ecosystem.adapter)
            && self.routes.contains_key(ecosystem.adapter);
        if !configured {
            return name_only(Some(format!(
                "no {} adapter with an upstream is configured, so this was judged on the name and version alone",
                ecosystem.adapter
            )));
        }
        let name = query.name.trim();
        let version = ecosystem.version(&query.version);
        let path = ecosystem.metadata_path(name, &version)?;
        Ok(Plan::Upstream {
            ecosystem,
            name: name.to_owned(),
            version,
            route: (ecosystem.adapter.to_owned(), path),
        })
    }

    /// Runs `adapter` on `path` with a probing gate; the facts it gated.
    async fn upstream_facts(
        &self,
        (adapter, path): &MetadataRoute,
    ) -> Result<Vec<VersionFacts>, PreflightError> {
        let (Some(adapter), Some(route)) = (
            self.generation.adapters.get(adapter),
            self.routes.get(adapter),
        ) else {
            return Err(PreflightError::Upstream(format!(
                "the {adapter} adapter is gone"
            )));
        };
        let probe = Arc::new(FactsProbe::new(self.generation.reads().to_wit()));
        let request = Request {
            method: "GET".into(),
            path: path.to_owned(),
            query: None,
            headers: Vec::new(),
            body: Vec::new(),
            public_base: format!("http://localhost/{}", adapter.name),
        };
        let (outcome, _) = call_adapter(
            probe.clone(),
            self.caps,
            adapter,
            route,
            self.requester.map(str::to_owned),
            &request,
        )
        .await;
        let recorded = probe.take();
        match outcome {
            Err(error) => {
                let failure = GuestFailure::classify(&error);
                self.generation
                    .failures
                    .record(Kind::Adapter, &adapter.name, &failure);
                Err(PreflightError::Upstream(format!(
                    "the {} adapter failed ({failure})",
                    adapter.name
                )))
            }
            Ok(Outcome::Artifact(plan)) => Ok(vec![plan.facts]),
            Ok(Outcome::Respond(_)) if !recorded.is_empty() => Ok(recorded),
            Ok(Outcome::Respond(response)) => {
                let said = String::from_utf8_lossy(&response.body);
                let said: String = said.trim().chars().take(300).collect();
                let problem = format!(
                    "the {} adapter answered {} for {path}: {said}",
                    adapter.name, response.status
                );
                Err(match response.status {
                    200..=299 | 404 | 410 => PreflightError::NotFound(problem),
                    _ => PreflightError::Upstream(problem),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems_are_recognised_in_any_usual_spelling() {
        for (spelling, osv) in [
            ("npm", "npm"),
            ("pypi", "PyPI"),
            ("PyPI", "PyPI"),
            ("cargo", "crates.io"),
            ("crates.io", "crates.io"),
            ("go", "Go"),
            ("Go", "Go"),
            ("maven", "Maven"),
            ("Maven", "Maven"),
        ] {
            assert_eq!(ecosystem(spelling).expect(spelling).osv, osv);
        }
        assert!(matches!(
            ecosystem("cobol"),
            Err(PreflightError::UnknownEcosystem(_))
        ));
    }

    #[test]
    fn metadata_paths_follow_each_protocol() {
        let path = |eco: &str, name: &str, version: &str| {
            let eco = ecosystem(eco).expect("known");
            eco.metadata_path(name, &eco.version(version))
                .expect("valid")
        };
        assert_eq!(path("npm", "@types/node", "1.0.0"), "/@types%2fnode");
        assert_eq!(
            path("pypi", "Zope.Interface", "1.0"),
            "/simple/zope-interface/"
        );
        assert_eq!(path("cargo", "Serde", "1.0.0"), "/index/se/rd/serde");
        assert_eq!(path("cargo", "syn", "1.0.0"), "/index/3/s/syn");
        assert_eq!(path("cargo", "cc", "1.0.0"), "/index/2/cc");
        assert_eq!(
            path("go", "github.com/Foo/bar", "1.2.0"),
            "/github.com/!foo/bar/@v/v1.2.0.info"
        );
        assert_eq!(
            path("maven", "org.example:lib", "1.0"),
            "/org/example/lib/maven-metadata.xml"
        );
        assert!(
            ecosystem("npm")
                .expect("known")
                .metadata_path("a b", "1.0.0")
                .is_err()
        );
    }
}
