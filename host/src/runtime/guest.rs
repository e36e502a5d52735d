//! One guest call's store: WASI with nothing granted, a memory limit, and one
//! wall-clock deadline that host calls count against too.
//!
//! The deadline holds three ways: epoch interruption traps guest code past it;
//! every host call is refused once it has passed and is raced against it while
//! it runs ([`Call::host_call`]), so an awaited host call ends at the
//! deadline; and synchronous host work checks it between steps. A host call may
//! therefore overshoot by one synchronous step at most (one OSV chunk, one audit
//! write), which the README documents. While running, a guest yields to the
//! async runtime every epoch tick, so a busy guest never holds a worker
//! thread that `/healthz` and other requests need.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::policy::gatehouse::plugin::types;
use crate::capabilities::audit::{AuditState, AuditView};
use crate::capabilities::gate::{GateState, GateView};
use crate::capabilities::log::{LogState, LogView};
use crate::capabilities::osv::{OsvState, OsvView};
use crate::capabilities::store::{StoreState, StoreView};
use crate::capabilities::upstream::{Trace, UpstreamState, UpstreamView};
use crate::capabilities::{self, Call, CallScope, Capabilities, deadline_exceeded};
use crate::runtime::engine::{EPOCH_TICK, MAX_GUEST_MEMORY};

/// Resource limits for one component.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock time for the whole call, host calls included.
    pub timeout: Duration,
    pub memory_bytes: usize,
}

/// A running guest yields to the async runtime at least this often (in epoch
/// ticks): short slices, because the runtime polls for I/O only every few
/// dozen task polls while tasks stay runnable.
const YIELD_EVERY_TICKS: u64 = 1;

/// The data of a guest's store: WASI, and each capability's state for this
/// call, handed out as that capability's view.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    call: Call,
    log: LogState,
    audit: AuditState,
    store: StoreState,
    osv: OsvState,
    /// An adapter's call only.
    upstream: Option<UpstreamState>,
    gate: Option<GateState>,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// `types` declares only types; its host side has nothing to do.
impl types::Host for GuestState {}

impl GuestState {
    fn log(&mut self) -> LogView<'_> {
        LogView {
            call: &self.call,
            state: &mut self.log,
        }
    }

    fn audit(&mut self) -> AuditView<'_> {
        AuditView {
            call: &self.call,
            state: &mut self.audit,
        }
    }

    fn store(&mut self) -> StoreView<'_> {
        StoreView {
            call: &self.call,
            state: &mut self.store,
        }
    }

    fn osv(&mut self) -> OsvView<'_> {
        OsvView {
            call: &self.call,
            state: &self.osv,
        }
    }

    fn upstream(&mut self) -> UpstreamView<'_> {
        UpstreamView {
            call: &self.call,
            state: self.upstream.as_mut(),
        }
    }

    fn gate(&mut self) -> GateView<'_> {
        GateView {
            call: &self.call,
            state: self.gate.as_mut(),
        }
    }

    /// What the call read (the memo reuses an outcome while it holds), taken once it is over.
    pub fn take_trace(&mut self) -> Trace {
        let mut trace = self
            .upstream
            .as_mut()
            .map(|upstream| std::mem::take(&mut upstream.trace))
            .unwrap_or_default();
        // An outcome built on stored data cannot be checked for staleness.
        if self.store.read() {
            trace.reusable = false;
        }
        trace
    }

    /// The most linear memory the guest asked for, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.limiter.peak
    }
}

/// Adds WASI (nothing granted) and the interfaces of the `policy` world.
pub fn add_policy_imports(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    types::add_to_linker::<_, HasSelf<GuestState>>(linker, |state| state)?;
    capabilities::osv::add_to_linker(linker, GuestState::osv)?;
    capabilities::store::add_to_linker(linker, GuestState::store)?;
    capabilities::audit::add_to_linker(linker, GuestState::audit)?;
    capabilities::log::add_to_linker(linker, GuestState::log)
}

/// Adds what the `adapter` world imports: the policy world's, plus
/// `upstream` and `gate`.
pub fn add_adapter_imports(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    add_policy_imports(linker)?;
    capabilities::upstream::add_to_linker(linker, GuestState::upstream)?;
    capabilities::gate::add_to_linker(linker, GuestState::gate)
}

/// Runs a whole guest call (instantiation included) within `limits.timeout`:
/// the outer bound for waits the other checks do not see, such as a guest
/// sleeping through WASI's clocks.
pub async fn within_deadline<T>(
    limits: &Limits,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    tokio::time::timeout(limits.timeout, call)
        .await
        .unwrap_or_else(|_| Err(deadline_exceeded()))
}

impl Drop for GuestState {
    /// Records what the caps held back, once per call.
    fn drop(&mut self) {
        self.log.finish(&self.call);
        self.audit.finish(&self.call);
        if let Some(gate) = &self.gate {
            gate.finish(&self.call);
        }
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
    let bounds = caps.bounds;
    let (upstream, gate) = match scope {
        CallScope::Policy => (None, None),
        CallScope::Adapter { upstream, gate } => (
            Some(UpstreamState::new(
                upstream,
                gatehouse_archive::ArchiveLimits::from(&bounds),
            )),
            Some(GateState::new(
                gate,
                caps.audit.clone(),
                bounds.gate_records_per_call,
            )),
        ),
    };
    let state = GuestState {
        // Guests get no files, sockets, environment or arguments: only what the
        // gatehouse interfaces give them, plus clocks and randomness.
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        limiter: MemoryLimiter {
            limit: limits.memory_bytes.min(MAX_GUEST_MEMORY),
            peak: 0,
        },
        call: Call::new(component, requester, Instant::now() + limits.timeout),
        log: LogState::new(&bounds),
        audit: AuditState::new(caps.audit.clone(), bounds),
        store: StoreState::new(caps.store.clone()),
        osv: OsvState::new(caps.osv.clone(), bounds.osv_versions_per_call),
        upstream,
        gate,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        let now = Instant::now();
        let deadline = ctx.data().call.deadline();
        if now >= deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(ticks_left(deadline - now)))
        }
    });
    store
}

fn ticks_left(remaining: Duration) -> u64 {
    (remaining.as_millis() / EPOCH_TICK.as_millis()).clamp(1, u128::from(YIELD_EVERY_TICKS)) as u64
}

/// Caps linear memory (growing past the cap traps, so the failure is typed)
/// and records the peak.
struct MemoryLimiter {
    limit: usize,
    peak: usize,
}

/// The text of a memory-limit trap; [`GuestFailure::classify`] looks for it.
const MEMORY_LIMIT_MESSAGE: &str = "guest memory limit exceeded";

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
        if text.contains(MEMORY_LIMIT_MESSAGE) {
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
