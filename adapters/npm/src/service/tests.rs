//! The flow against a fake host: an upstream of fixed answers, a gate that
//! blocks the versions it is told to, and an OSV mirror of fixed advisories.

use std::cell::RefCell;
use std::collections::HashMap;

use gatehouse_adapter_sdk::osv::{Advisory, Interval, PackageAdvisory, Severity};
use gatehouse_adapter_sdk::{Action, Decision, FactFields, FactReads, FetchError, VersionFacts};
use serde_json::{Value, json};

use super::*;

const BASE: &str = "http://127.0.0.1:9/registry";
const PUBLIC: &str = "http://127.0.0.1:8080/npm";
const SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

/// One gate call: its purpose and the versions asked about.
type GateCall = (Purpose, Vec<String>);

struct FakeHost {
    /// Upstream's answers by URL; anything else is a 404.
    answers: HashMap<String, (u16, Vec<u8>)>,
    /// Every fetch fails so.
    failure: Option<FetchError>,
    /// The cache answers with a stale copy.
    stale: bool,
    blocked: Vec<&'static str>,
    /// The gate leaves the last version out.
    miscounts: bool,
    reads: FactReads,
    advisories: Vec<PackageAdvisory>,
    gated: RefCell<Vec<GateCall>>,
    fetched: RefCell<Vec<(String, Option<String>)>>,
}

impl FakeHost {
    /// `demo` (1.0.0, 1.1.0 = latest) and `@scope/demo` (2.0.0) upstream.
    fn new(blocked: Vec<&'static str>) -> Self {
        let mut answers = HashMap::new();
        answers.insert(
            format!("{BASE}/demo"),
            (200, packument("demo", &["1.0.0", "1.1.0"])),
        );
        answers.insert(
            format!("{BASE}/@scope%2fdemo"),
            (200, packument("@scope/demo", &["2.0.0"])),
        );
        FakeHost {
            answers,
            failure: None,
            stale: false,
            blocked,
            miscounts: false,
            reads: FactReads {
                fields: FactFields::all(),
                raw_keys: None,
            },
            advisories: Vec::new(),
            gated: RefCell::new(Vec::new()),
            fetched: RefCell::new(Vec::new()),
        }
    }

    fn gated(&self) -> Vec<GateCall> {
        self.gated.borrow().clone()
    }
}

impl Host for FakeHost {
    fn upstream_base(&self) -> String {
        BASE.into()
    }

    fn fetch(&self, url: &str, accept: Option<&str>) -> Result<Fetched, FetchError> {
        self.fetched
            .borrow_mut()
            .push((url.into(), accept.map(str::to_owned)));
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let (status, body) = self.answers.get(url).cloned().unwrap_or((404, Vec::new()));
        Ok(Fetched {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
            url: url.into(),
            stale: self.stale,
        })
    }

    fn evaluate(&self, purpose: Purpose, facts: &[VersionFacts]) -> Vec<Decision> {
        let versions = facts.iter().map(|f| f.version.clone()).collect();
        self.gated.borrow_mut().push((purpose, versions));
        let answered = facts.len() - usize::from(self.miscounts);
        facts[..answered]
            .iter()
            .map(|f| {
                if self.blocked.contains(&f.version.as_str()) {
                    let reason = format!("{}@{} is on the deny list", f.name, f.version);
                    Decision::by_rule(Action::Block, "deny-list", reason)
                } else {
                    Decision::allow()
                }
            })
            .collect()
    }

    fn gate_reads(&self) -> FactReads {
        self.reads.clone()
    }

    fn advisories(&self, ecosystem: &str, name: &str) -> Vec<PackageAdvisory> {
        assert_eq!(ecosystem, "npm");
        if name == "demo" {
            self.advisories.clone()
        } else {
            Vec::new()
        }
    }
}

/// A full packument of `name` with `versions`, the last one `latest`.
fn packument(name: &str, versions: &[&str]) -> Vec<u8> {
    let bare = name.rsplit('/').next().unwrap();
    let manifests: serde_json::Map<String, Value> = versions
        .iter()
        .map(|version| {
            let manifest = json!({
                "name": name,
                "version": version,
                "scripts": {"postinstall": "node setup.js"},
                "dist": {
                    "shasum": SHA1,
                    "tarball": format!("http://127.0.0.1:9/files/{bare}-{version}.tgz"),
                }
            });
            ((*version).to_owned(), manifest)
        })
        .collect();
    let time: serde_json::Map<String, Value> = versions
        .iter()
        .map(|version| ((*version).to_owned(), json!("2024-01-02T03:04:05.000Z")))
        .collect();
    serde_json::to_vec(&json!({
        "name": name,
        "dist-tags": {"latest": versions.last()},
        "versions": manifests,
        "time": time,
    }))
    .unwrap()
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        query: None,
        headers: headers
            .iter()
            .map(|(name, value)| ((*name).into(), (*value).into()))
            .collect(),
        body: Vec::new(),
        public_base: PUBLIC.into(),
    }
}

fn respond(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Respond(response) => response,
        Outcome::Artifact(plan) => panic!("expected a response, got a plan for {}", plan.url),
    }
}

