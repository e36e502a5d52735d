//! The flow against a fake host: an upstream of fixed answers and a gate that
//! blocks the versions it is told to.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Cursor, Write};

use gatehouse_adapter_sdk::FetchError;
use gatehouse_adapter_sdk::osv::PackageAdvisory;

use super::*;
use crate::dirhash::hash_zip;

const BASE: &str = "http://proxy.test";
const SUMDB: &str = "http://sum.test";
const MODULE: &str = "example.test/Demo";
const ESCAPED: &str = "example.test/!demo";

/// One gate call: its purpose and the (ecosystem, name, version) of each input.
type GateCall = (Purpose, Vec<(String, String, String)>);

struct FakeHost {
    answers: HashMap<String, (u16, Vec<u8>)>,
    blocked: Vec<&'static str>,
    gated: RefCell<Vec<GateCall>>,
    /// The gate leaves the last version out.
    miscounts: bool,
}

impl FakeHost {
    /// Versions v1.0.0, v1.1.0 and v1.2.0 (latest) of `example.test/Demo`,
    /// each with its `.info`, `go.mod` and zip recorded in the checksum database.
    fn new(blocked: Vec<&'static str>) -> Self {
        let mut host = FakeHost {
            answers: HashMap::new(),
            blocked,
            gated: RefCell::new(Vec::new()),
            miscounts: false,
        };
        host.answer("/@v/list", b"v1.0.0\nv1.2.0\nv1.1.0\n".to_vec());
        host.answer("/@latest", info("v1.2.0").into_bytes());
        for version in ["v1.0.0", "v1.1.0", "v1.2.0"] {
            host.answer(&format!("/@v/{version}.info"), info(version).into_bytes());
            host.answer(&format!("/@v/{version}.mod"), go_mod().to_vec());
            let zip = module_zip(version);
            let lookup = format!(
                "7\n{MODULE} {version} {}\n{MODULE} {version}/go.mod {}\n\n- sig\n",
                hash_zip(&zip).expect("hash"),
                hash_go_mod(go_mod())
            );
            host.answer(&format!("/@v/{version}.zip"), zip);
            host.answers.insert(
                format!("{SUMDB}/lookup/{ESCAPED}@{version}"),
                (200, lookup.into_bytes()),
            );
        }
        host
    }

    fn answer(&mut self, file: &str, body: Vec<u8>) {
        self.answers
            .insert(format!("{BASE}/{ESCAPED}{file}"), (200, body));
    }

    fn gated(&self) -> Vec<GateCall> {
        self.gated.borrow().clone()
    }
}

impl Host for FakeHost {
    fn upstream_base(&self) -> String {
        BASE.into()
    }

    fn fetch(&self, url: &str, _accept: Option<&str>) -> Result<Fetched, FetchError> {
        let (status, body) = self.answers.get(url).cloned().unwrap_or((404, Vec::new()));
        Ok(Fetched {
            status,
            headers: Vec::new(),
            body,
            url: url.into(),
            stale: false,
        })
    }

