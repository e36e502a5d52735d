//! Rendering packuments with given decisions.

use serde_json::{Value, json};

use super::*;
use gatehouse_adapter_sdk::Verdict;

const BASE: &str = "http://127.0.0.1:8080/npm";
const SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

fn upstream() -> Value {
    let manifest = |version: &str| {
        json!({
            "name": "@scope/pkg",
            "version": version,
            "description": "a package",
            "readme": "long text",
            "_hasShrinkwrap": false,
            "dependencies": {"dep": "^1.0.0"},
            "devDependencies": {"tap": "*"},
            "directories": {},
            "dist": {
                "shasum": SHA1,
                "integrity": "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
                "tarball": format!("http://127.0.0.1:9/@scope/pkg/-/pkg-{version}.tgz"),
                "signatures": [{"keyid": "k", "sig": "s"}]
            }
        })
    };
    let mut with_scripts = manifest("1.1.0");
    with_scripts["scripts"] = json!({"postinstall": "node setup.js", "test": "tap"});
    with_scripts["bundledDependencies"] = json!(["dep"]);
    json!({
        "_id": "@scope/pkg",
        "name": "@scope/pkg",
        "readme": "top readme",
        "dist-tags": {"latest": "2.0.0", "next": "2.0.0-beta.1"},
        "versions": {
            "1.0.0": manifest("1.0.0"),
            "1.1.0": with_scripts,
            "2.0.0-beta.1": manifest("2.0.0-beta.1"),
            "2.0.0": manifest("2.0.0"),
        },
        "time": {
            "created": "2020-01-01T00:00:00.000Z",
            "modified": "2024-01-01T00:00:00.000Z",
            "1.0.0": "2020-01-01T00:00:00.000Z",
            "1.1.0": "2021-01-01T00:00:00.000Z",
            "2.0.0-beta.1": "2022-01-01T00:00:00.000Z",
            "2.0.0": "2024-01-01T00:00:00.000Z"
        }
    })
}

fn name() -> PackageName {
    PackageName::parse("@scope/pkg").unwrap()
}

fn decision(action: Action) -> Decision {
    let verdicts = match action {
        Action::Allow => vec![],
        _ => vec![Verdict {
            action,
            rule: "min-age".into(),
            reason: "published 2 days ago".into(),
            advisories: vec![],
        }],
    };
    Decision { action, verdicts }
}

