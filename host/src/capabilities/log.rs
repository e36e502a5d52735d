//! The `log` interface: guest diagnostics into the host's tracing output.

use crate::bindings::policy::gatehouse::plugin::log::{Host, Level};
use crate::runtime::guest::GuestState;

impl Host for GuestState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
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
