//! The `gate` interface: an adapter asks the active policy set about a batch.
//! The policies run within what is left of the adapter's deadline (each
//! policy's own timeout is cut to it), and the whole evaluation is raced
//! against that deadline. Its audit records count against the call's
//! `limits.gate_records_per_call`; the rest are counted in one record when
//! the call ends.

use crate::bindings::adapter::gatehouse::plugin::gate::{Decision, Host};
use crate::bindings::{FactReads, Purpose, VersionFacts};
use crate::capabilities::CallScope;
use crate::gate::RecordBudget;
use crate::runtime::guest::GuestState;

impl Host for GuestState {
    async fn evaluate(
        &mut self,
        purpose: Purpose,
        facts: Vec<VersionFacts>,
    ) -> wasmtime::Result<Vec<Decision>> {
        let CallScope::Adapter { generation, .. } = self.scope.clone() else {
            return Err(wasmtime::Error::msg("gate is only for adapters"));
        };
        let caps = self.caps.clone();
        let requester = self.requester.clone();
        let until = Some(self.deadline());
        let cap = caps.bounds.gate_records_per_call;
        let mut records = RecordBudget {
            left: cap.saturating_sub(self.spent.gate_records),
            refused: 0,
        };
        let gated = generation.gate_until(
            &caps,
            purpose,
            &facts,
            requester.as_deref(),
            until,
            &mut records,
        );
        let decisions = self.host_call(gated).await;
        self.spent.gate_records = cap - records.left;
        self.spent.gate_records_refused += records.refused;
        decisions
    }

    async fn reads(&mut self) -> wasmtime::Result<FactReads> {
        self.check_deadline()?;
        let CallScope::Adapter { generation, .. } = &self.scope else {
            return Err(wasmtime::Error::msg("gate is only for adapters"));
        };
        Ok(generation.reads().to_wit())
    }
}