/// Renders `doc` with `actions` by version (others allowed), parsed back.
fn render(doc: &Value, form: Form, mode: BlockedVersions, actions: &[(&str, Action)]) -> Value {
    let body = serde_json::to_vec(doc).unwrap();
    let packument = Packument::parse(&body).unwrap();
    let decisions: Vec<Decision> = packument
        .versions()
        .iter()
        .map(|v| {
            let action = actions
                .iter()
                .find(|(number, _)| *number == v.number)
                .map_or(Action::Allow, |(_, action)| *action);
            decision(action)
        })
        .collect();
    let name = name();
    let rendering = Rendering {
        name: &name,
        public_base: BASE,
        form,
        blocked_versions: mode,
    };
    serde_json::from_slice(&packument.render(&rendering, &blocks(&decisions))).unwrap()
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn all_allowed_full_document_changes_only_tarballs() {
    let doc = upstream();
    let got = render(&doc, Form::Full, BlockedVersions::Deprecate, &[]);
    let mut expected = doc.clone();
    for (version, manifest) in expected["versions"].as_object_mut().unwrap() {
        manifest["dist"]["tarball"] = json!(format!("{BASE}/@scope/pkg/-/pkg-{version}.tgz"));
    }
    assert_eq!(got, expected);
}

#[test]
fn deprecate_mode_keeps_the_version_with_the_reason() {
    let got = render(
        &upstream(),
        Form::Full,
        BlockedVersions::Deprecate,
        &[("2.0.0", Action::Block), ("1.0.0", Action::Warn)],
    );
    assert_eq!(
        got["versions"]["2.0.0"]["deprecated"],
        "blocked by gatehouse — min-age: published 2 days ago"
    );
    assert!(
        got["versions"]["1.0.0"].get("deprecated").is_none(),
        "warnings pass unchanged"
    );
    assert_eq!(got["time"]["2.0.0"], "2024-01-01T00:00:00.000Z");
    assert_eq!(
        got["dist-tags"],
        json!({"latest": "1.1.0", "next": "2.0.0-beta.1"})
    );
    assert!(got.get("policyRestrictions").is_none());
}

#[test]
fn remove_mode_drops_the_version_and_restricts_it_for_npm() {
    let got = render(
        &upstream(),
        Form::Full,
        BlockedVersions::Remove,
        &[("2.0.0", Action::Block), ("2.0.0-beta.1", Action::Block)],
    );
    assert_eq!(keys(&got["versions"]), ["1.0.0", "1.1.0"]);
    assert_eq!(
        keys(&got["time"]),
        ["1.0.0", "1.1.0", "created", "modified"]
    );
    assert_eq!(
        got["dist-tags"],
        json!({"latest": "1.1.0"}),
        "next had no prerelease left"
    );
    let restrictions = &got["policyRestrictions"];
    assert_eq!(
        restrictions["versions"]["2.0.0"],
        json!({"name": "@scope/pkg", "version": "2.0.0"})
    );
    let message = restrictions["message"].as_str().unwrap();
    assert!(
        message.starts_with("gatehouse blocked 2 version(s) of @scope/pkg:"),
        "{message}"
    );
    assert!(
        message.contains("@scope/pkg@2.0.0: min-age: published 2 days ago"),
        "{message}"
    );
}

#[test]
fn abbreviated_remove_mode_keeps_restrictions() {
    let got = render(
        &upstream(),
        Form::Abbreviated,
        BlockedVersions::Remove,
        &[("2.0.0", Action::Block)],
    );
    assert_eq!(keys(&got["versions"]), ["1.0.0", "1.1.0", "2.0.0-beta.1"]);
    assert!(got["time"].get("2.0.0").is_none());
    assert!(got["policyRestrictions"]["versions"]["2.0.0"].is_object());
    assert_eq!(got["dist-tags"]["latest"], "1.1.0");
}

#[test]
fn restriction_message_is_bounded() {
    let mut doc = upstream();
    let template = doc["versions"]["1.0.0"].clone();
    let versions = doc["versions"].as_object_mut().unwrap();
    for patch in 0..30 {
        versions.insert(format!("3.0.{patch}"), template.clone());
    }
    let blocked: Vec<String> = (0..30).map(|patch| format!("3.0.{patch}")).collect();
    let actions: Vec<(&str, Action)> = blocked
        .iter()
        .map(|v| (v.as_str(), Action::Block))
        .collect();
    let got = render(&doc, Form::Full, BlockedVersions::Remove, &actions);
    let message = got["policyRestrictions"]["message"].as_str().unwrap();
    assert_eq!(message.lines().count(), 1 + RESTRICTIONS_LISTED + 1);
    assert!(message.ends_with("... and 10 more"));
}

#[test]
fn abbreviated_form_keeps_time_and_drops_what_npm_drops() {
    let got = render(
        &upstream(),
        Form::Abbreviated,
        BlockedVersions::Deprecate,
        &[("2.0.0", Action::Block)],
    );
    assert_eq!(
        keys(&got),
        ["dist-tags", "modified", "name", "time", "versions"]
    );
    assert_eq!(got["modified"], "2024-01-01T00:00:00.000Z");
    assert_eq!(got["time"]["2.0.0"], "2024-01-01T00:00:00.000Z");
    let with_scripts = &got["versions"]["1.1.0"];
    assert_eq!(
        keys(with_scripts),
        [
            "bundleDependencies",
            "dependencies",
            "devDependencies",
            "dist",
            "hasInstallScript",
            "name",
            "version"
        ]
    );
    assert_eq!(with_scripts["hasInstallScript"], true);
    assert_eq!(with_scripts["bundleDependencies"], json!(["dep"]));
    assert_eq!(
        with_scripts["dist"],
        json!({
            "shasum": SHA1,
            "integrity": "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
            "signatures": [{"keyid": "k", "sig": "s"}],
            "tarball": format!("{BASE}/@scope/pkg/-/pkg-1.1.0.tgz")
        })
    );
    assert!(got["versions"]["1.0.0"].get("hasInstallScript").is_none());
    assert_eq!(
        got["versions"]["2.0.0"]["deprecated"],
        "blocked by gatehouse — min-age: published 2 days ago"
    );
}

#[test]
fn facts_follow_versions_with_publish_times() {
    let body = serde_json::to_vec(&upstream()).unwrap();
    let packument = Packument::parse(&body).unwrap();
    let facts = packument.facts(&name(), &reads(FactFields::all(), None));
    // `serde_json::Value` sorted the upstream keys.
    let got: Vec<(&str, Option<i64>)> = facts
        .iter()
        .map(|f| (f.version.as_str(), f.published))
        .collect();
    assert_eq!(
        got,
        [
            ("1.0.0", Some(1_577_836_800)),
            ("1.1.0", Some(1_609_459_200)),
            ("2.0.0", Some(1_704_067_200)),
            ("2.0.0-beta.1", Some(1_640_995_200)),
        ]
    );
    assert_eq!(facts[1].install_scripts, ["postinstall"]);
    assert_eq!(packument.published("2.0.0"), Some(1_704_067_200));
    let version = packument.version("1.1.0").unwrap();
    assert_eq!(
        version.upstream_tarball().as_deref(),
        Some("http://127.0.0.1:9/@scope/pkg/-/pkg-1.1.0.tgz")
    );
    let raw: Value = serde_json::from_str(&facts[1].raw).unwrap();
    assert_eq!(raw, upstream()["versions"]["1.1.0"]);
}

#[test]
fn duplicate_keys_resolve_like_json_parse() {
    let body = br#"{"name": "pkg", "versions": {
        "1.0.0": {"scripts": {}, "dist": {"shasum": "x"}, "scripts": {"install": "evil"}},
        "2.0.0": {"version": "first"},
        "1.0.0": {"version": "1.0.0", "scripts": {"preinstall": "a"}, "scripts": {"install": "b"}}
    }}"#;
    let packument = Packument::parse(body).unwrap();
    let numbers: Vec<&str> = packument
        .versions()
        .iter()
        .map(|v| v.number.as_ref())
        .collect();
    assert_eq!(numbers, ["1.0.0", "2.0.0"]);
    let facts = packument.facts(
        &PackageName::parse("pkg").unwrap(),
        &reads(FactFields::all(), None),
    );
    assert_eq!(facts[0].install_scripts, ["install"]);
}

