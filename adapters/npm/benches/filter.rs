//! The packument filter path against a bare JSON round trip of the same bytes.
//!
//! A generated packument of 5,000 versions (~20 MB) goes through what a
//! packument request does natively (parse, facts for every version, a few
//! blocks, render) and, for scale, through `serde_json` parse + serialise.
//! Run: `cargo bench -p npm --bench filter`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use npm::packument::{Form, Packument, Rendering};
use npm::route::PackageName;
use npm::settings::BlockedVersions;
use serde_json::{Value, json};

const VERSIONS: usize = 5_000;
const ROUNDS: usize = 7;

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

fn packument() -> Vec<u8> {
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

/// The fastest of `ROUNDS` runs of `run`.
fn fastest(mut run: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .expect("at least one round")
}

/// Time spent in each step of one packument request.
#[derive(Default)]
struct Steps {
    parse: Duration,
    facts: Duration,
    render: Duration,
}

impl Steps {
    fn total(&self) -> Duration {
        self.parse + self.facts + self.render
    }
}

fn filter(body: &[u8], form: Form) -> Steps {
    let name = PackageName::parse("big-package").expect("valid name");
    let mut steps = Steps::default();
    let start = Instant::now();
    let doc = Packument::parse(body).expect("parses");
    steps.parse = start.elapsed();
    let start = Instant::now();
    let facts = black_box(doc.facts(&name));
    steps.facts = start.elapsed();
    let start = Instant::now();
    // All allowed but the newest three, as a release-age policy would decide.
    let blocks: Vec<Option<String>> = (0..facts.len())
        .map(|i| (i + 3 >= facts.len()).then(|| "min-age: published 2 days ago".to_owned()))
        .collect();
    let rendering = Rendering {
        name: &name,
        public_base: "http://127.0.0.1:8080/npm",
        form,
        blocked_versions: BlockedVersions::Deprecate,
    };
    black_box(doc.render(&rendering, &blocks));
    steps.render = start.elapsed();
    steps
}

/// The fastest of `ROUNDS` filter runs.
fn fastest_filter(body: &[u8], form: Form) -> Steps {
    (0..ROUNDS)
        .map(|_| filter(body, form))
        .min_by_key(Steps::total)
        .expect("at least one round")
}

fn main() {
    let body = packument();
    println!(
        "packument: {VERSIONS} versions, {:.1} MB",
        body.len() as f64 / 1e6
    );
    let bare = fastest(|| {
        let value: Value = serde_json::from_slice(black_box(&body)).expect("parses");
        black_box(serde_json::to_vec(&value).expect("serialises"));
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("serde_json parse + serialise: {:8.1} ms", ms(bare));
    for (label, form) in [
        ("full document", Form::Full),
        ("abbreviated", Form::Abbreviated),
    ] {
        let steps = fastest_filter(&body, form);
        println!(
            "filter, {label:<21} {:8.1} ms  ({:.2}x; parse {:.1}, facts {:.1}, render {:.1})",
            ms(steps.total()),
            ms(steps.total()) / ms(bare),
            ms(steps.parse),
            ms(steps.facts),
            ms(steps.render),
        );
    }
}
