//! The `audit` interface: components' notes, appended to the host's audit log.

use crate::audit::AuditRecord;
use crate::bindings::policy::gatehouse::plugin::audit::Host;
use crate::runtime::guest::GuestState;

const MAX_NOTE: usize = 4096;

impl Host for GuestState {
    async fn note(
        &mut self,
        ecosystem: String,
        name: String,
        version: String,
        mut message: String,
    ) -> wasmtime::Result<()> {
        if message.len() > MAX_NOTE {
            let mut end = MAX_NOTE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
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