fn get(host: &FakeHost, settings: &str, path: &str) -> Response {
    respond(handle(host, settings, &request("GET", path, &[])))
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn json_body(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap()
}

/// The `error` of a JSON error response with `status`.
fn error(response: &Response, status: u16) -> String {
    assert_eq!(
        response.status,
        status,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(header(response, "content-type"), Some("application/json"));
    json_body(response)["error"].as_str().unwrap().to_owned()
}

#[test]
fn a_blocked_version_is_deprecated_with_the_reason_in_one_gate_batch() {
    let host = FakeHost::new(vec!["1.1.0"]);
    let response = get(&host, "", "/demo");
    assert_eq!(response.status, 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(header(&response, "vary"), Some("Accept"));
    assert_eq!(header(&response, "warning"), None);
    let doc = json_body(&response);
    assert_eq!(
        doc["versions"]["1.1.0"]["deprecated"],
        "blocked by gatehouse — deny-list: demo@1.1.0 is on the deny list"
    );
    assert!(doc["versions"]["1.0.0"].get("deprecated").is_none());
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0", "kept off the block");
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["tarball"],
        format!("{PUBLIC}/demo/-/demo-1.0.0.tgz")
    );
    assert_eq!(
        host.gated(),
        [(Purpose::Metadata, vec!["1.0.0".into(), "1.1.0".into()])]
    );
    assert_eq!(
        *host.fetched.borrow(),
        [(format!("{BASE}/demo"), Some("application/json".into()))],
        "the full document is asked for"
    );
}

#[test]
fn a_blocked_version_can_be_removed_from_the_abbreviated_form() {
    let host = FakeHost::new(vec!["1.1.0"]);
    let accept = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8";
    let response = respond(handle(
        &host,
        r#"{"blocked_versions": "remove"}"#,
        &request("GET", "/demo", &[("accept", accept)]),
    ));
    assert_eq!(response.status, 200);
    assert_eq!(
        header(&response, "content-type"),
        Some("application/vnd.npm.install-v1+json")
    );
    let doc = json_body(&response);
    let versions: Vec<&String> = doc["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1.0.0"]);
    assert!(
        doc["policyRestrictions"]["message"]
            .as_str()
            .unwrap()
            .contains("demo@1.1.0: deny-list: demo@1.1.0 is on the deny list")
    );
}

#[test]
fn facts_are_filled_as_far_as_the_policies_read() {
    let mut host = FakeHost::new(vec![]);
    host.reads = FactReads {
        fields: FactFields::empty(),
        raw_keys: None,
    };
    let Outcome::Artifact(lean) = handle(&host, "", &request("GET", "/demo/-/demo-1.0.0.tgz", &[]))
    else {
        panic!("expected a plan");
    };
    assert_eq!(lean.facts.raw, "{}");
    host.reads.fields = FactFields::RAW;
    let Outcome::Artifact(full) = handle(&host, "", &request("GET", "/demo/-/demo-1.0.0.tgz", &[]))
    else {
        panic!("expected a plan");
    };
    let raw: Value = serde_json::from_str(&full.facts.raw).unwrap();
    assert_eq!(raw["version"], "1.0.0");
}

#[test]
fn a_stale_packument_says_so() {
    let mut host = FakeHost::new(vec![]);
    host.stale = true;
    let response = get(&host, "", "/demo");
    assert_eq!(response.status, 200);
    assert!(header(&response, "warning").unwrap().contains("stale"));
}

#[test]
fn a_tarball_is_planned_from_the_packument_and_gated_by_the_host() {
    let host = FakeHost::new(vec!["2.0.0"]);
    for path in [
        "/@scope%2fdemo/-/demo-2.0.0.tgz",
        "/@scope/demo/-/demo-2.0.0.tgz",
    ] {
        let Outcome::Artifact(plan) = handle(&host, "", &request("GET", path, &[])) else {
            panic!("expected a plan for {path}");
        };
        assert_eq!(plan.url, "http://127.0.0.1:9/files/demo-2.0.0.tgz");
        let digests: Vec<(&str, &str)> = plan
            .digests
            .iter()
            .map(|d| (d.algorithm.as_str(), d.hex.as_str()))
            .collect();
        assert_eq!(digests, [("sha1", SHA1)]);
        assert_eq!(plan.facts.digests.len(), 1);
        assert_eq!(
            (plan.facts.name.as_str(), plan.facts.version.as_str()),
            ("@scope/demo", "2.0.0")
        );
        assert_eq!(plan.facts.install_scripts.len(), 1);
        assert_eq!(plan.content_type, "application/octet-stream");
        assert!(matches!(plan.error_format, ErrorFormat::Json));
    }
    assert!(host.gated().is_empty(), "the host gates artifacts itself");
}

#[test]
fn unknown_or_unverifiable_tarballs_are_refused() {
    let mut host = FakeHost::new(vec![]);
    let message = error(&get(&host, "", "/demo/-/demo-9.9.9.tgz"), 404);
    assert_eq!(
        message,
        "demo has no version whose tarball is demo-9.9.9.tgz"
    );
    error(&get(&host, "", "/demo/-/other-1.0.0.tgz"), 404);

    let mut bare: Value = serde_json::from_slice(&packument("demo", &["1.0.0"])).unwrap();
    bare["versions"]["1.0.0"]["dist"]
        .as_object_mut()
        .unwrap()
        .remove("shasum");
    host.answers.insert(
        format!("{BASE}/demo"),
        (200, serde_json::to_vec(&bare).unwrap()),
    );
    let message = error(&get(&host, "", "/demo/-/demo-1.0.0.tgz"), 502);
    assert!(message.contains("no integrity or shasum"), "{message}");
}

#[test]
fn upstream_failures_become_json_errors_naming_the_url() {
    let url = format!("{BASE}/demo");
    for (failure, status, problem) in [
        (
            FetchError::Timeout("deadline".into()),
            504,
            "upstream timed out: deadline",
        ),
        (
            FetchError::Unreachable("refused".into()),
            502,
            "upstream unreachable: refused",
        ),
        (
            FetchError::Forbidden("egress rule".into()),
            502,
            "not allowed to fetch it: egress rule",
        ),
        (
            FetchError::TooLarge("over 64 MiB".into()),
            502,
            "upstream answer too large: over 64 MiB",
        ),
    ] {
        let mut host = FakeHost::new(vec![]);
        host.failure = Some(failure);
        for path in ["/demo", "/demo/-/demo-1.0.0.tgz"] {
            let message = error(&get(&host, "", path), status);
            assert_eq!(message, format!("{url}: {problem}"), "{path}");
        }
        assert!(host.gated().is_empty());
    }
}

#[test]
fn upstream_statuses_map_to_404_or_502() {
    let mut host = FakeHost::new(vec![]);
    let message = error(&get(&host, "", "/nothing"), 404);
    assert_eq!(message, "nothing is not in the upstream npm registry");
    host.answers
        .insert(format!("{BASE}/demo"), (410, Vec::new()));
    error(&get(&host, "", "/demo"), 410);
    host.answers
        .insert(format!("{BASE}/demo"), (503, b"busy".to_vec()));
    let message = error(&get(&host, "", "/demo"), 502);
    assert_eq!(message, format!("{BASE}/demo: upstream answered HTTP 503"));
    host.answers
        .insert(format!("{BASE}/demo"), (200, b"[1, 2]".to_vec()));
    let message = error(&get(&host, "", "/demo"), 502);
    assert!(message.contains("not a JSON object"), "{message}");
}

#[test]
fn a_gate_that_miscounts_is_refused() {
    let mut host = FakeHost::new(vec![]);
    host.miscounts = true;
    let message = error(&get(&host, "", "/demo"), 500);
    assert_eq!(message, "the gate answered 1 decisions for 2 versions");
}

#[test]
fn writes_are_refused_and_settings_checked() {
    let host = FakeHost::new(vec![]);
    let response = respond(handle(&host, "", &request("PUT", "/demo", &[])));
    assert!(error(&response, 405).contains("PUT is not supported"));
    assert_eq!(header(&response, "allow"), Some("GET, HEAD"));
    let message = error(&get(&host, r#"{"blocked_versions": "hide"}"#, "/demo"), 500);
    assert!(
        message.contains("invalid npm adapter settings"),
        "{message}"
    );
    assert!(host.fetched.borrow().is_empty());
    assert_eq!(json_body(&get(&host, "", "/-/ping")), json!({}));
    error(&get(&host, "", "/-/whoami"), 404);
    error(&get(&host, "", "/-/npm/v1/security/advisories/bulk"), 405);
}

#[test]
fn npm_audit_is_answered_from_the_mirror() {
    let mut host = FakeHost::new(vec![]);
    host.advisories = vec![PackageAdvisory {
        advisory: Advisory {
            id: "GHSA-test-0001".into(),
            aliases: Vec::new(),
            summary: "Prototype pollution".into(),
            malicious: false,
            score: Some(7.5),
            severity: Severity::High,
            fixed: Vec::new(),
            modified: 0,
        },
        intervals: vec![Interval {
            introduced: Some("0".into()),
            fixed: Some("1.1.0".into()),
            last_affected: None,
        }],
        versions: Vec::new(),
    }];
    let mut post = request("POST", "/-/npm/v1/security/advisories/bulk", &[]);
    post.body = br#"{"demo": ["1.0.0"], "other": ["1.0.0"]}"#.to_vec();
    let settings = r#"{"advisory_url": "https://advisories.example/{id}"}"#;
    let response = respond(handle(&host, settings, &post));
    assert_eq!(response.status, 200);
    let report = json_body(&response);
    assert_eq!(report.as_object().unwrap().len(), 1, "{report}");
    assert_eq!(report["demo"][0]["vulnerable_versions"], "<1.1.0");
    assert_eq!(
        report["demo"][0]["url"],
        "https://advisories.example/GHSA-test-0001"
    );

    post.body = b"[]".to_vec();
    let message = error(&respond(handle(&host, "", &post)), 400);
    assert!(message.contains("package names"), "{message}");
}
