//! The `audit` interface: components' notes, appended to the host's audit
//! log; at most `limits.audit_notes_per_call` per call (the rest are counted
//! in one record when the call ends), each field cut to its cap.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use super::{AuditLog, AuditRecord};
use crate::bindings::policy::gatehouse::plugin::audit::{self, Host};
use crate::bounds::cut;
use crate::capabilities::Call;
use crate::config::Bounds;

const MAX_NOTE: usize = 4096;

/// The log one call notes into, and how many notes it wrote.
pub struct AuditState {
    log: Arc<AuditLog>,
    bounds: Bounds,
    notes: usize,
    suppressed: usize,
}

impl AuditState {
    pub fn new(log: Arc<AuditLog>, bounds: Bounds) -> Self {
        AuditState {
            log,
            bounds,
            notes: 0,
            suppressed: 0,
        }
    }

    /// Records how many notes the cap held back, once, when the call ends.
    pub fn finish(&self, call: &Call) {
        if self.suppressed > 0 {
            self.log.append(&AuditRecord {
                event: "note".into(),
                requester: call.requester.clone(),
                rule: call.component.to_string(),
                reason: format!(
                    "{} more notes of one call were not recorded (limits.audit_notes_per_call is {})",
                    self.suppressed, self.bounds.audit_notes_per_call
                ),
                ..AuditRecord::default()
            });
        }
    }
}

/// One call's view of its audit state.
pub struct AuditView<'a> {
    pub call: &'a Call,
    pub state: &'a mut AuditState,
}

struct HasAudit;

impl HasData for HasAudit {
    type Data<'a> = AuditView<'a>;
}

/// Adds the `audit` interface to `linker`, each call's view from `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> AuditView<'_>,
) -> wasmtime::Result<()> {
    audit::add_to_linker::<T, HasAudit>(linker, get)
}

impl Host for AuditView<'_> {
    async fn note(
        &mut self,
        mut ecosystem: String,
        mut name: String,
        mut version: String,
        mut message: String,
    ) -> wasmtime::Result<()> {
        self.call.check_deadline()?;
        let state = &mut *self.state;
        let bounds = state.bounds;
        if state.notes >= bounds.audit_notes_per_call {
            state.suppressed += 1;
            return Ok(());
        }
        state.notes += 1;
        cut(&mut message, MAX_NOTE);
        cut(&mut ecosystem, bounds.name_bytes);
        cut(&mut name, bounds.name_bytes);
        cut(&mut version, bounds.version_bytes);
        state.log.append(&AuditRecord {
            event: "note".into(),
            requester: self.call.requester.clone(),
            ecosystem,
            package: name,
            version,
            rule: self.call.component.to_string(),
            reason: message,
            ..AuditRecord::default()
        });
        Ok(())
    }
}
