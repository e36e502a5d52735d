//! The host capabilities components import, one module per WIT interface.
//!
//! [`Capabilities`] holds the services shared by every call; what differs per
//! call (which adapter's upstream, which generation's policies) lives in the
//! guest's store as a [`CallScope`].

pub mod audit;
pub mod gate;
pub mod log;
pub mod osv;
pub mod store;
pub mod upstream;

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::config::Bounds;
use crate::exceptions::Exceptions;
use crate::runtime::Generation;
use crate::upstream::AdapterUpstream;

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
    /// An adapter's `handle`: its upstream and the policy generation it gates with.
    Adapter {
        upstream: Arc<AdapterUpstream>,
        generation: Arc<Generation>,
    },
}

/// `types` declares only types; its host side has nothing to do.
impl crate::bindings::policy::gatehouse::plugin::types::Host for crate::runtime::guest::GuestState {}
