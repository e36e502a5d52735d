//! The gate: runs every enabled policy on a batch of versions and combines
//! their verdicts into one decision per version, audited.
//!
//! Each policy call gets a fresh store with its own deadline and memory limit.
//! A failing policy (trap, deadline, memory, a malformed answer) harms only
//! this batch: it blocks (fail-closed) unless its `on_error: allow` says so.
//! So does a policy the gate-policy file configures whose component is missing
//! or failed to load. What policies say is cut to the caps of [`Bounds`]
//! before anyone sees it.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::bindings::adapter::gatehouse::plugin::gate::Decision;
use crate::bindings::{Action, Context, FactReads, Purpose, Verdict, VersionFacts};
use crate::bounds::{cut, cut_str};
use crate::capabilities::audit::AuditRecord;
use crate::capabilities::gate::{Gated, PolicyGate, RecordBudget};
use crate::capabilities::{CallScope, Capabilities};
use crate::config::Bounds;
use crate::gate_policy::{Controls, Mode, OnError, OnStale};
use crate::runtime::guest::{GuestFailure, Limits, new_store, within_deadline};
use crate::runtime::{Generation, Kind, LoadedPolicy};

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

/// A rule name or an advisory id is cut to this length.
const ID_BYTES: usize = 128;

/// Past this many versions, a `check` batch (`decide`) is audited as one
/// summary record instead of one record per version.
const CHECK_RECORDS_PER_BATCH: usize = 20;

/// A generation's policies over the shared services: the gate an adapter's
/// call asks (its [`PolicyGate`]).
pub struct PolicyBatch {
    generation: Arc<Generation>,
    caps: Arc<Capabilities>,
}

impl PolicyBatch {
    /// The gate `generation`'s policies make over `caps`.
    pub fn handle(generation: &Arc<Generation>, caps: &Arc<Capabilities>) -> Arc<dyn PolicyGate> {
        Arc::new(PolicyBatch {
            generation: generation.clone(),
            caps: caps.clone(),
        })
    }
}

