//! Operator exceptions: let a named package (every version, one version or a
//! range) past named rules, for a stated reason, until an expiry.
//!
//! An exception turns a matching rule's block into a warning that names the
//! exception, so the decision and its reason stay in the audit log. Expired
//! exceptions stop applying by themselves; they stay listed (marked expired)
//! until deleted. The list lives in `exceptions.json` in the data directory.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::bindings::{Action, Verdict, VersionFacts};
use crate::ecosystem::named_package;
use crate::state_file::{self, StateFileError};

/// One exception as stored and listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub id: String,
    /// As OSV spells it: `npm`, `PyPI`, `crates.io`, `Go`, `Maven`.
    pub ecosystem: String,
    pub package: String,
    /// An exact version or a range in the ecosystem's syntax; every version when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<String>,
    /// Rule or policy names; `*` for every rule.
    pub rules: Vec<String>,
    pub reason: String,
    #[serde(with = "rfc3339")]
    pub expires: SystemTime,
    #[serde(with = "rfc3339")]
    pub created: SystemTime,
    pub created_by: String,
}

impl Exception {
    /// Whether it stopped applying by `now` (it stays listed until deleted).
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires <= now
    }
}

/// What `POST /api/v1/admin/exceptions` accepts.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    pub ecosystem: String,
    pub package: String,
    #[serde(default)]
    pub versions: Option<String>,
    pub rules: Vec<String>,
    pub reason: String,
    /// An RFC 3339 time ...
    #[serde(default)]
    pub expires: Option<String>,
    /// ... or a duration from now (`7d`, `12h`).
    #[serde(default)]
    pub expires_in: Option<String>,
}