#[test]
fn unusual_documents() {
    assert!(Packument::parse(b"[]").is_err());
    assert!(Packument::parse(b"not json").is_err());
    // An unpublished package: no versions, a `time.unpublished` record.
    let body =
        br#"{"name": "gone", "time": {"unpublished": {"time": "2024-01-01T00:00:00.000Z"}}}"#;
    let packument = Packument::parse(body).unwrap();
    assert!(packument.versions().is_empty());
    let name = PackageName::parse("gone").unwrap();
    let rendering = Rendering {
        name: &name,
        public_base: BASE,
        form: Form::Full,
        blocked_versions: BlockedVersions::Remove,
    };
    let got: Value = serde_json::from_slice(&packument.render(&rendering, &[])).unwrap();
    assert_eq!(got, serde_json::from_slice::<Value>(body).unwrap());
}

#[test]
fn odd_version_strings_are_escaped_in_tarball_urls() {
    let body = br#"{"name": "pkg", "versions": {"1.0.0+build/x": {"dist": {}}}}"#;
    let packument = Packument::parse(body).unwrap();
    let name = PackageName::parse("pkg").unwrap();
    let rendering = Rendering {
        name: &name,
        public_base: BASE,
        form: Form::Full,
        blocked_versions: BlockedVersions::Deprecate,
    };
    let got: Value = serde_json::from_slice(&packument.render(&rendering, &[None])).unwrap();
    assert_eq!(
        got["versions"]["1.0.0+build/x"]["dist"]["tarball"],
        format!("{BASE}/pkg/-/pkg-1.0.0+build%2Fx.tgz")
    );
}