impl PolicyGate for PolicyBatch {
    fn evaluate<'a>(
        &'a self,
        purpose: Purpose,
        facts: &'a [VersionFacts],
        requester: Option<&'a str>,
        until: Instant,
        records: &'a mut RecordBudget,
    ) -> Gated<'a> {
        Box::pin(self.generation.gate_until(
            &self.caps,
            purpose,
            facts,
            requester,
            Some(until),
            records,
        ))
    }

    fn reads(&self) -> FactReads {
        self.generation.reads().to_wit()
    }
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
        let mut unlimited = RecordBudget::unlimited();
        self.gate_until(caps, purpose, facts, requester, None, &mut unlimited)
            .await
    }

    /// [`Generation::gate`], with every policy's timeout cut so that the
    /// batch is over by `until` (the deadline of the adapter asking), and
    /// its audit records taken from `records`.
    async fn gate_until(
        &self,
        caps: &Arc<Capabilities>,
        purpose: Purpose,
        facts: &[VersionFacts],
        requester: Option<&str>,
        until: Option<Instant>,
        records: &mut RecordBudget,
    ) -> Vec<Decision> {
        let mut decisions: Vec<Decision> = facts
            .iter()
            .map(|_| Decision {
                action: Action::Allow,
                verdicts: Vec::new(),
            })
            .collect();
        // The policy behind each verdict, in step with `verdicts`.
        let mut judged_by: Vec<Vec<&str>> = vec![Vec::new(); facts.len()];
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
        let mut failures = Failures::new(caps);
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
            let stale = crate::capabilities::osv::staleness(&*caps.osv, ecosystem);
            for policy in &self.policies {
                let (controls, settings) = self.gate_policy.settings_for(&policy.name, ecosystem);
                if !controls.enabled {
                    continue;
                }
                let mut verdicts = match self
                    .run_policy(caps, policy, &controls, &settings, &context, batch, until)
                    .await
                {
                    Ok(verdicts) => verdicts,
                    Err(failure) => {
                        self.failures.record(Kind::Policy, &policy.name, &failure);
                        failures.verdicts(
                            records,
                            &policy.name,
                            Some(format!("{}@{}", policy.name, policy.sha256)),
                            &controls,
                            &format!("failed ({failure})"),
                            "an operator can see the error at /api/v1/admin/components",
                            batch,
                        )
                    }
                };
                if let Some(reason) = stale.as_deref().filter(|_| policy.reads_advisories) {
                    apply_on_stale(&mut verdicts, controls.on_stale, purpose, policy, reason);
                }
                for (&index, verdict) in indices.iter().zip(verdicts) {
                    let verdict = caps.exceptions.apply(&facts[index], &policy.name, verdict);
                    if combine(
                        &mut decisions[index],
                        verdict,
                        &policy.name,
                        &controls,
                        &caps.bounds,
                    ) {
                        judged_by[index].push(&policy.name);
                    }
                }
            }
            // Configured but not loaded: the policy cannot judge, so it fails
            // closed like a policy that trapped.
            for (name, problem) in &self.missing_policies {
                if !self.gate_policy.configures(name, ecosystem) {
                    continue;
                }
                let (controls, _) = self.gate_policy.settings_for(name, ecosystem);
                if !controls.enabled {
                    continue;
                }
                let verdicts = failures.verdicts(
                    records,
                    name,
                    None,
                    &controls,
                    problem,
                    "put its component back, or remove its configuration to retire it",
                    batch,
                );
                for (&index, verdict) in indices.iter().zip(verdicts) {
                    let verdict = caps.exceptions.apply(&facts[index], name, verdict);
                    if combine(
                        &mut decisions[index],
                        verdict,
                        name,
                        &controls,
                        &caps.bounds,
                    ) {
                        judged_by[index].push(name);
                    }
                }
            }
        }
        self.audit_decisions(caps, records, purpose, facts, &decisions, requester);
        count_decisions(&decisions, &judged_by);
        decisions
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_policy(
        &self,
        caps: &Arc<Capabilities>,
        policy: &LoadedPolicy,
        controls: &Controls,
        settings: &str,
        context: &Context,
        facts: &[VersionFacts],
        until: Option<Instant>,
    ) -> Result<Vec<Verdict>, GuestFailure> {
        let left = until.map(|until| until.saturating_duration_since(Instant::now()));
        let limits = Limits {
            timeout: left.map_or(controls.timeout, |left| left.min(controls.timeout)),
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
        records: &mut RecordBudget,
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
        if purpose == Purpose::Check && facts.len() > CHECK_RECORDS_PER_BATCH {
            records.append(
                &caps.audit,
                &check_summary(
                    facts,
                    decisions,
                    requester,
                    components,
                    osv_generation,
                    &caps.bounds,
                ),
            );
            return;
        }
        // Metadata batches hold every version upstream lists: blocks are
        // recorded one by one, the rest as one record with counts per rule (a
        // version's own record is written when its artifact is asked for).
        let bounds = &caps.bounds;
        let mut passed = MetadataTally::default();
        for (facts, decision) in facts.iter().zip(decisions) {
            if purpose == Purpose::Metadata && decision.action != Action::Block {
                passed.count(decision);
                continue;
            }
            let verdicts = &decision.verdicts;
            let joined = |field: fn(&Verdict) -> &str, separator| {
                let texts: Vec<&str> = verdicts.iter().map(field).collect();
                cut_str(&texts.join(separator), bounds.reason_bytes)
            };
            let record = AuditRecord {
                event: event.into(),
                requester: requester.map(str::to_owned),
                ecosystem: cut_str(&facts.ecosystem, bounds.name_bytes),
                package: cut_str(&facts.name, bounds.name_bytes),
                version: cut_str(&facts.version, bounds.version_bytes),
                action: action_name(decision.action).into(),
                rule: joined(|v| &v.rule, ","),
                reason: joined(|v| &v.reason, "; "),
                advisories: verdicts
                    .iter()
                    .flat_map(|v| v.advisories.iter().cloned())
                    .collect(),
                components: components.clone(),
                osv_generation,
            };
            records.append(&caps.audit, &record);
        }
        if let Some(first) = facts.first().filter(|_| passed.versions > 0) {
            let rules: Vec<&str> = passed.rules.keys().map(String::as_str).collect();
            let record = AuditRecord {
                event: event.into(),
                requester: requester.map(str::to_owned),
                ecosystem: cut_str(&first.ecosystem, bounds.name_bytes),
                package: cut_str(&first.name, bounds.name_bytes),
                action: if passed.warned > 0 { "warn" } else { "allow" }.into(),
                rule: cut_str(&rules.join(","), bounds.reason_bytes),
                reason: cut_str(&passed.summary(), bounds.reason_bytes),
                components,
                osv_generation,
                ..AuditRecord::default()
            };
            records.append(&caps.audit, &record);
        }
    }
}

