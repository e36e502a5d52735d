//! The Maven adapter: artifact-level `maven-metadata.xml`, and request paths.
//!
//! Invariant: the metadata gatehouse writes reads back as upstream's, with
//! exactly the allowed versions, in order.

use arbitrary::Unstructured;
use maven::metadata::{Metadata, parse, render};

/// Raw bytes as upstream's metadata; a request path of the same bytes.
pub fn metadata(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let keep: Vec<bool> = (0..8).map(|_| u.arbitrary().unwrap_or(true)).collect();
    let text = String::from_utf8_lossy(u.bytes(u.len()).unwrap_or_default());
    maven::route::route(&format!("/{text}"));
    let Ok(upstream) = parse(&text) else {
        return;
    };
    let allowed: Vec<&str> = upstream
        .versions
        .iter()
        .enumerate()
        .filter(|(i, _)| keep[i % keep.len()])
        .map(|(_, v)| v.as_str())
        .collect();
    let written = render(&upstream, &allowed);
    let read = parse(&written)
        .unwrap_or_else(|e| panic!("written metadata does not read ({e}):\n{written}"));
    let expected = Metadata {
        versions: allowed.iter().map(|v| (*v).to_owned()).collect(),
        ..upstream
    };
    assert_eq!(
        read, expected,
        "written metadata reads differently:\n{written}"
    );
}
