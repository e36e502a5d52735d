//! The npm adapter: packuments filtered (generated ones and raw bytes), and
//! whole requests through its flow.
//!
//! Invariants of a filtered packument: it is JSON; a blocked version is never
//! installable (gone with `remove`, deprecated by gatehouse with `deprecate`,
//! and in neither case named by a dist-tag or, with `remove`, by `time`);
//! every allowed version is still there; every tarball URL points at gatehouse.

use std::collections::HashSet;

use arbitrary::Unstructured;
use gatehouse_adapter_sdk::{FactFields, FactReads, Outcome};
use npm::packument::{Form, Packument, Rendering};
use npm::route::PackageName;
use npm::settings::BlockedVersions;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::fake::{self, FakeHost, PUBLIC};
use crate::{some_of, token_text};

const VERSIONS: &[&str] = &[
    "1.0.0",
    "1.1.0",
    "2.0.0-beta.1",
    "2.0.0",
    "0.0.1",
    "1.0.0+build",
    "01.0.0",
    "v1.0.0",
    "x",
    "",
    "1.0.0-0",
    "\u{e9}",
    "%2e%2e",
    "../x",
    "1.0.0 ",
    "latest",
];
const TAGS: &[&str] = &["latest", "next", "beta", "1.0.0", "__proto__"];
const KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "dist",
    "deprecated",
    "scripts",
    "dependencies",
    "bundledDependencies",
    "bundleDependencies",
    "_hasShrinkwrap",
    "engines",
    "bin",
    "os",
];

/// What the fuzzer may vary about one filtering.
struct Case {
    name: PackageName,
    blocked: HashSet<String>,
    mode: BlockedVersions,
    form: Form,
}

impl Case {
    fn arbitrary(u: &mut Unstructured<'_>) -> Case {
        let name = if u.arbitrary().unwrap_or(false) {
            "@scope/demo"
        } else {
            "demo"
        };
        let blocked = some_of(u, VERSIONS);
        Case {
            name: PackageName::parse(name).expect("a valid name"),
            blocked,
            mode: if u.arbitrary().unwrap_or(false) {
                BlockedVersions::Remove
            } else {
                BlockedVersions::Deprecate
            },
            form: if u.arbitrary().unwrap_or(false) {
                Form::Abbreviated
            } else {
                Form::Full
            },
        }
    }
}

/// A JSON string literal.
fn string(text: &str) -> String {
    Value::from(text).to_string()
}

/// A JSON value of any shape, mostly small.
fn value(u: &mut Unstructured<'_>, depth: u8) -> String {
    match u.int_in_range(0..=7).unwrap_or(0) {
        0 => "null".into(),
        1 => u.arbitrary::<bool>().unwrap_or(false).to_string(),
        2 => u.arbitrary::<i32>().unwrap_or(0).to_string(),
        3 if depth > 0 => object(u, depth - 1, KEYS),
        4 if depth > 0 => {
            let items: Vec<String> = (0..u.int_in_range(0..=2).unwrap_or(0))
                .map(|_| value(u, depth - 1))
                .collect();
            format!("[{}]", items.join(","))
        }
        _ => string(u.choose(VERSIONS).unwrap_or(&"")),
    }
}

/// An object of `keys` (repeats allowed, as upstream may send them).
fn object(u: &mut Unstructured<'_>, depth: u8, keys: &[&str]) -> String {
    let members: Vec<String> = (0..u.int_in_range(0..=4).unwrap_or(0))
        .map(|_| {
            let key = u.choose(keys).unwrap_or(&"name");
            format!("{}:{}", string(key), value(u, depth))
        })
        .collect();
    format!("{{{}}}", members.join(","))
}