/// One record for a large `check` batch: how many versions got each action,
/// and the first that were not allowed.
fn check_summary(
    facts: &[VersionFacts],
    decisions: &[Decision],
    requester: Option<&str>,
    components: Vec<String>,
    osv_generation: Option<u64>,
    bounds: &Bounds,
) -> AuditRecord {
    let count = |action| decisions.iter().filter(|d| d.action == action).count();
    let worst = decisions
        .iter()
        .map(|d| d.action)
        .max_by_key(|&a| rank(a))
        .unwrap_or(Action::Allow);
    let mut rules: Vec<&str> = decisions
        .iter()
        .flat_map(|d| d.verdicts.iter().map(|v| v.rule.as_str()))
        .collect();
    rules.sort_unstable();
    rules.dedup();
    let mut reason = format!(
        "{} versions decided in one request: {} allowed, {} warned, {} blocked",
        facts.len(),
        count(Action::Allow),
        count(Action::Warn),
        count(Action::Block)
    );
    let mut listed = facts
        .iter()
        .zip(decisions)
        .filter(|(_, d)| d.action != Action::Allow)
        .map(|(f, d)| format!("{} {}@{}", action_name(d.action), f.name, f.version))
        .peekable();
    if listed.peek().is_some() {
        reason.push_str("; ");
        for item in listed {
            // Stop soon after the cap: `cut` trims the rest.
            if reason.len() > bounds.reason_bytes {
                break;
            }
            reason.push_str(&item);
            reason.push_str(", ");
        }
    }
    cut(&mut reason, bounds.reason_bytes);
    let mut rule = rules.join(",");
    cut(&mut rule, bounds.reason_bytes);
    AuditRecord {
        event: "check".into(),
        requester: requester.map(str::to_owned),
        ecosystem: facts
            .first()
            .map(|f| cut_str(&f.ecosystem, bounds.name_bytes))
            .unwrap_or_default(),
        action: action_name(worst).into(),
        rule,
        reason,
        components,
        osv_generation,
        ..AuditRecord::default()
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

/// Counts each version's decision by action and, for blocks and warnings,
/// the policy behind it: a configured name, never the rule a policy returns
/// (that would let a policy grow the label set without bound).
fn count_decisions(decisions: &[Decision], judged_by: &[Vec<&str>]) {
    let metrics = crate::metrics::metrics();
    for (decision, policies) in decisions.iter().zip(judged_by) {
        let action = action_name(decision.action);
        let mut deciding: Vec<&str> = decision
            .verdicts
            .iter()
            .zip(policies)
            .filter(|(v, _)| v.action == decision.action)
            .map(|(_, &policy)| policy)
            .collect();
        if deciding.is_empty() {
            deciding.push("");
        }
        for policy in deciding {
            metrics
                .decisions
                .get_or_create(&crate::metrics::DecisionLabels {
                    action: action.into(),
                    policy: policy.into(),
                })
                .inc();
        }
    }
}

/// Folds one policy's verdict into a version's decision, applying its mode,
/// with the guest's text cut to the caps; says whether the verdict was kept
/// (allows are not).
fn combine(
    decision: &mut Decision,
    mut verdict: Verdict,
    policy: &str,
    controls: &Controls,
    bounds: &Bounds,
) -> bool {
    if verdict.action == Action::Allow {
        return false;
    }
    if verdict.rule.is_empty() {
        verdict.rule = policy.to_owned();
    }
    // Reasons reach status lines, JSON bodies and packuments: no escapes.
    for text in [&mut verdict.rule, &mut verdict.reason] {
        if let std::borrow::Cow::Owned(clean) = crate::text::printable(text) {
            *text = clean;
        }
    }
    if verdict.action == Action::Block {
        match controls.mode {
            Mode::Enforce => {}
            Mode::Warn => verdict.action = Action::Warn,
            Mode::DryRun => {
                verdict.action = Action::Warn;
                verdict.reason = format!("dry-run, would block: {}", verdict.reason);
            }
        }
    }
    cut(&mut verdict.reason, bounds.reason_bytes);
    cut(&mut verdict.rule, ID_BYTES);
    verdict.advisories.truncate(bounds.advisories_per_verdict);
    for id in &mut verdict.advisories {
        cut(id, ID_BYTES);
    }
    if rank(verdict.action) > rank(decision.action) {
        decision.action = verdict.action;
    }
    decision.verdicts.push(verdict);
    true
}

/// Raises the verdicts of a policy that reads stale advisory data to what its
/// `on_stale` says (see [`OnStale`]).
fn apply_on_stale(
    verdicts: &mut [Verdict],
    on_stale: OnStale,
    purpose: Purpose,
    policy: &LoadedPolicy,
    stale: &str,
) {
    let floor = match (on_stale, purpose) {
        (OnStale::Block, _) => Action::Block,
        (OnStale::Warn, Purpose::Artifact | Purpose::Check) => Action::Warn,
        (OnStale::Warn, Purpose::Metadata) | (OnStale::Allow, _) => return,
    };
    for verdict in verdicts.iter_mut().filter(|v| rank(v.action) < rank(floor)) {
        verdict.action = floor;
        verdict.rule = policy.name.to_string();
        verdict.reason = format!(
            "{stale}, so the {} policy cannot vouch for this version (its on_stale is {})",
            policy.name,
            on_stale.name()
        );
    }
}

/// Policies that could not judge a batch within one gate call: the verdicts
/// they stand for, with one log line and one audit record per policy and call
/// (a decide batch spanning many ecosystems runs each policy once per ecosystem).
struct Failures<'a> {
    caps: &'a Capabilities,
    recorded: Vec<String>,
}

impl<'a> Failures<'a> {
    fn new(caps: &'a Capabilities) -> Self {
        Failures {
            caps,
            recorded: Vec::new(),
        }
    }

    /// Block (fail closed) or, with `on_error: allow`, a warning, for each of
    /// `facts`. `what` says what went wrong ("failed (deadline exceeded)"),
    /// `remedy` what an operator can do.
    #[allow(clippy::too_many_arguments)]
    fn verdicts(
        &mut self,
        records: &mut RecordBudget,
        policy: &str,
        component: Option<String>,
        controls: &Controls,
        what: &str,
        remedy: &str,
        facts: &[VersionFacts],
    ) -> Vec<Verdict> {
        let what = &cut_str(what, self.caps.bounds.reason_bytes);
        if !self.recorded.iter().any(|p| p == policy) {
            self.recorded.push(policy.to_owned());
            tracing::warn!(policy, what, "policy could not judge a batch");
            let first = facts.first();
            let name_bytes = self.caps.bounds.name_bytes;
            let record = AuditRecord {
                event: "policy-error".into(),
                ecosystem: first
                    .map(|f| cut_str(&f.ecosystem, name_bytes))
                    .unwrap_or_default(),
                package: first
                    .map(|f| cut_str(&f.name, name_bytes))
                    .unwrap_or_default(),
                rule: policy.to_owned(),
                reason: what.to_owned(),
                components: component.into_iter().collect(),
                ..AuditRecord::default()
            };
            records.append(&self.caps.audit, &record);
        }
        let (action, reason) = match controls.on_error {
            OnError::Block => (
                Action::Block,
                format!("the {policy} policy {what}, so gatehouse fails closed; {remedy}"),
            ),
            OnError::Allow => (
                Action::Warn,
                format!("the {policy} policy {what}; allowed because on_error is allow"),
            ),
        };
        facts
            .iter()
            .map(|_| Verdict {
                action,
                rule: policy.to_owned(),
                reason: reason.clone(),
                advisories: Vec::new(),
            })
            .collect()
    }
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
    let started = Instant::now();
    let mut store = new_store(
        engine,
        caps.clone(),
        CallScope::Policy,
        policy.name.clone(),
        context.requester.clone(),
        limits,
    );
    let result = async {
        let call = async {
            let instance = policy.pre.instantiate_async(&mut store).await?;
            instance
                .call_evaluate(&mut store, settings, context, facts)
                .await
        };
        let verdicts = within_deadline(&limits, call)
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