/// Why an exception was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExceptionError {
    #[error("{0}")]
    Invalid(String),
    #[error("no exception {0}")]
    NotFound(String),
    #[error(transparent)]
    Storage(#[from] StateFileError),
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct File {
    exceptions: Vec<Exception>,
}

/// The exceptions in force, shared by every gate call.
pub struct Exceptions {
    path: Option<PathBuf>,
    list: RwLock<Vec<Exception>>,
    writes: AtomicU64,
}

impl Default for Exceptions {
    /// An empty list kept in memory only (for `check`-like tools and tests).
    fn default() -> Self {
        Exceptions {
            path: None,
            list: RwLock::new(Vec::new()),
            writes: AtomicU64::new(0),
        }
    }
}

impl Exceptions {
    /// Opens the list kept in `path` (none yet is an empty list).
    pub fn open(path: &Path) -> Result<Self, StateFileError> {
        let file: File = state_file::load(path)?;
        Ok(Exceptions {
            path: Some(path.to_owned()),
            list: RwLock::new(file.exceptions),
            writes: AtomicU64::new(0),
        })
    }

    /// Changes whenever the set of exceptions in force changes: on every
    /// write and when one expires. Cached answers are keyed by it.
    pub fn epoch(&self) -> (u64, usize) {
        let now = SystemTime::now();
        let list = self.list.read().unwrap_or_else(|e| e.into_inner());
        let expired = list.iter().filter(|e| e.expired(now)).count();
        (self.writes.load(Ordering::Acquire), expired)
    }

    pub fn list(&self) -> Vec<Exception> {
        self.list.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Validates and adds an exception.
    pub fn add(&self, new: NewException, created_by: &str) -> Result<Exception, ExceptionError> {
        let invalid = |message: String| ExceptionError::Invalid(message);
        let (ecosystem, package) = named_package(&new.ecosystem, &new.package).map_err(invalid)?;
        if new.reason.trim().is_empty() {
            return Err(invalid("an exception needs a reason".into()));
        }
        let rules: Vec<String> = new
            .rules
            .iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        if rules.is_empty() {
            return Err(invalid(
                "name the rules it lets the package past (`rules`, `*` for all)".into(),
            ));
        }
        if let Some(range) = &new.versions
            && let Err(gatehouse_versions::VersionError::Range { .. }) =
                gatehouse_versions::satisfies(ecosystem, probe_version(ecosystem), range)
        {
            return Err(invalid(format!(
                "{range:?} is not a version or range in {ecosystem}'s syntax"
            )));
        }
        let now = SystemTime::now();
        let expires = match (&new.expires, &new.expires_in) {
            (Some(at), None) => humantime::parse_rfc3339_weak(at)
                .map_err(|e| invalid(format!("expires {at:?}: {e} (use RFC 3339)")))?,
            (None, Some(within)) => {
                now + crate::config::parse_duration("expires_in", within)
                    .map_err(|e| invalid(e.to_string()))?
            }
            _ => {
                return Err(invalid(
                    "give exactly one of `expires` (RFC 3339) or `expires_in` (e.g. 7d)".into(),
                ));
            }
        };
        if expires <= now {
            return Err(invalid("the expiry is in the past".into()));
        }
        let exception = Exception {
            id: new_id(),
            ecosystem: ecosystem.to_owned(),
            package,
            versions: new.versions.map(|v| v.trim().to_owned()),
            rules,
            reason: new.reason.trim().to_owned(),
            expires,
            created: now,
            created_by: created_by.to_owned(),
        };
        self.change(|list| {
            list.push(exception.clone());
            Ok(())
        })?;
        Ok(exception)
    }

    pub fn delete(&self, id: &str) -> Result<(), ExceptionError> {
        self.change(|list| {
            let before = list.len();
            list.retain(|e| e.id != id);
            if list.len() == before {
                return Err(ExceptionError::NotFound(id.to_owned()));
            }
            Ok(())
        })
    }

    /// Applies `edit` and saves; on a failed save the list is unchanged.
    fn change(
        &self,
        edit: impl FnOnce(&mut Vec<Exception>) -> Result<(), ExceptionError>,
    ) -> Result<(), ExceptionError> {
        let mut list = self.list.write().unwrap_or_else(|e| e.into_inner());
        let mut next = list.clone();
        edit(&mut next)?;
        if let Some(path) = &self.path {
            state_file::save(
                path,
                &File {
                    exceptions: next.clone(),
                },
            )?;
        }
        *list = next;
        self.writes.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// A block from `policy` (or its `verdict.rule`) for `facts`, softened to a
    /// warning when an exception in force covers it.
    pub fn apply(&self, facts: &VersionFacts, policy: &str, verdict: Verdict) -> Verdict {
        if verdict.action != Action::Block {
            return verdict;
        }
        let list = self.list.read().unwrap_or_else(|e| e.into_inner());
        if list.is_empty() {
            return verdict;
        }
        let now = SystemTime::now();
        let name = gatehouse_osv::normalize_name(&facts.ecosystem, &facts.name);
        let found = list.iter().find(|e| {
            !e.expired(now)
                && e.ecosystem == facts.ecosystem
                && e.package == name
                && e.rules
                    .iter()
                    .any(|r| r == "*" || r == policy || *r == verdict.rule)
                && e.versions.as_deref().is_none_or(|range| {
                    range == facts.version
                        || gatehouse_versions::satisfies(&facts.ecosystem, &facts.version, range)
                            .unwrap_or(false)
                })
        });
        match found {
            Some(exception) => Verdict {
                action: Action::Warn,
                reason: format!(
                    "allowed by exception {} until {} ({}; {}): would block: {}",
                    exception.id,
                    humantime::format_rfc3339_seconds(exception.expires),
                    exception.reason,
                    exception.created_by,
                    verdict.reason
                ),
                ..verdict
            },
            None => verdict,
        }
    }
}

/// A version every ecosystem's parser accepts, for checking a range's syntax.
fn probe_version(ecosystem: &str) -> &'static str {
    if ecosystem == "Go" { "v0.0.0" } else { "0.0.0" }
}

fn new_id() -> String {
    let mut bytes = [0u8; 6];
    // Falling back to the clock only risks an id collision, which `delete`
    // resolves by removing both; ids are not secrets.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        bytes.copy_from_slice(&nanos.to_le_bytes()[..6]);
    }
    format!("ex-{}", hex::encode(bytes))
}

/// RFC 3339 (UTC, seconds) for times in JSON.
mod rfc3339 {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_seconds(*time))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
// Tests prepare files directly.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn facts(version: &str) -> VersionFacts {
        crate::ecosystem::named("npm", "left-pad", version)
    }

    fn block(rule: &str) -> Verdict {
        Verdict {
            action: Action::Block,
            rule: rule.into(),
            reason: "bad".into(),
            advisories: Vec::new(),
        }
    }

    fn new(versions: Option<&str>, rules: &[&str]) -> NewException {
        NewException {
            ecosystem: "NPM".into(),
            package: "left-pad".into(),
            versions: versions.map(str::to_owned),
            rules: rules.iter().map(|r| (*r).to_owned()).collect(),
            reason: "vendored fix".into(),
            expires: None,
            expires_in: Some("1h".into()),
        }
    }

    #[test]
    fn covers_only_named_rules_and_versions() {
        let exceptions = Exceptions::default();
        exceptions
            .add(new(Some("<2"), &["vulnerability"]), "ops")
            .expect("valid");
        let softened = exceptions.apply(&facts("1.3.0"), "vulnerability", block("vulnerability"));
        assert_eq!(softened.action, Action::Warn);
        assert!(
            softened.reason.contains("vendored fix"),
            "{}",
            softened.reason
        );
        assert_eq!(
            exceptions
                .apply(&facts("2.0.0"), "vulnerability", block("vulnerability"))
                .action,
            Action::Block
        );
        assert_eq!(
            exceptions
                .apply(&facts("1.3.0"), "deny-list", block("deny-list"))
                .action,
            Action::Block
        );
    }

    #[test]
    fn refuses_bad_input() {
        let exceptions = Exceptions::default();
        let mut no_reason = new(None, &["*"]);
        no_reason.reason = " ".into();
        assert!(exceptions.add(no_reason, "ops").is_err());
        assert!(exceptions.add(new(None, &[]), "ops").is_err());
        assert!(
            exceptions
                .add(new(Some(">>nonsense"), &["*"]), "ops")
                .is_err()
        );
        let mut past = new(None, &["*"]);
        past.expires_in = None;
        past.expires = Some("2001-01-01T00:00:00Z".into());
        assert!(exceptions.add(past, "ops").is_err());
        let mut unknown = new(None, &["*"]);
        unknown.ecosystem = "cpan".into();
        assert!(exceptions.add(unknown, "ops").is_err());
        assert!(exceptions.list().is_empty());
    }

    #[test]
    fn expired_exceptions_stop_applying_and_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("exceptions.json");
        let exceptions = Exceptions::open(&path).expect("open");
        let added = exceptions.add(new(None, &["*"]), "ops").expect("valid");
        let epoch = exceptions.epoch();
        // Age it on disk, as time would.
        let mut text = std::fs::read_to_string(&path).expect("read");
        text = text.replace(
            &humantime::format_rfc3339_seconds(added.expires).to_string(),
            "2001-01-01T00:00:00Z",
        );
        std::fs::write(&path, text).expect("write");
        let reopened = Exceptions::open(&path).expect("reopen");
        assert_eq!(reopened.list().len(), 1);
        assert_ne!(reopened.epoch().1, epoch.1);
        assert_eq!(
            reopened.apply(&facts("1.0.0"), "x", block("x")).action,
            Action::Block
        );
        reopened.delete(&added.id).expect("deletes");
        assert!(Exceptions::open(&path).expect("open").list().is_empty());
        assert!(matches!(
            reopened.delete(&added.id),
            Err(ExceptionError::NotFound(_))
        ));
    }
}
