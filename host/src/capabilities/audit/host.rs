//! The `audit` interface: components' notes, appended to the host's audit
//! log; at most `limits.audit_notes_per_call` per call (the rest are counted
//! in one record when the call ends), each field cut to its cap.

use crate::bindings::policy::gatehouse::plugin::audit::Host;
use crate::bounds::cut;
use crate::capabilities::audit::AuditRecord;
use crate::runtime::guest::GuestState;

const MAX_NOTE: usize = 4096;

impl Host for GuestState {
    async fn note(
        &mut self,
        mut ecosystem: String,
        mut name: String,
        mut version: String,
        mut message: String,
    ) -> wasmtime::Result<()> {
        self.check_deadline()?;
        let bounds = self.caps.bounds;
        if self.spent.notes >= bounds.audit_notes_per_call {
            self.spent.notes_suppressed += 1;
            return Ok(());
        }
        self.spent.notes += 1;
        cut(&mut message, MAX_NOTE);
        cut(&mut ecosystem, bounds.name_bytes);
        cut(&mut name, bounds.name_bytes);
        cut(&mut version, bounds.version_bytes);
        self.caps.audit.append(&AuditRecord {
            event: "note".into(),
            requester: self.requester.clone(),
            ecosystem,
            package: name,
            version,
            rule: self.component.to_string(),
            reason: message,
            ..AuditRecord::default()
        });
        Ok(())
    }
}
