//! The Go module proxy adapter: module paths (case encoding, routes), version
//! lists, and module zips.
//!
//! Invariants: the case encoding is a bijection on what it accepts; a served
//! list is upstream's versions, in order, without the blocked ones.

use std::collections::HashSet;

use arbitrary::Unstructured;
use gatehouse_adapter_sdk::Outcome;
use goproxy::escape::{escape, unescape};

use crate::fake::{self, FakeHost};
use crate::some_of;

const MODULE: &str = "example.com/Demo";
const VERSIONS: &[&str] = &[
    "v1.0.0",
    "v1.1.0",
    "v2.0.0+incompatible",
    "v0.0.0-20191109021931-daa7c04131f5",
];

/// Paths and lists: the first bytes pick the blocked versions and a path.
pub fn list(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let blocked: HashSet<String> = some_of(&mut u, VERSIONS);
    let path = u.arbitrary::<&str>().unwrap_or_default();
    if let Some(decoded) = unescape(path) {
        assert_eq!(escape(&decoded), path, "{path:?} decodes to {decoded:?}");
    }
    if !path.contains('!') {
        assert_eq!(
            unescape(&escape(path)).as_deref(),
            Some(path),
            "{path:?} does not round-trip"
        );
    }
    goproxy::route::route(&format!("/{path}"));
    let body = u.bytes(u.len()).unwrap_or_default();
    let mut host = FakeHost::new(blocked.clone());
    host.answer(
        &format!("/{}/@v/list", escape(MODULE)),
        "text/plain",
        body.to_vec(),
    );
    for path in [format!("/{path}"), format!("/{}/@v/list", escape(MODULE))] {
        let Outcome::Respond(response) = goproxy::handle(&host, "", &fake::get(&path, &[])) else {
            continue;
        };
        if response.status != 200 || !path.ends_with("/@v/list") {
            continue;
        }
        let upstream = String::from_utf8_lossy(body);
        let mut upstream = upstream.lines().map(str::trim);
        for version in String::from_utf8_lossy(&response.body).lines() {
            assert!(!blocked.contains(version), "blocked {version} listed");
            assert!(
                upstream.any(|v| v == version),
                "{version:?} is not upstream's, or out of order"
            );
        }
    }
}

/// Raw bytes as a module zip and as a `go.mod`.
pub fn zip(data: &[u8]) {
    let _ = goproxy::dirhash::hash_zip(data);
    let hash = goproxy::dirhash::hash_go_mod(data);
    assert!(hash.starts_with("h1:"), "{hash}");
}
