//! The `log` capability: guest diagnostics into the host's tracing output,
//! capped per call (see [`LogState`]).

mod host;

pub use host::{LogState, LogView, add_to_linker};