/// One version's manifest, mostly of the usual shape.
fn manifest(u: &mut Unstructured<'_>, number: &str) -> String {
    if u.ratio(1, 10).unwrap_or(false) {
        return value(u, 2);
    }
    let tarball = if u.ratio(1, 5).unwrap_or(false) {
        string("file:///etc/passwd")
    } else {
        string(&format!(
            "http://127.0.0.1:9/upstream/demo/-/demo-{number}.tgz"
        ))
    };
    let mut members = vec![
        format!("\"version\":{}", string(number)),
        format!(
            "\"dist\":{{\"tarball\":{tarball},\"shasum\":\"da39a3ee5e6b4b0d3255bfef95601890afd80709\"}}"
        ),
    ];
    if u.arbitrary().unwrap_or(false) {
        members.push(format!("\"deprecated\":{}", value(u, 0)));
    }
    if u.arbitrary().unwrap_or(false) {
        members.push("\"scripts\":{\"install\":\"node-gyp rebuild\"}".into());
    }
    let extra = object(u, 1, KEYS);
    if extra.len() > 2 {
        members.push(extra[1..extra.len() - 1].to_owned());
    }
    format!("{{{}}}", members.join(","))
}

/// A packument of the usual shape with unusual contents.
fn generated(u: &mut Unstructured<'_>, name: &PackageName) -> String {
    let numbers: Vec<&str> = (0..u.int_in_range(0..=6).unwrap_or(0))
        .map(|_| *u.choose(VERSIONS).unwrap_or(&"1.0.0"))
        .collect();
    let versions: Vec<String> = numbers
        .iter()
        .map(|n| format!("{}:{}", string(n), manifest(u, n)))
        .collect();
    let tags: Vec<String> = (0..u.int_in_range(0..=3).unwrap_or(0))
        .map(|_| {
            let tag = u.choose(TAGS).unwrap_or(&"latest");
            let target = u.choose(VERSIONS).unwrap_or(&"1.0.0");
            format!("{}:{}", string(tag), string(target))
        })
        .collect();
    let times: Vec<String> = numbers
        .iter()
        .chain(&["created", "modified"])
        .filter(|_| u.arbitrary().unwrap_or(true))
        .map(|n| {
            format!(
                "{}:\"2024-01-0{}T00:00:00.000Z\"",
                string(n),
                n.len() % 9 + 1
            )
        })
        .collect();
    let mut members = vec![
        format!("\"name\":{}", string(name.as_str())),
        format!("\"dist-tags\":{{{}}}", tags.join(",")),
        format!("\"versions\":{{{}}}", versions.join(",")),
        format!("\"time\":{{{}}}", times.join(",")),
    ];
    if u.arbitrary().unwrap_or(false) {
        members.push("\"policyRestrictions\":{\"message\":\"upstream's own\"}".into());
    }
    if u.arbitrary().unwrap_or(false) {
        let at = u.choose_index(members.len()).unwrap_or(0);
        members.insert(at, format!("\"versions\":{}", value(u, 1)));
    }
    format!("{{{}}}", members.join(","))
}