    fn evaluate(&self, purpose: Purpose, facts: &[VersionFacts]) -> Vec<Decision> {
        let seen = facts
            .iter()
            .map(|f| (f.ecosystem.clone(), f.name.clone(), f.version.clone()))
            .collect();
        self.gated.borrow_mut().push((purpose, seen));
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

    fn advisories(&self, _ecosystem: &str, _name: &str) -> Vec<PackageAdvisory> {
        unreachable!("the Go adapter answers no audits")
    }
}

fn info(version: &str) -> String {
    format!(r#"{{"Version":"{version}","Time":"2024-01-02T03:04:05Z"}}"#)
}

fn go_mod() -> &'static [u8] {
    b"module example.test/Demo\n\ngo 1.19\n"
}

fn module_zip(version: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let prefix = format!("{MODULE}@{version}");
    for (name, bytes) in [
        ("go.mod", go_mod().to_vec()),
        (
            "demo.go",
            format!("package demo\n\nconst V = {version:?}\n").into_bytes(),
        ),
    ] {
        let options = zip::write::SimpleFileOptions::default();
        writer
            .start_file(format!("{prefix}/{name}"), options)
            .expect("entry");
        writer.write_all(&bytes).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

fn get(host: &FakeHost, settings: &str, path: &str) -> Response {
    let request = Request {
        method: "GET".into(),
        path: path.into(),
        query: None,
        headers: Vec::new(),
        body: Vec::new(),
        public_base: "http://gatehouse.test/go".into(),
    };
    match handle(host, settings, &request) {
        Outcome::Respond(response) => response,
        Outcome::Artifact(plan) => panic!("unexpected artifact plan for {}", plan.url),
    }
}

fn checked() -> String {
    format!(r#"{{"sumdb": "{SUMDB}"}}"#)
}

fn text(response: &Response) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

fn go_facts(versions: &[&str]) -> Vec<(String, String, String)> {
    versions
        .iter()
        .map(|v| ("Go".to_owned(), MODULE.to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_list_leaves_out_blocked_versions_in_one_gate_batch() {
    let host = FakeHost::new(vec!["v1.2.0"]);
    let response = get(&host, "", &format!("/{ESCAPED}/@v/list"));
    assert_eq!(response.status, 200);
    assert_eq!(text(&response), "v1.0.0\nv1.1.0\n");
    assert_eq!(
        host.gated(),
        vec![(Purpose::Metadata, go_facts(&["v1.0.0", "v1.2.0", "v1.1.0"]))]
    );
}

#[test]
fn latest_falls_back_to_the_highest_allowed_version() {
    let host = FakeHost::new(vec!["v1.2.0"]);
    let response = get(&host, "", &format!("/{ESCAPED}/@latest"));
    assert_eq!((response.status, text(&response)), (200, info("v1.1.0")));

    let host = FakeHost::new(vec![]);
    let response = get(&host, "", &format!("/{ESCAPED}/@latest"));
    assert_eq!((response.status, text(&response)), (200, info("v1.2.0")));

    let host = FakeHost::new(vec!["v1.0.0", "v1.1.0", "v1.2.0"]);
    let response = get(&host, "", &format!("/{ESCAPED}/@latest"));
    assert_eq!(response.status, 403);
    assert!(text(&response).contains("deny-list: example.test/Demo@v1.2.0 is on the deny list"));
}

#[test]
fn highest_prefers_releases_and_semantic_versions() {
    assert_eq!(highest(&["v1.0.0", "v1.10.0", "v1.9.0"]), Some("v1.10.0"));
    assert_eq!(highest(&["v2.0.0-rc.1", "v1.0.0"]), Some("v1.0.0"));
    assert_eq!(
        highest(&["v2.0.0-rc.1", "v2.0.0-beta"]),
        Some("v2.0.0-rc.1")
    );
    assert_eq!(highest(&["master", "v0.1.0"]), Some("v0.1.0"));
    assert_eq!(highest(&[]), None);
}

#[test]
fn a_blocked_info_or_mod_is_403_with_rule_and_reason() {
    let host = FakeHost::new(vec!["v1.2.0"]);
    for file in ["v1.2.0.info", "v1.2.0.mod"] {
        let response = get(&host, &checked(), &format!("/{ESCAPED}/@v/{file}"));
        assert_eq!(response.status, 403, "{file}");
        assert_eq!(
            text(&response),
            "example.test/Demo@v1.2.0 is blocked by gatehouse: deny-list: example.test/Demo@v1.2.0 is on the deny list\n"
        );
    }
    let response = get(&host, &checked(), &format!("/{ESCAPED}/@v/v1.1.0.info"));
    assert_eq!((response.status, text(&response)), (200, info("v1.1.0")));
}

#[test]
fn facts_carry_the_time_from_info() {
    let host = FakeHost::new(vec![]);
    get(&host, &checked(), &format!("/{ESCAPED}/@v/v1.1.0.info"));
    assert_eq!(
        host.gated(),
        vec![(Purpose::Metadata, go_facts(&["v1.1.0"]))]
    );
    let info: Info = serde_json::from_str(&info("v1.1.0")).expect("info");
    assert_eq!(
        version_facts(MODULE, &info, b"{}").published,
        Some(1_704_164_645)
    );
}

#[test]
fn a_verified_zip_is_served_byte_for_byte_after_the_artifact_gate() {
    let host = FakeHost::new(vec![]);
    let response = get(&host, &checked(), &format!("/{ESCAPED}/@v/v1.1.0.zip"));
    assert_eq!(response.status, 200, "{}", text(&response));
    assert_eq!(response.body, module_zip("v1.1.0"));
    assert_eq!(
        host.gated(),
        vec![(Purpose::Artifact, go_facts(&["v1.1.0"]))]
    );

    let response = get(&host, &checked(), &format!("/{ESCAPED}/@v/v1.1.0.mod"));
    assert_eq!((response.status, response.body.as_slice()), (200, go_mod()));
}

#[test]
fn a_blocked_zip_is_never_fetched() {
    let mut host = FakeHost::new(vec!["v1.2.0"]);
    host.answers
        .remove(&format!("{BASE}/{ESCAPED}/@v/v1.2.0.zip"));
    let response = get(&host, &checked(), &format!("/{ESCAPED}/@v/v1.2.0.zip"));
    assert_eq!(response.status, 403);
}

#[test]
fn contents_that_differ_from_the_checksum_database_are_refused() {
    let mut host = FakeHost::new(vec![]);
    // v1.0.0's zip under v1.1.0's name: a valid module zip, the wrong contents.
    host.answer("/@v/v1.1.0.zip", module_zip("v1.0.0"));
    host.answer("/@v/v1.1.0.mod", b"module example.test/evil\n".to_vec());
    for file in ["v1.1.0.zip", "v1.1.0.mod"] {
        let response = get(&host, &checked(), &format!("/{ESCAPED}/@v/{file}"));
        assert_eq!(response.status, 502, "{file}");
        assert!(
            text(&response).contains("does not match the checksum database"),
            "{}",
            text(&response)
        );
    }
}

#[test]
fn without_a_checksum_database_zips_need_verify_false() {
    let host = FakeHost::new(vec![]);
    let path = format!("/{ESCAPED}/@v/v1.1.0.zip");
    let refused = get(&host, "", &path);
    assert_eq!(refused.status, 502);
    assert!(text(&refused).contains("no checksum database is configured"));
    let served = get(&host, r#"{"verify": false}"#, &path);
    assert_eq!((served.status, served.body), (200, module_zip("v1.1.0")));
}

#[test]
fn unknown_to_the_checksum_database_is_refused() {
    let mut host = FakeHost::new(vec![]);
    host.answers
        .remove(&format!("{SUMDB}/lookup/{ESCAPED}@v1.1.0"));
    let response = get(&host, &checked(), &format!("/{ESCAPED}/@v/v1.1.0.zip"));
    assert_eq!(response.status, 502);
    assert!(text(&response).contains("refusing to serve it unverified"));
}

#[test]
fn missing_modules_stay_404_and_bad_settings_are_500() {
    let host = FakeHost::new(vec![]);
    assert_eq!(get(&host, "", "/example.test/nothing/@v/list").status, 404);
    assert_eq!(get(&host, "", "/example.test/Bad/@v/list").status, 400);
    assert_eq!(
        get(&host, r#"{"sumbd": "x"}"#, "/example.test/x/@v/list").status,
        500
    );
}

#[test]
fn a_gate_that_miscounts_is_refused() {
    let mut host = FakeHost::new(vec![]);
    host.miscounts = true;
    for path in ["@v/list", "@v/v1.1.0.zip"] {
        let response = get(&host, &checked(), &format!("/{ESCAPED}/{path}"));
        assert_eq!(response.status, 500, "{path}");
        assert!(
            text(&response).starts_with("the gate answered"),
            "{path}: {}",
            text(&response)
        );
    }
}
