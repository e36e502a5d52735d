//! The artifact check: what a verified artifact's own manifest says against
//! what registry metadata said of it. npm's "manifest confusion" is the
//! case in point: the registry's copy of `package.json` can hide install
//! scripts or dependencies the tarball declares, and clients install what
//! the tarball says.
//!
//! The host reads the manifest files natively ([`crate::archive`]); the
//! ecosystem's adapter says what they declare (`manifest.read`, 0.1.2).
//! A name or version other than the one requested is refused outright
//! (rule `artifact-manifest`); any other difference sends the artifact's own
//! facts (its license, install scripts and dependencies) through the
//! last-stop gate again, and a block says what the registry metadata hid.
//! The first read of an artifact also keeps its SBOM; with `sbom.require`,
//! an artifact whose manifest cannot be read within bounds is refused.

use std::collections::{HashMap, VecDeque};
use std::io::{Cursor, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use crate::adapter_route::{AdapterRoute, read_manifest};
use crate::artifact::Ready;
use crate::bindings::{Action, Digest, Purpose, VersionFacts};
use crate::capabilities::Capabilities;
use crate::capabilities::audit::AuditRecord;
use crate::metrics::metrics;
use crate::runtime::guest::GuestFailure;
use crate::runtime::{Generation, LoadedAdapter};
use crate::sbom::Served;
use crate::sbom_store::SbomStore;
use gatehouse_archive::{ArchiveLimits, manifest_members};

/// The rule a name or version mismatch is refused by.
pub const IDENTITY_RULE: &str = "artifact-manifest";

/// What an artifact's own manifest says differently from registry metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    Name {
        registry: String,
        artifact: String,
    },
    Version {
        registry: String,
        artifact: String,
    },
    /// Install hooks the artifact declares that registry metadata did not show.
    HiddenInstallScripts(Vec<String>),
    /// Dependencies the artifact declares that registry metadata did not list.
    HiddenDependencies(Vec<String>),
    License {
        registry: Option<String>,
        artifact: Option<String>,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Name { registry, artifact } => write!(
                f,
                "the artifact's own manifest names the package {artifact:?}, the registry metadata {registry:?}"
            ),
            Difference::Version { registry, artifact } => write!(
                f,
                "the artifact's own manifest says version {artifact:?}, the registry metadata {registry:?}"
            ),
            Difference::HiddenInstallScripts(hooks) => write!(
                f,
                "the artifact's own manifest declares the install script(s) {}, which the registry metadata hid",
                hooks.join(", ")
            ),
            Difference::HiddenDependencies(names) => write!(
                f,
                "the artifact's own manifest declares the dependencies {}, which the registry metadata hid",
                names.join(", ")
            ),
            Difference::License { registry, artifact } => write!(
                f,
                "the artifact's own manifest declares the license {}, the registry metadata {}",
                artifact.as_deref().unwrap_or("(none)"),
                registry.as_deref().unwrap_or("(none)")
            ),
        }
    }
}

/// How `artifact` (the manifest's facts) differs from `registry`.
///
/// Install scripts and dependencies count only when the artifact adds
/// some: registry metadata that says nothing of dependencies (a simple page,
/// or facts filled in only as far as policies read them) hides nothing.
pub fn differences(registry: &VersionFacts, artifact: &VersionFacts) -> Vec<Difference> {
    let mut found = Vec::new();
    if artifact.name != registry.name {
        found.push(Difference::Name {
            registry: registry.name.clone(),
            artifact: artifact.name.clone(),
        });
    }
    if artifact.version != registry.version {
        found.push(Difference::Version {
            registry: registry.version.clone(),
            artifact: artifact.version.clone(),
        });
    }
    let hidden_hooks: Vec<String> = artifact
        .install_scripts
        .iter()
        .filter(|hook| !registry.install_scripts.contains(hook))
        .cloned()
        .collect();
    if !hidden_hooks.is_empty() {
        found.push(Difference::HiddenInstallScripts(hidden_hooks));
    }
    let installed = |facts: &VersionFacts| -> Vec<String> {
        facts
            .dependencies
            .iter()
            .filter(|d| d.kind != "dev")
            .map(|d| d.name.clone())
            .collect()
    };
    let listed = installed(registry);
    if !listed.is_empty() {
        let hidden: Vec<String> = installed(artifact)
            .into_iter()
            .filter(|name| !listed.contains(name))
            .collect();
        if !hidden.is_empty() {
            found.push(Difference::HiddenDependencies(hidden));
        }
    }
    if artifact.license.is_some() && artifact.license != registry.license {
        found.push(Difference::License {
            registry: registry.license.clone(),
            artifact: artifact.license.clone(),
        });
    }
    found
}

