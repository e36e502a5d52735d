//! One guest call's store: WASI with nothing granted, a memory limit, and a CPU
//! budget that counts only the guest's own time (not time spent in host calls).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::{CallScope, Capabilities};
use crate::memo::Trace;
use crate::runtime::engine::{EPOCH_TICK, MAX_GUEST_MEMORY};

/// Resource limits for one component.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: usize,
}

/// The data of a guest's store.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    started: Instant,
    host_time: Duration,
    pub caps: Arc<Capabilities>,
    pub scope: CallScope,
    /// The component's name, for logs, audit and its store namespace.
    pub component: Arc<str>,
    /// Who is asking (user or client address), when known.
    pub requester: Option<String>,
    /// What an adapter call read, so its outcome can be reused (see [`crate::memo`]).
    pub trace: Trace,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl GuestState {
    /// Runs `work` (a host call), keeping its duration out of the guest's budget.
    pub async fn host_call<T>(&mut self, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = work.await;
        self.host_time += started.elapsed();
        out
    }

    /// The most linear memory the guest asked for, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.limiter.peak
    }

    /// Charges `took` (host work done outside [`Self::host_call`]) to the host.
    pub fn charge_host(&mut self, took: Duration) {
        self.host_time += took;
    }
}

/// A store for one call of `component`, with its limits armed.
pub fn new_store(
    engine: &wasmtime::Engine,
    caps: Arc<Capabilities>,
    scope: CallScope,
    component: Arc<str>,
    requester: Option<String>,
    limits: Limits,
) -> Store<GuestState> {
    let state = GuestState {
        // Guests get no files, sockets, environment or arguments: only what the
        // gatehouse interfaces give them, plus clocks and randomness.
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        limiter: MemoryLimiter {
            limit: limits.memory_bytes.min(MAX_GUEST_MEMORY),
            peak: 0,
        },
        started: Instant::now(),
        host_time: Duration::ZERO,
        caps,
        scope,
        component,
        requester,
        trace: Trace::new(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    let budget = limits.timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |ctx| {
        let state = ctx.data();
        let guest_time = state.started.elapsed().saturating_sub(state.host_time);
        if guest_time > budget {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Continue(ticks_left(budget - guest_time)))
        }
    });
    store
}

fn ticks_left(remaining: Duration) -> u64 {
    (remaining.as_millis() / EPOCH_TICK.as_millis()).clamp(1, 1000) as u64
}

/// Caps linear memory (growing past the cap traps, so the failure is typed)
/// and records the peak.
struct MemoryLimiter {
    limit: usize,
    peak: usize,
}

/// The text of a memory-limit trap; [`crate::gate::GuestFailure::classify`] looks for it.
pub const MEMORY_LIMIT_MESSAGE: &str = "guest memory limit exceeded";

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(wasmtime::Error::msg(format!(
                "{MEMORY_LIMIT_MESSAGE} ({} MiB)",
                self.limit >> 20
            )));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}
