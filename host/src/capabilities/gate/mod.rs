//! The `gate` capability: an adapter asks the active policy set about a
//! batch. The capability holds a narrow handle ([`PolicyGate`]), not the
//! policies: the policy-batch evaluator implements it (`gate.rs`), and so
//! does the pre-flight's gate that records the facts it is given.

mod host;

use std::pin::Pin;
use std::time::Instant;

pub use host::{GateState, GateView, add_to_linker};

use crate::bindings::adapter::gatehouse::plugin::gate::Decision;
use crate::bindings::{FactReads, Purpose, VersionFacts};
use crate::capabilities::audit::{AuditLog, AuditRecord};

/// What [`PolicyGate::evaluate`] returns.
pub type Gated<'a> = Pin<Box<dyn Future<Output = Vec<Decision>> + Send + 'a>>;

/// What an adapter's `gate` import asks.
pub trait PolicyGate: Send + Sync {
    /// One decision per version of `facts`, in order, for `requester`, over
    /// by `until`; its audit records are taken from `records`.
    fn evaluate<'a>(
        &'a self,
        purpose: Purpose,
        facts: &'a [VersionFacts],
        requester: Option<&'a str>,
        until: Instant,
        records: &'a mut RecordBudget,
    ) -> Gated<'a>;

    /// The costly facts the judging policies read.
    fn reads(&self) -> FactReads;
}

/// Gate audit records one guest call may still write (the cap is
/// `limits.gate_records_per_call`), and how many it was refused: a hostile
/// adapter calling `gate.evaluate` in a loop cannot flood the audit log.
#[derive(Debug, Clone, Copy)]
pub struct RecordBudget {
    pub left: usize,
    pub refused: usize,
}

impl RecordBudget {
    /// For the host's own gate calls, which are bounded by their requests.
    pub fn unlimited() -> Self {
        RecordBudget {
            left: usize::MAX,
            refused: 0,
        }
    }

    /// Appends `record` to `log` while the budget lasts; counts it refused after.
    pub fn append(&mut self, log: &AuditLog, record: &AuditRecord) {
        if self.left == 0 {
            self.refused += 1;
            return;
        }
        self.left -= 1;
        log.append(record);
    }
}
