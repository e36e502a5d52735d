//! One adapter route: its wiring ([`AdapterRoute`]: upstream, settings,
//! limits) and one call of the adapter component on it. The proxy calls it
//! for client requests, the pre-flight for a package's facts.

use std::sync::Arc;
use std::time::Instant;

use crate::bindings::adapter::{Outcome, Request};
use crate::capabilities::gate::PolicyGate;
use crate::capabilities::upstream::{AdapterUpstream, Trace};
use crate::capabilities::{CallScope, Capabilities};
use crate::metrics::metrics;
use crate::runtime::LoadedAdapter;
use crate::runtime::guest::{GuestFailure, Limits, new_store, within_deadline};

/// One adapter's wiring: its upstream, settings and limits.
pub struct AdapterRoute {
    pub upstream: Arc<AdapterUpstream>,
    pub settings: String,
    pub limits: Limits,
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
    let mut store = new_store(
        adapter.pre.engine(),
        caps.clone(),
        CallScope::Adapter {
            upstream: route.upstream.clone(),
            gate,
        },
        adapter.name.clone(),
        requester,
        route.limits,
    );
    let started = Instant::now();
    let call = async {
        let instance = adapter.pre.instantiate_async(&mut store).await?;
        instance
            .call_handle(&mut store, &route.settings, request)
            .await
    };
    let outcome = within_deadline(&route.limits, call).await;
    metrics().guest_call(
        "adapter",
        &adapter.name,
        started.elapsed(),
        outcome
            .as_ref()
            .err()
            .map(|e| GuestFailure::classify(e).class()),
    );
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