/// What an artifact was found to be, remembered per artifact digest.
#[derive(Debug, Clone)]
pub enum Contents {
    /// Its manifest could not be read or mapped; the reason.
    Unread(String),
    /// The adapter reads no manifest of this kind, or there was none.
    NoManifest,
    /// The facts its manifest declares.
    Read(Box<VersionFacts>),
}

/// Artifact contents read since start, by artifact digest, first in first
/// out: a warm artifact is not unpacked again.
#[derive(Default)]
pub struct ContentsMemo(Mutex<Remembered>);

/// The contents by artifact digest, and the digests oldest first.
type Remembered = (HashMap<String, Arc<Contents>>, VecDeque<String>);

/// Contents remembered at most.
const REMEMBERED: usize = 10_000;

impl ContentsMemo {
    fn get(&self, key: &str) -> Option<Arc<Contents>> {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.get(key).cloned()
    }

    fn put(&self, key: String, contents: Arc<Contents>) {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (entries, order) = &mut *guard;
        if entries.insert(key.clone(), contents).is_none() {
            order.push_back(key);
        }
        while order.len() > REMEMBERED {
            if let Some(oldest) = order.pop_front() {
                entries.remove(&oldest);
            }
        }
    }
}

/// The rule an artifact without an SBOM is refused by under `sbom.require`.
pub const SBOM_RULE: &str = "sbom";

/// Why an artifact is refused: the blocking rules and the client's message,
/// and what its manifest says differently from the registry.
struct Refusal {
    blocked: (String, String),
    differences: Vec<String>,
}

/// The registry's facts with what the artifact's own manifest declares of
/// what it installs: its license, install scripts and dependencies.
fn merged(registry: &VersionFacts, artifact: &VersionFacts) -> VersionFacts {
    VersionFacts {
        license: artifact
            .license
            .clone()
            .or_else(|| registry.license.clone()),
        install_scripts: artifact.install_scripts.clone(),
        dependencies: artifact.dependencies.clone(),
        ..registry.clone()
    }
}

/// One artifact to check, and what checking it needs.
pub struct Check<'a> {
    pub caps: &'a Arc<Capabilities>,
    pub route: &'a AdapterRoute,
    pub adapter: &'a LoadedAdapter,
    pub generation: &'a Arc<Generation>,
    /// The facts the artifact plan carried.
    pub registry: &'a VersionFacts,
    /// The digests the artifact's bytes were verified against.
    pub verified: &'a [Digest],
    /// The artifact's file name upstream (a bare manifest is named by it).
    pub file_name: &'a str,
    pub requester: Option<&'a str>,
}