#[test]
fn accept_negotiation() {
    assert_eq!(Form::from_accept(None), Form::Full);
    assert_eq!(Form::from_accept(Some("application/json")), Form::Full);
    assert_eq!(
        Form::from_accept(Some(
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
        )),
        Form::Abbreviated
    );
    assert_eq!(
        Form::from_accept(Some("application/vnd.npm.install-v1+json")),
        Form::Abbreviated
    );
    assert_eq!(
        Form::from_accept(Some(
            "application/vnd.npm.install-v1+json;q=0, application/json"
        )),
        Form::Full
    );
}

#[test]
fn only_blocks_block() {
    let decisions = [
        decision(Action::Allow),
        decision(Action::Warn),
        decision(Action::Block),
    ];
    assert_eq!(
        blocks(&decisions),
        [None, None, Some("min-age: published 2 days ago".to_owned())]
    );
}

/// Costly fields no policy reads are left empty; the rest stay.
#[test]
fn unread_costly_fields_are_left_empty() {
    let body = serde_json::to_vec(&upstream()).unwrap();
    let packument = Packument::parse(&body).unwrap();
    let all = packument.facts(&name(), &reads(FactFields::all(), None));
    let lean = packument.facts(&name(), &reads(FactFields::empty(), None));
    assert_ne!(all[0].raw, "{}");
    assert!(all.iter().any(|f| !f.dependencies.is_empty()));
    for (lean, all) in lean.iter().zip(&all) {
        assert_eq!(lean.raw, "{}");
        assert!(lean.dependencies.is_empty());
        assert_eq!(
            (&lean.version, lean.published, &lean.license),
            (&all.version, all.published, &all.license)
        );
        assert_eq!(lean.digests.len(), all.digests.len());
    }
}

fn reads(fields: FactFields, raw_keys: Option<&[&str]>) -> FactReads {
    FactReads {
        fields,
        raw_keys: raw_keys.map(|keys| keys.iter().map(|k| k.to_string()).collect()),
    }
}

/// With only some keys of `raw` read, `raw` holds just those, as upstream wrote them.
#[test]
fn raw_holds_only_the_keys_policies_read() {
    let body = serde_json::to_vec(&upstream()).unwrap();
    let packument = Packument::parse(&body).unwrap();
    let whole = packument.facts(&name(), &reads(FactFields::RAW, None));
    let keyed = packument.facts(&name(), &reads(FactFields::RAW, Some(&["name", "absent"])));
    for (whole, keyed) in whole.iter().zip(&keyed) {
        let whole: Value = serde_json::from_str(&whole.raw).unwrap();
        let keyed: Value = serde_json::from_str(&keyed.raw).unwrap();
        assert_eq!(keyed, json!({"name": whole["name"]}));
    }
}

/// A repeated version whose last value is not an object is gone, as in
/// `JSON.parse`, even though an earlier value was an object.
#[test]
fn a_repeated_version_takes_its_last_value() {
    let body = br#"{"name": "pkg", "versions": {"1.0.0": {"version": "1.0.0"}, "1.0.0": null, "2.0.0": {"version": "1.9.9"}, "2.0.0": {"version": "2.0.0"}}}"#;
    let packument = Packument::parse(body).unwrap();
    let numbers: Vec<&str> = packument
        .versions()
        .iter()
        .map(|v| v.number.as_ref())
        .collect();
    assert_eq!(numbers, ["2.0.0"]);
    let facts = packument.facts(&name(), &reads(FactFields::RAW, None));
    assert_eq!(facts[0].raw, r#"{"version": "2.0.0"}"#);
}