/// Filters `body` as a packument request does and checks what a client gets.
fn filter(body: &[u8], case: &Case) {
    let Ok(doc) = Packument::parse(body) else {
        return;
    };
    let reads = FactReads {
        fields: FactFields::all(),
        raw_keys: None,
    };
    let facts = doc.facts(&case.name, &reads);
    assert_eq!(facts.len(), doc.versions().len(), "one fact per version");
    for (fact, version) in facts.iter().zip(doc.versions()) {
        assert_eq!(fact.version, version.number, "facts in version order");
    }
    let blocks: Vec<Option<String>> = doc
        .versions()
        .iter()
        .map(|v| {
            case.blocked
                .contains(v.number.as_ref())
                .then(|| "fuzz: blocked".to_owned())
        })
        .collect();
    let rendering = Rendering {
        name: &case.name,
        public_base: PUBLIC,
        form: case.form,
        blocked_versions: case.mode,
    };
    let out = doc.render(&rendering, &blocks);
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(&out) {
        panic!(
            "the filtered packument is not JSON ({e}): {}",
            String::from_utf8_lossy(&out)
        );
    }
    // JSON's grammar allows a number past f64 (`6E66060`; node reads it as
    // Infinity), which serde_json's `Value` refuses: the adapter passes such
    // a member on as upstream wrote it, and the rest of the check needs a
    // `Value`, so it stops where upstream's own body has one too.
    let Ok(served) = serde_json::from_slice::<Value>(&out) else {
        assert!(
            serde_json::from_slice::<Value>(body).is_err(),
            "the filtered packument has a number upstream's did not: {}",
            String::from_utf8_lossy(&out)
        );
        return;
    };
    let is_blocked = |v: &str| case.blocked.contains(v);
    let versions = served["versions"].as_object().cloned().unwrap_or_default();
    for (number, manifest) in &versions {
        if is_blocked(number) {
            assert_eq!(case.mode, BlockedVersions::Deprecate, "{number} served");
            let deprecated = manifest["deprecated"].as_str().unwrap_or_default();
            assert!(
                deprecated.starts_with("blocked by gatehouse"),
                "{number} is blocked but deprecated as {deprecated:?}"
            );
        }
        let tarball = manifest["dist"]["tarball"].as_str().unwrap_or_default();
        assert!(
            tarball.starts_with(&format!("{PUBLIC}/")),
            "{number}'s tarball is {tarball:?}"
        );
    }
    for version in doc.versions() {
        if !is_blocked(&version.number) || case.mode == BlockedVersions::Deprecate {
            assert!(
                versions.contains_key(version.number.as_ref()),
                "{} is missing",
                version.number
            );
        }
    }
    if let Some(tags) = served["dist-tags"].as_object() {
        for (tag, target) in tags {
            let target = target.as_str().expect("tags name versions");
            // A tag naming no listed version is upstream's mistake, and
            // installs nothing.
            let listed = doc.versions().iter().any(|v| v.number == target);
            assert!(
                !(listed && is_blocked(target)),
                "dist-tag {tag} names blocked {target}"
            );
        }
    }
    if case.mode == BlockedVersions::Remove
        && let Some(time) = served["time"].as_object()
    {
        for number in time.keys() {
            let listed = doc.versions().iter().any(|v| v.number == *number);
            assert!(
                !(listed && is_blocked(number)),
                "time lists removed {number}"
            );
        }
    }
}

/// A generated packument, filtered.
pub fn packument(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let case = Case::arbitrary(&mut u);
    let body = generated(&mut u, &case.name);
    filter(body.as_bytes(), &case);
}

/// Raw bytes as upstream's packument, filtered.
pub fn packument_raw(data: &[u8]) {
    let (head, body) = data.split_at(data.len().min(4));
    let case = Case::arbitrary(&mut Unstructured::new(head));
    filter(body, &case);
}

const PATH_TOKENS: &str = "/ demo @scope %2f %2F %40scope - demo-1.0.0.tgz demo-2.0.0.tgz .. -/ping \
     -/npm/v1/security/advisories/bulk % %zz %ff \u{e9}";

/// Any request, against an upstream holding `demo` and `@scope/demo`.
pub fn request(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let case = Case::arbitrary(&mut u);
    let mut host = FakeHost::new(case.blocked.clone());
    let body = generated(&mut u, &case.name);
    host.answer(
        &format!("/{}", case.name.upstream_path()),
        "application/json",
        body.into_bytes(),
    );
    let path = if u.arbitrary().unwrap_or(false) {
        format!("/{}", u.arbitrary::<&str>().unwrap_or_default())
    } else {
        token_text(&mut u, PATH_TOKENS, &["", "/"])
    };
    let method = *u
        .choose(&["GET", "HEAD", "POST", "get", "PUT"])
        .unwrap_or(&"GET");
    let accept = *u
        .choose(&[
            "application/vnd.npm.install-v1+json",
            "application/json",
            "*/*",
        ])
        .unwrap_or(&"*/*");
    let settings = *u
        .choose(&["", "{\"blocked_versions\":\"remove\"}", "{", "null"])
        .unwrap_or(&"");
    let request = fake::request(
        method,
        &path,
        &[("accept", accept)],
        u.bytes(u.len()).unwrap_or_default().to_vec(),
    );
    match npm::handle(&host, settings, &request) {
        Outcome::Respond(response) => {
            if response.status == 200 && request.method != "HEAD" {
                serde_json::from_slice::<Value>(&response.body).expect("a 200 is JSON");
            }
        }
        Outcome::Artifact(plan) => {
            assert!(!plan.digests.is_empty(), "an artifact without digests");
            assert!(
                plan.url.starts_with("http://") || plan.url.starts_with("https://"),
                "artifact URL {}",
                plan.url
            );
        }
    }
}
