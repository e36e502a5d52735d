//! One adapter route: its wiring ([`AdapterRoute`]: upstream, settings,
//! limits) and one call of the adapter component on it. The proxy calls it
//! for client requests, the pre-flight for a package's facts; the artifact
//! check asks the adapter what an artifact's own manifest says.

use std::sync::Arc;
use std::time::Instant;

use crate::bindings::VersionFacts;
use crate::bindings::adapter::{Outcome, Request};
use crate::bindings::manifest_reader::exports::gatehouse::plugin::manifest;
use crate::capabilities::gate::PolicyGate;
use crate::capabilities::upstream::{AdapterUpstream, Trace};
use crate::capabilities::{CallScope, Capabilities};
use crate::metrics::metrics;
use crate::runtime::LoadedAdapter;
use crate::runtime::guest::{GuestFailure, GuestState, Limits, new_store, within_deadline};
use gatehouse_archive::Member;

/// The adapter of container images, whose routes are served under `/v2/`
/// alone (the OCI distribution front).
pub const OCI_ADAPTER: &str = "oci";

/// One adapter's wiring: its upstream, settings and limits.
pub struct AdapterRoute {
    /// The adapter that serves it (its file stem): the route's own name,
    /// or the upstream's `format`.
    pub adapter: String,
    pub upstream: Arc<AdapterUpstream>,
    pub settings: String,
    pub limits: Limits,
}

impl AdapterRoute {
    /// Whether the OCI adapter serves it (under `/v2/{name}/` alone).
    pub fn serves_oci(&self) -> bool {
        self.adapter == OCI_ADAPTER
    }

    /// A store for one call of `adapter` on this route.
    fn store(
        &self,
        gate: Arc<dyn PolicyGate>,
        caps: &Arc<Capabilities>,
        adapter: &LoadedAdapter,
        requester: Option<String>,
    ) -> wasmtime::Store<GuestState> {
        new_store(
            adapter.pre.handle.engine(),
            caps.clone(),
            CallScope::Adapter {
                upstream: self.upstream.clone(),
                gate,
            },
            adapter.name.clone(),
            requester,
            self.limits,
        )
    }

    /// `call` within the route's deadline, counted in the metrics.
    async fn timed<T>(
        &self,
        adapter: &LoadedAdapter,
        call: impl Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        let started = Instant::now();
        let outcome = within_deadline(&self.limits, call).await;
        metrics().guest_call(
            "adapter",
            &adapter.name,
            started.elapsed(),
            outcome
                .as_ref()
                .err()
                .map(|e| GuestFailure::classify(e).class()),
        );
        outcome
    }
}

/// Runs `adapter`'s `handle` on `request` for `route`, instantiation
/// included, within the route's deadline and counted in the metrics; then
/// settles the upstream copies it read. Returns its outcome and what it read.
pub async fn call_adapter(
    gate: Arc<dyn PolicyGate>,
    caps: &Arc<Capabilities>,
    adapter: &LoadedAdapter,
    route: &AdapterRoute,
    requester: Option<String>,
    request: &Request,
) -> (wasmtime::Result<Outcome>, Trace) {
    let mut store = route.store(gate, caps, adapter, requester);
    let call = async {
        let instance = adapter.pre.handle.instantiate_async(&mut store).await?;
        instance
            .call_handle(&mut store, &route.settings, request)
            .await
    };
    let outcome = route.timed(adapter, call).await;
    let trace = store.data_mut().take_trace();
    drop(store);
    // Upstream copies become the cached ones only when the adapter could
    // build an answer from them; a body it could not use is fetched again.
    let accepted = match &outcome {
        Ok(Outcome::Respond(built)) => built.status < 500,
        Ok(Outcome::Artifact(_)) => true,
        Err(_) => false,
    };
    route
        .upstream
        .shared()
        .settle(&trace.stamps, accepted)
        .await;
    (outcome, trace)
}

/// Runs `adapter`'s `manifest.read` on the manifest files read from one of
/// its artifacts, within the route's deadline. `None` when the adapter reads
/// no manifests (it was built against 0.1.0 or 0.1.1).
pub async fn read_manifest(
    gate: Arc<dyn PolicyGate>,
    caps: &Arc<Capabilities>,
    adapter: &LoadedAdapter,
    route: &AdapterRoute,
    registry: &VersionFacts,
    members: Vec<Member>,
) -> Option<wasmtime::Result<Result<Option<VersionFacts>, String>>> {
    let reader = adapter.pre.manifest.as_ref()?;
    let mut store = route.store(gate, caps, adapter, None);
    let members: Vec<manifest::Member> = members
        .into_iter()
        .map(|member| manifest::Member {
            path: member.path,
            contents: member.contents,
        })
        .collect();
    let call = async {
        let instance = reader.instantiate_async(&mut store).await?;
        instance
            .gatehouse_plugin_manifest()
            .call_read(&mut store, &route.settings, registry, &members)
            .await
    };
    Some(route.timed(adapter, call).await)
}
