//! The `log` interface: guest diagnostics into the host's tracing output, at
//! most `limits.log_lines_per_call` lines and `limits.log_bytes_per_call`
//! bytes per call; the rest are counted in one line when the call ends.

use wasmtime::component::{HasData, Linker};

use crate::bindings::policy::gatehouse::plugin::log::{self, Host, Level};
use crate::capabilities::Call;
use crate::config::Bounds;

/// What one call has logged, against its caps.
pub struct LogState {
    lines_per_call: usize,
    bytes_per_call: usize,
    lines: usize,
    bytes: usize,
    suppressed: usize,
}

impl LogState {
    pub fn new(bounds: &Bounds) -> Self {
        LogState {
            lines_per_call: bounds.log_lines_per_call,
            bytes_per_call: bounds.log_bytes_per_call,
            lines: 0,
            bytes: 0,
            suppressed: 0,
        }
    }

    /// Says how many lines the caps held back, once, when the call ends.
    pub fn finish(&self, call: &Call) {
        if self.suppressed > 0 {
            tracing::warn!(
                component = &*call.component,
                suppressed = self.suppressed,
                "suppressed {} log lines of one call (limits.log_lines_per_call, limits.log_bytes_per_call)",
                self.suppressed
            );
        }
    }
}

/// One call's view of its log state.
pub struct LogView<'a> {
    pub call: &'a Call,
    pub state: &'a mut LogState,
}

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = LogView<'a>;
}

/// Adds the `log` interface to `linker`, each call's view from `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> LogView<'_>,
) -> wasmtime::Result<()> {
    log::add_to_linker::<T, HasLog>(linker, get)
}

impl Host for LogView<'_> {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.call.check_deadline()?;
        let state = &mut *self.state;
        if state.lines >= state.lines_per_call || state.bytes + message.len() > state.bytes_per_call
        {
            state.suppressed += 1;
            return Ok(());
        }
        state.lines += 1;
        state.bytes += message.len();
        let component = &*self.call.component;
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
