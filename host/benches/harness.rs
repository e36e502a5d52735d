//! What the policy benchmarks share: a runtime with fixed capabilities, the
//! context they call with, and the batch they evaluate.

use std::path::Path;
use std::sync::Arc;

use gatehouse::bindings::{Context, Purpose, VersionFacts};
use gatehouse::capabilities::Capabilities;
use gatehouse::capabilities::audit::AuditLog;
use gatehouse::capabilities::osv::FixedAdvisories;
use gatehouse::capabilities::store::KvStore;
use gatehouse::runtime::engine::Engine;
use gatehouse::runtime::{Layout, Runtime};

/// A runtime on `engine` with no advisories and an empty store, its files in `scratch`.
pub fn runtime(
    engine: &Engine,
    scratch: &Path,
) -> anyhow::Result<(Arc<Capabilities>, Arc<Runtime>)> {
    let caps = Arc::new(Capabilities {
        osv: Arc::new(FixedAdvisories::default()),
        store: Arc::new(KvStore::default()),
        audit: Arc::new(AuditLog::open(&scratch.join("audit.log"))?),
        exceptions: Default::default(),
        bounds: Default::default(),
    });
    let layout = Layout {
        adapters_dir: scratch.join("a"),
        policies_dir: scratch.join("p"),
        gate_policy: scratch.join("g.yaml"),
    };
    let runtime = Runtime::new(engine.clone(), caps.clone(), layout)?;
    Ok((caps, runtime))
}

/// A metadata call at a fixed time.
pub fn context() -> Context {
    Context {
        purpose: Purpose::Metadata,
        now: 1_700_000_000,
        requester: None,
    }
}

/// `size` versions of one npm package, shaped like a big packument's.
pub fn batch(size: usize) -> Vec<VersionFacts> {
    (0..size)
        .map(|i| VersionFacts {
            ecosystem: "npm".into(),
            name: "bench-package".into(),
            version: format!("{}.{}.{}", i / 100, (i / 10) % 10, i % 10),
            published: Some(1_600_000_000 + i as i64 * 3600),
            license: Some("MIT".into()),
            install_scripts: Vec::new(),
            deprecated: None,
            yanked: None,
            size: Some(10_000),
            digests: Vec::new(),
            dependencies: Vec::new(),
            raw: r#"{"name":"bench-package","dist":{"shasum":"00"}}"#.into(),
        })
        .collect()
}
