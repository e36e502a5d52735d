//! A generated packument of 5,000 versions (~20 MB), shared by the npm
//! adapter's native benchmark and the host's in-WASM one.

use serde_json::{Value, json};

pub const VERSIONS: usize = 5_000;

fn manifest(version: &str, index: usize) -> Value {
    let dependencies: serde_json::Map<String, Value> = (0..15)
        .map(|d| {
            (
                format!("dependency-{d}"),
                json!(format!("^{}.{}.0", d % 7, index % 13)),
            )
        })
        .collect();
    json!({
        "name": "big-package",
        "version": version,
        "description": "A package with a long history of releases. ".repeat(4),
        "readme": "# big-package\n\nUsage notes and examples. ".repeat(50),
        "keywords": ["big", "many", "versions", "benchmark"],
        "homepage": "http://127.0.0.1/big-package",
        "repository": {"type": "git", "url": "git+http://127.0.0.1/big-package.git"},
        "bugs": {"url": "http://127.0.0.1/big-package/issues"},
        "author": {"name": "Some Author", "email": "author@example.test"},
        "maintainers": [
            {"name": "one", "email": "one@example.test"},
            {"name": "two", "email": "two@example.test"},
            {"name": "three", "email": "three@example.test"}
        ],
        "license": "MIT",
        "main": "index.js",
        "scripts": {"test": "tap", "build": "tsc", "postinstall": if index.is_multiple_of(10) { "node setup.js" } else { "" }},
        "dependencies": dependencies,
        "devDependencies": {"tap": "^16.0.0", "typescript": "^5.0.0", "eslint": "^8.0.0"},
        "engines": {"node": ">=14"},
        "gitHead": format!("{index:040x}"),
        "_id": format!("big-package@{version}"),
        "_nodeVersion": "20.11.0",
        "_npmVersion": "10.2.4",
        "_npmUser": {"name": "one", "email": "one@example.test"},
        "_hasShrinkwrap": false,
        "directories": {},
        "dist": {
            "integrity": "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
            "shasum": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "tarball": format!("http://127.0.0.1:9/big-package/-/big-package-{version}.tgz"),
            "fileCount": 42,
            "unpackedSize": 123_456,
            "signatures": [{"keyid": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789", "sig": "MEUCIQD".repeat(12)}]
        }
    })
}

pub fn packument() -> Vec<u8> {
    let versions: Vec<String> = (0..VERSIONS)
        .map(|i| format!("{}.{}.{}", i / 500, (i / 25) % 20, i % 25))
        .collect();
    let manifests: serde_json::Map<String, Value> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| (v.clone(), manifest(v, i)))
        .collect();
    let mut time: serde_json::Map<String, Value> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                v.clone(),
                json!(format!(
                    "2020-01-01T00:{:02}:{:02}.000Z",
                    (i / 60) % 60,
                    i % 60
                )),
            )
        })
        .collect();
    time.insert("created".into(), json!("2019-01-01T00:00:00.000Z"));
    time.insert("modified".into(), json!("2024-01-01T00:00:00.000Z"));
    serde_json::to_vec(&json!({
        "_id": "big-package",
        "name": "big-package",
        "dist-tags": {"latest": versions.last(), "next": versions[VERSIONS - 2]},
        "versions": manifests,
        "time": time,
        "readme": "# big-package\n".repeat(1000),
        "maintainers": [{"name": "one", "email": "one@example.test"}],
        "license": "MIT"
    }))
    .expect("serialises")
}
