//! The `log` interface: guest diagnostics into the host's tracing output, at
//! most `limits.log_lines_per_call` lines and `limits.log_bytes_per_call`
//! bytes per call; the rest are counted in one line when the call ends.

use crate::bindings::policy::gatehouse::plugin::log::{Host, Level};
use crate::runtime::guest::GuestState;

impl Host for GuestState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.check_deadline()?;
        let bounds = &self.caps.bounds;
        let spent = &mut self.spent;
        if spent.log_lines >= bounds.log_lines_per_call
            || spent.log_bytes + message.len() > bounds.log_bytes_per_call
        {
            spent.logs_suppressed += 1;
            return Ok(());
        }
        spent.log_lines += 1;
        spent.log_bytes += message.len();
        let component = &*self.component;
        match level {
            Level::Trace => tracing::trace!(component, "{message}"),
            Level::Debug => tracing::debug!(component, "{message}"),
            Level::Info => tracing::info!(component, "{message}"),
            Level::Warn => tracing::warn!(component, "{message}"),
            Level::Error => tracing::error!(component, "{message}"),
        }
        Ok(())
    }
}