impl Check<'_> {
    /// Why the verified artifact in `ready` must not be served, if it must
    /// not: the blocking rules and the message for the client. The first
    /// time an artifact is read, its SBOM is kept in `sboms`.
    pub async fn refusal(
        &self,
        memo: &ContentsMemo,
        sboms: &Arc<SbomStore>,
        key: &str,
        ready: &Ready,
    ) -> Option<(String, String)> {
        if let Some(contents) = memo.get(key) {
            return self.judge(&contents).await.map(|refusal| refusal.blocked);
        }
        let started = std::time::Instant::now();
        let contents = Arc::new(self.read(ready).await);
        if let Contents::Unread(why) = &*contents {
            self.audit("contents-unread", why.clone(), "", "");
        }
        memo.put(key.to_owned(), contents.clone());
        let refusal = self.judge(&contents).await;
        self.keep_sbom(sboms, key, &contents, refusal.as_ref())
            .await;
        metrics()
            .artifact_check
            .observe(started.elapsed().as_secs_f64());
        refusal.map(|refusal| refusal.blocked)
    }

    /// What `contents` mean for serving the artifact.
    async fn judge(&self, contents: &Contents) -> Option<Refusal> {
        let artifact = match contents {
            Contents::Read(artifact) => artifact,
            Contents::NoManifest => return None,
            Contents::Unread(why) => {
                if !self
                    .generation
                    .gate_policy
                    .sbom_required(&self.registry.ecosystem)
                {
                    return None;
                }
                let message = format!(
                    "{SBOM_RULE}: no SBOM can be produced for {}@{} ({why}), and the gate policy requires one (sbom.require)",
                    self.registry.name, self.registry.version
                );
                self.audit("artifact", message.clone(), "block", SBOM_RULE);
                return Some(Refusal {
                    blocked: (SBOM_RULE.to_owned(), message),
                    differences: Vec::new(),
                });
            }
        };
        let found = differences(self.registry, artifact);
        if found.is_empty() {
            return None;
        }
        let differences: Vec<String> = found.iter().map(ToString::to_string).collect();
        let explained = differences.join("; ");
        if found
            .iter()
            .any(|d| matches!(d, Difference::Name { .. } | Difference::Version { .. }))
        {
            let message = format!("{IDENTITY_RULE}: {explained}");
            self.audit("artifact", explained, "block", IDENTITY_RULE);
            return Some(Refusal {
                blocked: (IDENTITY_RULE.to_owned(), message),
                differences,
            });
        }
        let decision = self
            .generation
            .gate(
                self.caps,
                Purpose::Artifact,
                std::slice::from_ref(&merged(self.registry, artifact)),
                self.requester,
            )
            .await
            .pop()?;
        if decision.action != Action::Block {
            return None;
        }
        let blocking: Vec<_> = decision
            .verdicts
            .iter()
            .filter(|v| v.action == Action::Block)
            .collect();
        let rules = blocking
            .iter()
            .map(|v| v.rule.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let message = blocking
            .iter()
            .map(|v| format!("{}: {} ({explained})", v.rule, v.reason))
            .collect::<Vec<_>>()
            .join("; ");
        Some(Refusal {
            blocked: (rules, message),
            differences,
        })
    }

    /// Keeps the artifact's SBOM: its own manifest's facts where it has one,
    /// the registry's otherwise, with the hashes gatehouse verified.
    async fn keep_sbom(
        &self,
        sboms: &Arc<SbomStore>,
        key: &str,
        contents: &Contents,
        refusal: Option<&Refusal>,
    ) {
        let mut facts = match contents {
            Contents::Read(artifact) => merged(self.registry, artifact),
            Contents::NoManifest => self.registry.clone(),
            Contents::Unread(_) => return,
        };
        facts.digests = self.verified.to_vec();
        let (action, reasons, differences) = match refusal {
            Some(refusal) => (
                Action::Block,
                vec![refusal.blocked.1.clone()],
                refusal.differences.clone(),
            ),
            None => (Action::Allow, Vec::new(), Vec::new()),
        };
        let document = crate::sbom::artifact(
            &facts,
            &Served {
                action,
                reasons: &reasons,
                differences: &differences,
            },
        )
        .to_string();
        let (sboms, key) = (sboms.clone(), key.to_owned());
        let kept = tokio::task::spawn_blocking(move || {
            sboms.put(
                &facts.ecosystem,
                &facts.name,
                &facts.version,
                &key,
                &document,
            )
        })
        .await;
        if let Ok(Err(error)) = kept {
            tracing::warn!(%error, "an artifact SBOM could not be kept");
        }
    }

    /// Reads the manifest out of `ready` and asks the adapter what it says.
    /// An image's blobs (layers, configs) carry no package manifest: the OCI
    /// adapter judges an image on its config and layers at its manifest.
    async fn read(&self, ready: &Ready) -> Contents {
        if self.route.serves_oci() {
            return Contents::NoManifest;
        }
        let limits = ArchiveLimits::from(&self.caps.bounds);
        let file_name = self.file_name.to_owned();
        let members = match ready {
            Ready::Memory(bytes) => {
                let bytes = bytes.clone();
                tokio::task::spawn_blocking(move || {
                    manifest_members(Cursor::new(bytes), &file_name, limits)
                        .map_err(|e| e.to_string())
                })
                .await
            }
            Ready::File { file, .. } => {
                let Ok(mut file) = file.try_clone() else {
                    return Contents::Unread("the stored artifact could not be reopened".into());
                };
                tokio::task::spawn_blocking(move || {
                    let members =
                        manifest_members(&mut file, &file_name, limits).map_err(|e| e.to_string());
                    // The clone shares the position: leave it at the start for serving.
                    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
                    members
                })
                .await
            }
        };
        let members = match members {
            Ok(Ok(members)) if members.is_empty() => return Contents::NoManifest,
            Ok(Ok(members)) => members,
            Ok(Err(error)) => return Contents::Unread(error),
            Err(join) => return Contents::Unread(join.to_string()),
        };
        let answer = read_manifest(
            crate::gate::PolicyBatch::handle(self.generation, self.caps),
            self.caps,
            self.adapter,
            self.route,
            self.registry,
            members,
        )
        .await;
        match answer {
            None | Some(Ok(Ok(None))) => Contents::NoManifest,
            Some(Ok(Ok(Some(facts)))) => Contents::Read(Box::new(facts)),
            Some(Ok(Err(why))) => Contents::Unread(format!("the adapter could not read it: {why}")),
            Some(Err(failure)) => {
                let failure = GuestFailure::classify(&failure);
                self.generation.failures.record(
                    crate::runtime::Kind::Adapter,
                    &self.adapter.name,
                    &failure,
                );
                Contents::Unread(format!("the adapter failed reading it: {failure}"))
            }
        }
    }

    fn audit(&self, event: &str, reason: String, action: &str, rule: &str) {
        self.caps.audit.append(&AuditRecord {
            event: event.into(),
            requester: self.requester.map(str::to_owned),
            ecosystem: self.registry.ecosystem.clone(),
            package: self.registry.name.clone(),
            version: self.registry.version.clone(),
            action: action.into(),
            rule: rule.into(),
            reason: crate::bounds::cut_str(&reason, self.caps.bounds.reason_bytes),
            ..AuditRecord::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::Dependency;

    fn facts(name: &str, version: &str) -> VersionFacts {
        crate::ecosystem::named("npm", name, version)
    }

    fn dependency(name: &str) -> Dependency {
        Dependency {
            name: name.into(),
            requirement: "1".into(),
            kind: "normal".into(),
        }
    }

    #[test]
    fn the_same_manifest_differs_in_nothing() {
        assert!(differences(&facts("a", "1.0.0"), &facts("a", "1.0.0")).is_empty());
    }

    #[test]
    fn hidden_scripts_and_another_identity_are_named_with_both_values() {
        let registry = facts("a", "1.0.0");
        let artifact = VersionFacts {
            install_scripts: vec!["postinstall".into()],
            ..facts("b", "2.0.0")
        };
        let found = differences(&registry, &artifact);
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert!(
            text[0].contains("\"b\"") && text[0].contains("\"a\""),
            "{text:?}"
        );
        assert!(text[1].contains("\"2.0.0\"") && text[1].contains("\"1.0.0\""));
        assert!(text[2].contains("postinstall") && text[2].contains("hid"));
    }

    #[test]
    fn dependencies_count_only_against_a_registry_that_lists_some() {
        let artifact = VersionFacts {
            dependencies: vec![dependency("x"), dependency("evil")],
            ..facts("a", "1.0.0")
        };
        assert!(differences(&facts("a", "1.0.0"), &artifact).is_empty());
        let registry = VersionFacts {
            dependencies: vec![dependency("x")],
            ..facts("a", "1.0.0")
        };
        assert_eq!(
            differences(&registry, &artifact),
            [Difference::HiddenDependencies(vec!["evil".into()])]
        );
    }
}
