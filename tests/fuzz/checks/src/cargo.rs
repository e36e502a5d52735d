//! The cargo adapter: sparse index files.
//!
//! Invariant: the served file is upstream's lines in order, each byte for
//! byte, except that a blocked version's line says `"yanked": true` with
//! every other member kept, in order and byte for byte.

use std::collections::HashSet;

use arbitrary::Unstructured;
use gatehouse_adapter_sdk::Outcome;
use indexmap::IndexMap;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::fake::{self, FakeHost};
use crate::some_of;

const VERSIONS: &[&str] = &["1.0.0", "1.1.0", "2.0.0-rc.1", "0.1.0", "1.0.0+b"];

type Members = IndexMap<String, Box<RawValue>>;

/// The members of a line, as text (a repeated key keeps its first place and
/// last value, as `serde_json` and the adapter read it).
fn members(line: &str) -> Option<Vec<(String, String)>> {
    let members: Members = serde_json::from_str(line).ok()?;
    Some(
        members
            .into_iter()
            .map(|(k, v)| (k, v.get().to_owned()))
            .collect(),
    )
}

/// `served` is `upstream` with `"yanked": true` and nothing else changed.
fn yanked_from(upstream: &str, served: &str) -> bool {
    let (Some(mut expected), Some(served)) = (members(upstream), members(served)) else {
        return false;
    };
    match expected.iter_mut().find(|(k, _)| k == "yanked") {
        Some((_, value)) => *value = "true".into(),
        None => expected.push(("yanked".into(), "true".into())),
    }
    expected == served
}

/// Raw bytes as upstream's index file of `demo`.
pub fn index(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let blocked: HashSet<String> = some_of(&mut u, VERSIONS);
    let body = u.bytes(u.len()).unwrap_or_default();
    let mut host = FakeHost::new(blocked.clone());
    host.answer("/de/mo/demo", "text/plain", body.to_vec());
    let Outcome::Respond(response) =
        cargo_registry::handle(&host, &fake::get("/index/de/mo/demo", &[]))
    else {
        panic!("an index file is never an artifact");
    };
    if response.status != 200 {
        return;
    }
    let upstream = std::str::from_utf8(body).expect("a served file was UTF-8");
    // A `\r` ending upstream's last line is JSON white space, and becomes a
    // CRLF line ending once the adapter ends every line with `\n`: lines are
    // compared without it.
    let without_cr = |line: &'_ str| line.strip_suffix('\r').unwrap_or(line).to_owned();
    let mut upstream_lines = upstream.lines().map(without_cr);
    let served = std::str::from_utf8(&response.body).expect("a served file is UTF-8");
    for line in served.lines().map(without_cr) {
        let line = line.as_str();
        let entry: Value = serde_json::from_str(line).expect("a served line is JSON");
        let version = entry["vers"].as_str().expect("a served line has a version");
        let was_yanked = |l: &str| {
            members(l).is_some_and(|m| m.iter().any(|(k, v)| k == "yanked" && v.trim() == "true"))
        };
        let found = upstream_lines.any(|original| {
            let original = original.as_str();
            original == line
                || (blocked.contains(version)
                    && !was_yanked(original)
                    && yanked_from(original, line))
        });
        assert!(
            found,
            "served line {line:?} is not upstream's, nor upstream's yanked"
        );
        if blocked.contains(version) {
            assert_eq!(
                entry["yanked"],
                Value::Bool(true),
                "blocked {version} not yanked: {line}"
            );
        }
    }
}
