//! The `gate` interface: an adapter asks its [`PolicyGate`] about a batch.
//! The policies run within what is left of the adapter's deadline (each
//! policy's own timeout is cut to it), and the whole evaluation is raced
//! against that deadline. Its audit records count against the call's
//! `limits.gate_records_per_call`; the rest are counted in one record when
//! the call ends.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use super::{PolicyGate, RecordBudget};
use crate::bindings::adapter::gatehouse::plugin::gate::{self, Decision, Host};
use crate::bindings::{FactReads, Purpose, VersionFacts};
use crate::capabilities::Call;
use crate::capabilities::audit::{AuditLog, AuditRecord};

/// The gate one adapter call asks, and the gate records it wrote.
pub struct GateState {
    gate: Arc<dyn PolicyGate>,
    log: Arc<AuditLog>,
    records_per_call: usize,
    records: usize,
    refused: usize,
}

impl GateState {
    pub fn new(gate: Arc<dyn PolicyGate>, log: Arc<AuditLog>, records_per_call: usize) -> Self {
        GateState {
            gate,
            log,
            records_per_call,
            records: 0,
            refused: 0,
        }
    }

    /// Records how many gate records the cap held back, once, when the call ends.
    pub fn finish(&self, call: &Call) {
        if self.refused > 0 {
            self.log.append(&AuditRecord {
                event: "gate".into(),
                requester: call.requester.clone(),
                rule: call.component.to_string(),
                reason: format!(
                    "{} more gate records of one call were not recorded (limits.gate_records_per_call is {})",
                    self.refused, self.records_per_call
                ),
                ..AuditRecord::default()
            });
        }
    }
}

/// One call's view of its gate state; a policy's call has none.
pub struct GateView<'a> {
    pub call: &'a Call,
    pub state: Option<&'a mut GateState>,
}

impl GateView<'_> {
    fn state(&mut self) -> wasmtime::Result<&mut GateState> {
        self.state
            .as_deref_mut()
            .ok_or_else(|| wasmtime::Error::msg("gate is only for adapters"))
    }
}

struct HasGate;

impl HasData for HasGate {
    type Data<'a> = GateView<'a>;
}

/// Adds the `gate` interface to `linker`, each call's view from `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> GateView<'_>,
) -> wasmtime::Result<()> {
    gate::add_to_linker::<T, HasGate>(linker, get)
}

impl Host for GateView<'_> {
    async fn evaluate(
        &mut self,
        purpose: Purpose,
        facts: Vec<VersionFacts>,
    ) -> wasmtime::Result<Vec<Decision>> {
        let call = self.call;
        let state = self.state()?;
        let cap = state.records_per_call;
        let mut records = RecordBudget {
            left: cap.saturating_sub(state.records),
            refused: 0,
        };
        let gate = state.gate.clone();
        let gated = gate.evaluate(
            purpose,
            &facts,
            call.requester.as_deref(),
            call.deadline(),
            &mut records,
        );
        let decisions = call.host_call(gated).await;
        state.records = cap - records.left;
        state.refused += records.refused;
        decisions
    }

    async fn reads(&mut self) -> wasmtime::Result<FactReads> {
        self.call.check_deadline()?;
        Ok(self.state()?.gate.reads())
    }
}
