//! The `log` capability: guest diagnostics into the host's tracing output.

mod host;
