//! Lockfiles clients post to the pre-flight (`gatehouse-lockfile`).
//!
//! Invariant: every pin is read once, in an ecosystem the host knows.

use std::collections::HashSet;

use arbitrary::Unstructured;

const FILES: &[&str] = &[
    "package-lock.json",
    "pnpm-lock.yaml",
    "requirements.txt",
    "uv.lock",
    "Cargo.lock",
    "go.sum",
];
const ECOSYSTEMS: &[&str] = &["npm", "PyPI", "crates.io", "Go", "Maven"];

/// The first byte picks the kind; the rest is the file.
pub fn lockfile(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let file = *u.choose(FILES).unwrap_or(&"go.sum");
    let text = String::from_utf8_lossy(u.bytes(u.len()).unwrap_or_default());
    let Ok(queries) = gatehouse_lockfile::read(file, &text) else {
        return;
    };
    let mut seen = HashSet::new();
    for query in &queries {
        assert!(ECOSYSTEMS.contains(&query.ecosystem), "{file}: {query:?}");
        assert!(
            seen.insert((&query.ecosystem, &query.name, &query.version)),
            "{file}: {query:?} twice"
        );
    }
}
