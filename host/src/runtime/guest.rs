//! One guest call's store: WASI with nothing granted, a memory limit, and one
//! wall-clock deadline that host calls count against too.
//!
//! The deadline holds three ways: epoch interruption traps guest code past it;
//! every host call is refused once it has passed and is raced against it while
//! it runs ([`GuestState::host_call`]), so an awaited host call ends at the
//! deadline; and synchronous host work checks it between steps. A host call may
//! therefore overshoot by one synchronous step at most (one OSV chunk, one audit
//! write), which the README documents. While running, a guest yields to the
//! async runtime every epoch tick, so a busy guest never holds a worker
//! thread that `/healthz` and other requests need.

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
    /// Wall-clock time for the whole call, host calls included.
    pub timeout: Duration,
    pub memory_bytes: usize,
}

/// A running guest yields to the async runtime at least this often (in epoch
/// ticks): short slices, because the runtime polls for I/O only every few
/// dozen task polls while tasks stay runnable.
const YIELD_EVERY_TICKS: u64 = 1;

/// What one call has written to the log and the audit, for their caps.
#[derive(Debug, Default)]
pub struct Spent {
    pub log_lines: usize,
    pub log_bytes: usize,
    pub logs_suppressed: usize,
    pub notes: usize,
    pub notes_suppressed: usize,
    pub gate_records: usize,
    pub gate_records_refused: usize,
}

/// The data of a guest's store.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    deadline: Instant,
    pub caps: Arc<Capabilities>,
    pub scope: CallScope,
    /// The component's name, for logs, audit and its store namespace.
    pub component: Arc<str>,
    /// Who is asking (user or client address), when known.
    pub requester: Option<String>,
    /// What an adapter call read, so its outcome can be reused (see [`crate::memo`]).
    pub trace: Trace,
    /// Log lines and audit notes so far (see [`Spent`]).
    pub spent: Spent,
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
    /// When this call must be over, host calls included.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Refuses a host call once the deadline has passed.
    pub fn check_deadline(&self) -> wasmtime::Result<()> {
        if Instant::now() >= self.deadline {
            Err(deadline_exceeded())
        } else {
            Ok(())
        }
    }

    /// Runs `work` (a host call) against the call's deadline: refused past
    /// it, and dropped when the deadline passes while it runs.
    pub async fn host_call<T>(&mut self, work: impl Future<Output = T>) -> wasmtime::Result<T> {
        self.check_deadline()?;
        tokio::time::timeout_at(self.deadline.into(), work)
            .await
            .map_err(|_| deadline_exceeded())
    }

    /// The most linear memory the guest asked for, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.limiter.peak
    }
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

/// The error a host call fails with at the deadline: the same trap as
/// epoch interruption, so the failure reads "deadline exceeded" either way.
pub fn deadline_exceeded() -> wasmtime::Error {
    wasmtime::Error::new(wasmtime::Trap::Interrupt)
}

impl Drop for GuestState {
    /// Records what the caps held back, once per call.
    fn drop(&mut self) {
        let component = &*self.component;
        let spent = &self.spent;
        if spent.logs_suppressed > 0 {
            tracing::warn!(
                component,
                suppressed = spent.logs_suppressed,
                "suppressed {} log lines of one call (limits.log_lines_per_call, limits.log_bytes_per_call)",
                spent.logs_suppressed
            );
        }
        if spent.notes_suppressed > 0 {
            self.caps.audit.append(&crate::capabilities::audit::AuditRecord {
                event: "note".into(),
                requester: self.requester.clone(),
                rule: component.to_owned(),
                reason: format!(
                    "{} more notes of one call were not recorded (limits.audit_notes_per_call is {})",
                    spent.notes_suppressed, self.caps.bounds.audit_notes_per_call
                ),
                ..crate::capabilities::audit::AuditRecord::default()
            });
        }
        if spent.gate_records_refused > 0 {
            self.caps.audit.append(&crate::capabilities::audit::AuditRecord {
                event: "gate".into(),
                requester: self.requester.clone(),
                rule: component.to_owned(),
                reason: format!(
                    "{} more gate records of one call were not recorded (limits.gate_records_per_call is {})",
                    spent.gate_records_refused, self.caps.bounds.gate_records_per_call
                ),
                ..crate::capabilities::audit::AuditRecord::default()
            });
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
    let state = GuestState {
        // Guests get no files, sockets, environment or arguments: only what the
        // gatehouse interfaces give them, plus clocks and randomness.
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        limiter: MemoryLimiter {
            limit: limits.memory_bytes.min(MAX_GUEST_MEMORY),
            peak: 0,
        },
        deadline: Instant::now() + limits.timeout,
        caps,
        scope,
        component,
        requester,
        trace: Trace::new(),
        spent: Spent::default(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        let now = Instant::now();
        let deadline = ctx.data().deadline;
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
