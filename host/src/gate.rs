//! The gate: runs every enabled policy on a batch of versions and combines
//! their verdicts into one decision per version, audited.
//!
//! Each policy call gets a fresh store with its own deadline and memory limit.
//! A failing policy (trap, deadline, memory, a malformed answer) harms only
//! this batch: it blocks (fail-closed) unless its `on_error: allow` says so.

use std::sync::Arc;
use std::time::SystemTime;

use crate::audit::AuditRecord;
use crate::bindings::adapter::gatehouse::plugin::gate::Decision;
use crate::bindings::{Action, Context, Purpose, Verdict, VersionFacts};
use crate::capabilities::{CallScope, Capabilities};
use crate::gate_policy::{Controls, Mode, OnError};
use crate::runtime::guest::{Limits, new_store};
use crate::runtime::{Generation, Kind, LoadedPolicy};

/// How a guest call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GuestFailure {
    #[error("deadline exceeded")]
    Deadline,
    #[error("memory limit exceeded")]
    Memory,
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned an error: {0}")]
    Guest(String),
}

impl GuestFailure {
    /// Classifies an error from instantiating or calling a guest.
    pub fn classify(error: &wasmtime::Error) -> Self {
        if let Some(trap) = error.downcast_ref::<wasmtime::Trap>()
            && *trap == wasmtime::Trap::Interrupt
        {
            return GuestFailure::Deadline;
        }
        let text = format!("{error:#}");
        if text.contains(crate::runtime::guest::MEMORY_LIMIT_MESSAGE) {
            GuestFailure::Memory
        } else {
            GuestFailure::Trap(text)
        }
    }

    /// A short label for metrics and audit (`deadline`, `memory`, `trap`, `guest`).
    pub fn class(&self) -> &'static str {
        match self {
            GuestFailure::Deadline => "deadline",
            GuestFailure::Memory => "memory",
            GuestFailure::Trap(_) => "trap",
            GuestFailure::Guest(_) => "guest",
        }
    }
}

fn rank(action: Action) -> u8 {
    match action {
        Action::Allow => 0,
        Action::Warn => 1,
        Action::Block => 2,
    }
}

pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Allow => "allow",
        Action::Warn => "warn",
        Action::Block => "block",
    }
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Generation {
    /// One decision per input version, in order.
    pub async fn gate(
        &self,
        caps: &Arc<Capabilities>,
        purpose: Purpose,
        facts: &[VersionFacts],
        requester: Option<&str>,
    ) -> Vec<Decision> {
        if let Some(probe) = &self.probe {
            return probe.record(facts);
        }
        let mut decisions: Vec<Decision> = facts
            .iter()
            .map(|_| Decision {
                action: Action::Allow,
                verdicts: Vec::new(),
            })
            .collect();
        let context = Context {
            purpose,
            now: now_seconds(),
            requester: requester.map(str::to_owned),
        };
        // A batch is normally one package of one ecosystem; mixed batches
        // (e.g. `POST /api/v1/decide`) are split so each policy gets its
        // ecosystem's settings.
        let mut ecosystems: Vec<&str> = facts.iter().map(|f| f.ecosystem.as_str()).collect();
        ecosystems.dedup();
        ecosystems.sort_unstable();
        ecosystems.dedup();
        for ecosystem in ecosystems {
            let indices: Vec<usize> = (0..facts.len())
                .filter(|&i| facts[i].ecosystem == ecosystem)
                .collect();
            let owned: Vec<VersionFacts>;
            let batch: &[VersionFacts] = if indices.len() == facts.len() {
                facts
            } else {
                owned = indices.iter().map(|&i| facts[i].clone()).collect();
                &owned
            };
            for policy in &self.policies {
                let (controls, settings) = self.gate_policy.settings_for(&policy.name, ecosystem);
                if !controls.enabled {
                    continue;
                }
                let verdicts = match self
                    .run_policy(caps, policy, &controls, &settings, &context, batch)
                    .await
                {
                    Ok(verdicts) => verdicts,
                    Err(failure) => {
                        self.failures.record(Kind::Policy, &policy.name, &failure);
                        failure_verdicts(caps, policy, &controls, &failure, batch)
                    }
                };
                for (&index, verdict) in indices.iter().zip(verdicts) {
                    let verdict = caps.exceptions.apply(&facts[index], &policy.name, verdict);
                    combine(&mut decisions[index], verdict, policy, controls.mode);
                }
            }
        }
        self.audit_decisions(caps, purpose, facts, &decisions, requester);
        count_decisions(&decisions);
        decisions
    }

    async fn run_policy(
        &self,
        caps: &Arc<Capabilities>,
        policy: &LoadedPolicy,
        controls: &Controls,
        settings: &str,
        context: &Context,
        facts: &[VersionFacts],
    ) -> Result<Vec<Verdict>, GuestFailure> {
        let limits = Limits {
            timeout: controls.timeout,
            memory_bytes: controls.memory_bytes,
        };
        evaluate_policy(&self.engine, caps, policy, limits, settings, context, facts)
            .await
            .0
    }

    fn component_ids(&self) -> Vec<String> {
        self.policies
            .iter()
            .map(|p| format!("{}@{}", p.name, p.sha256))
            .collect()
    }

    fn audit_decisions(
        &self,
        caps: &Capabilities,
        purpose: Purpose,
        facts: &[VersionFacts],
        decisions: &[Decision],
        requester: Option<&str>,
    ) {
        let components = self.component_ids();
        let osv_generation = Some(caps.osv.generation());
        let event = match purpose {
            Purpose::Metadata => "metadata",
            Purpose::Artifact => "artifact",
            Purpose::Check => "check",
        };
        // Metadata batches hold every version upstream lists: blocks are
        // recorded one by one, the rest as one record with counts per rule (a
        // version's own record is written when its artifact is asked for).
        let mut passed = MetadataTally::default();
        for (facts, decision) in facts.iter().zip(decisions) {
            if purpose == Purpose::Metadata && decision.action != Action::Block {
                passed.count(decision);
                continue;
            }
            let verdicts = &decision.verdicts;
            caps.audit.append(&AuditRecord {
                event: event.into(),
                requester: requester.map(str::to_owned),
                ecosystem: facts.ecosystem.clone(),
                package: facts.name.clone(),
                version: facts.version.clone(),
                action: action_name(decision.action).into(),
                rule: verdicts
                    .iter()
                    .map(|v| v.rule.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                reason: verdicts
                    .iter()
                    .map(|v| v.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                advisories: verdicts
                    .iter()
                    .flat_map(|v| v.advisories.iter().cloned())
                    .collect(),
                components: components.clone(),
                osv_generation,
            });
        }
        if let Some(first) = facts.first().filter(|_| passed.versions > 0) {
            caps.audit.append(&AuditRecord {
                event: event.into(),
                requester: requester.map(str::to_owned),
                ecosystem: first.ecosystem.clone(),
                package: first.name.clone(),
                action: if passed.warned > 0 { "warn" } else { "allow" }.into(),
                rule: passed.rules.keys().cloned().collect::<Vec<_>>().join(","),
                reason: passed.summary(),
                components,
                osv_generation,
                ..AuditRecord::default()
            });
        }
    }
}

/// The versions of a metadata batch that were not blocked, counted.
#[derive(Default)]
struct MetadataTally {
    versions: usize,
    warned: usize,
    /// Warnings per rule.
    rules: std::collections::BTreeMap<String, usize>,
}

impl MetadataTally {
    fn count(&mut self, decision: &Decision) {
        self.versions += 1;
        if decision.action == Action::Warn {
            self.warned += 1;
            for verdict in &decision.verdicts {
                *self.rules.entry(verdict.rule.clone()).or_default() += 1;
            }
        }
    }

    /// `300 versions allowed, 283 with warnings (license: 283)`.
    fn summary(&self) -> String {
        let mut summary = format!("{} versions allowed", self.versions);
        if self.warned > 0 {
            let rules: Vec<String> = self
                .rules
                .iter()
                .map(|(rule, count)| format!("{rule}: {count}"))
                .collect();
            summary.push_str(&format!(
                ", {} with warnings ({})",
                self.warned,
                rules.join(", ")
            ));
        }
        summary
    }
}

/// Counts each version's decision by action and, for blocks and warnings, rule.
fn count_decisions(decisions: &[Decision]) {
    let metrics = crate::metrics::metrics();
    for decision in decisions {
        let action = action_name(decision.action);
        let rules = decision
            .verdicts
            .iter()
            .filter(|v| v.action == decision.action)
            .map(|v| v.rule.as_str());
        let mut counted = false;
        for rule in rules {
            counted = true;
            metrics
                .decisions
                .get_or_create(&crate::metrics::DecisionLabels {
                    action: action.into(),
                    rule: rule.into(),
                })
                .inc();
        }
        if !counted {
            metrics
                .decisions
                .get_or_create(&crate::metrics::DecisionLabels {
                    action: action.into(),
                    rule: String::new(),
                })
                .inc();
        }
    }
}

/// Folds one policy's verdict into a version's decision, applying its mode.
fn combine(decision: &mut Decision, mut verdict: Verdict, policy: &LoadedPolicy, mode: Mode) {
    if verdict.action == Action::Allow {
        return;
    }
    if verdict.rule.is_empty() {
        verdict.rule = policy.name.to_string();
    }
    if verdict.action == Action::Block {
        match mode {
            Mode::Enforce => {}
            Mode::Warn => verdict.action = Action::Warn,
            Mode::DryRun => {
                verdict.action = Action::Warn;
                verdict.reason = format!("dry-run, would block: {}", verdict.reason);
            }
        }
    }
    if rank(verdict.action) > rank(decision.action) {
        decision.action = verdict.action;
    }
    decision.verdicts.push(verdict);
}

/// The verdicts a failed policy stands for: block (fail-closed) or a warning.
fn failure_verdicts(
    caps: &Capabilities,
    policy: &LoadedPolicy,
    controls: &Controls,
    failure: &GuestFailure,
    facts: &[VersionFacts],
) -> Vec<Verdict> {
    tracing::warn!(policy = %policy.name, %failure, "policy failed");
    let first = facts.first();
    caps.audit.append(&AuditRecord {
        event: "policy-error".into(),
        ecosystem: first.map(|f| f.ecosystem.clone()).unwrap_or_default(),
        package: first.map(|f| f.name.clone()).unwrap_or_default(),
        rule: policy.name.to_string(),
        reason: failure.to_string(),
        components: vec![format!("{}@{}", policy.name, policy.sha256)],
        ..AuditRecord::default()
    });
    let (action, reason) = match controls.on_error {
        OnError::Block => (
            Action::Block,
            format!(
                "the {} policy failed ({failure}), so gatehouse fails closed; an operator can see the error at /api/v1/admin/components",
                policy.name
            ),
        ),
        OnError::Allow => (
            Action::Warn,
            format!(
                "the {} policy failed ({failure}); allowed because on_error is allow",
                policy.name
            ),
        ),
    };
    facts
        .iter()
        .map(|_| Verdict {
            action,
            rule: policy.name.to_string(),
            reason: reason.clone(),
            advisories: Vec::new(),
        })
        .collect()
}

/// Runs one policy on a batch in a fresh store; also returns its peak memory.
pub async fn evaluate_policy(
    engine: &wasmtime::Engine,
    caps: &Arc<Capabilities>,
    policy: &LoadedPolicy,
    limits: Limits,
    settings: &str,
    context: &Context,
    facts: &[VersionFacts],
) -> (Result<Vec<Verdict>, GuestFailure>, usize) {
    let started = std::time::Instant::now();
    let mut store = new_store(
        engine,
        caps.clone(),
        CallScope::Policy,
        policy.name.clone(),
        context.requester.clone(),
        limits,
    );
    let result = async {
        let instance = policy
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| GuestFailure::classify(&e))?;
        let verdicts = instance
            .call_evaluate(&mut store, settings, context, facts)
            .await
            .map_err(|e| GuestFailure::classify(&e))?
            .map_err(GuestFailure::Guest)?;
        if verdicts.len() != facts.len() {
            return Err(GuestFailure::Guest(format!(
                "{} verdicts for {} versions",
                verdicts.len(),
                facts.len()
            )));
        }
        Ok(verdicts)
    }
    .await;
    crate::metrics::metrics().guest_call(
        "policy",
        &policy.name,
        started.elapsed(),
        result.as_ref().err().map(GuestFailure::class),
    );
    (result, store.data().peak_memory())
}
