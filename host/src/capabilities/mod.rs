//! The host capabilities components import, one folder per capability: its
//! service, and in `host.rs` its side of the WIT interface — a per-call
//! state, the view a call gets of it (`impl Host for <Name>View`, as
//! wasmtime's WASI does) and an `add_to_linker`. A capability sees its own
//! state and the [`Call`] it serves, never another capability's state.
//!
//! [`Capabilities`] holds the services shared by every call; what differs per
//! call (which adapter's upstream, which gate) is its [`CallScope`]. The
//! guest's store composes the states (see `runtime::guest`).

pub mod audit;
pub mod gate;
pub mod log;
pub mod osv;
pub mod store;
pub mod upstream;

use std::sync::Arc;
use std::time::Instant;

use crate::config::Bounds;
use crate::exceptions::Exceptions;
use audit::AuditLog;
use gate::PolicyGate;
use upstream::AdapterUpstream;

/// Services every guest call may reach.
pub struct Capabilities {
    pub osv: Arc<dyn osv::AdvisorySource>,
    pub store: Arc<store::KvStore>,
    pub audit: Arc<AuditLog>,
    /// Operator exceptions the gate applies to every policy's blocks.
    pub exceptions: Arc<Exceptions>,
    /// The caps on what guests (and clients) may make the host do.
    pub bounds: Bounds,
}

impl Capabilities {
    /// Changes whenever data decisions depend on changes outside the
    /// components: advisories (and which ecosystems' are stale), exceptions,
    /// the host's store namespace.
    pub fn decision_epoch(&self) -> String {
        let (writes, expired) = self.exceptions.epoch();
        let stale: Vec<String> = self
            .osv
            .health()
            .into_iter()
            .filter(|h| h.stale.is_some())
            .map(|h| h.ecosystem)
            .collect();
        format!(
            "{}.{writes}.{expired}.{}.{}",
            self.osv.generation(),
            self.store.host_epoch(),
            stale.join(",")
        )
    }
}

/// What one call may reach besides the shared services.
#[derive(Clone)]
pub enum CallScope {
    /// A policy's `evaluate`.
    Policy,
    /// An adapter's `handle`: its upstream and the gate it asks.
    Adapter {
        upstream: Arc<AdapterUpstream>,
        gate: Arc<dyn PolicyGate>,
    },
}

/// The call a capability serves: whose it is, and when it must be over.
///
/// Every host call is refused once the deadline has passed and is raced
/// against it while it runs ([`Call::host_call`]), so an awaited host call
/// ends at the deadline; synchronous host work checks it between steps.
pub struct Call {
    /// The component's name, for logs, audit and its store namespace.
    pub component: Arc<str>,
    /// Who is asking (user or client address), when known.
    pub requester: Option<String>,
    deadline: Instant,
}

impl Call {
    pub fn new(component: Arc<str>, requester: Option<String>, deadline: Instant) -> Self {
        Call {
            component,
            requester,
            deadline,
        }
    }

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
    pub async fn host_call<T>(&self, work: impl Future<Output = T>) -> wasmtime::Result<T> {
        self.check_deadline()?;
        tokio::time::timeout_at(self.deadline.into(), work)
            .await
            .map_err(|_| deadline_exceeded())
    }
}

/// The error a host call fails with at the deadline: the same trap as
/// epoch interruption, so the failure reads "deadline exceeded" either way.
pub fn deadline_exceeded() -> wasmtime::Error {
    wasmtime::Error::new(wasmtime::Trap::Interrupt)
}
