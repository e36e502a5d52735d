//! The `gate` interface: an adapter asks the active policy set about a batch.

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
        Ok(self
            .host_call(generation.gate(&caps, purpose, &facts, requester.as_deref()))
            .await)
    }

    async fn reads(&mut self) -> wasmtime::Result<FactReads> {
        let CallScope::Adapter { generation, .. } = &self.scope else {
            return Err(wasmtime::Error::msg("gate is only for adapters"));
        };
        Ok(generation.reads().to_wit())
    }
}
