//! The default adapter and policy components, built by `host/build.rs` and
//! embedded in the binary: `gatehouse init` writes them out, and tests and
//! benchmarks load them.

include!(concat!(env!("OUT_DIR"), "/components.rs"));
