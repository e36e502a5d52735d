//! The `gate` interface: an adapter asks the active policy set about a batch.
//! The policies run within what is left of the adapter's deadline (each
//! policy's own timeout is cut to it), and the whole evaluation is raced
//! against that deadline.

use crate::bindings::adapter::gatehouse::plugin::gate::{Decision, Host};
use crate::bindings::{FactReads, Purpose, VersionFacts};
use crate::capabilities::CallScope;
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
        self.host_call(generation.gate_until(&caps, purpose, &facts, requester.as_deref(), until))
            .await
    }

    async fn reads(&mut self) -> wasmtime::Result<FactReads> {
        self.check_deadline()?;
        let CallScope::Adapter { generation, .. } = &self.scope else {
            return Err(wasmtime::Error::msg("gate is only for adapters"));
        };
        Ok(generation.reads().to_wit())
    }
}
