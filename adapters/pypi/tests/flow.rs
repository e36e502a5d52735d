//! The adapter's whole request flow, natively, against a fake host.

use std::cell::RefCell;
use std::collections::HashMap;

use gatehouse_adapter_sdk::osv::PackageAdvisory;
use gatehouse_adapter_sdk::{
    Action, ArtifactPlan, Decision, FetchError, Fetched, Host, Outcome, Purpose, Request, Response,
    VersionFacts,
};
use pypi::handle;

const BASE: &str = "http://127.0.0.1:3141/simple";
const PUBLIC: &str = "http://127.0.0.1:8080/pypi";
const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
const SHA_1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const SHA_2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const SHA_M: &str = "3333333333333333333333333333333333333333333333333333333333333333";

/// A host with canned upstream answers and a gate that acts on listed
/// versions (and leaves the last version out when `miscounts`).
#[derive(Default)]
struct FakeHost {
    pages: HashMap<String, Fetched>,
    unreachable: bool,
    verdicts: HashMap<String, Action>,
    miscounts: bool,
    fetches: RefCell<Vec<String>>,
    gate_calls: RefCell<Vec<Vec<VersionFacts>>>,
}

impl FakeHost {
    fn serve(mut self, path: &str, content_type: &str, body: &str) -> Self {
        let url = format!("{BASE}{path}");
        let fetched = Fetched {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
            url: url.clone(),
            stale: false,
        };
        self.pages.insert(url, fetched);
        self
    }

    fn judge(mut self, version: &str, action: Action) -> Self {
        self.verdicts.insert(version.into(), action);
        self
    }
}

impl Host for FakeHost {
    fn upstream_base(&self) -> String {
        BASE.into()
    }

    fn fetch(&self, url: &str, _accept: Option<&str>) -> Result<Fetched, FetchError> {
        self.fetches.borrow_mut().push(url.into());
        if self.unreachable {
            return Err(FetchError::Unreachable("connection refused".into()));
        }
        Ok(self.pages.get(url).cloned().unwrap_or(Fetched {
            status: 404,
            headers: vec![],
            body: b"not found".to_vec(),
            url: url.into(),
            stale: false,
        }))
    }

    fn evaluate(&self, _purpose: Purpose, facts: &[VersionFacts]) -> Vec<Decision> {
        self.gate_calls.borrow_mut().push(facts.to_vec());
        let answered = facts.len() - usize::from(self.miscounts);
        facts[..answered]
            .iter()
            .map(|f| match self.verdicts.get(&f.version) {
                Some(&action) => {
                    let reason = format!("{}=={} is listed", f.name, f.version);
                    Decision::by_rule(action, "deny-list", reason)
                }
                None => Decision::allow(),
            })
            .collect()
    }

    fn advisories(&self, _ecosystem: &str, _name: &str) -> Vec<PackageAdvisory> {
        unreachable!("the pypi adapter answers no audits")
    }
}

fn request(path: &str, accept: Option<&str>) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        query: None,
        headers: accept
            .map(|a| vec![("accept".into(), a.into())])
            .unwrap_or_default(),
        body: vec![],
        public_base: PUBLIC.into(),
    }
}

fn respond(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Respond(response) => response,
        Outcome::Artifact(plan) => panic!("expected a response, got a plan for {}", plan.url),
    }
}

fn plan(outcome: Outcome) -> ArtifactPlan {
    match outcome {
        Outcome::Artifact(plan) => plan,
        Outcome::Respond(r) => panic!("expected a plan, got {} {}", r.status, body(&r)),
    }
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn body(response: &Response) -> String {
    String::from_utf8(response.body.clone()).unwrap()
}

fn get(host: &FakeHost, settings: &str, path: &str, accept: Option<&str>) -> Response {
    respond(handle(host, settings, &request(path, accept)))
}

fn json_page(host: &FakeHost, settings: &str) -> serde_json::Value {
    let response = get(host, settings, "/simple/demo-pkg/", Some(PIP_ACCEPT));
    assert_eq!(response.status, 200, "{}", body(&response));
    assert_eq!(
        header(&response, "content-type"),
        Some("application/vnd.pypi.simple.v1+json")
    );
    serde_json::from_slice(&response.body).unwrap()
}

fn html_page(host: &FakeHost, settings: &str) -> String {
    let response = get(host, settings, "/simple/demo-pkg/", None);
    assert_eq!(response.status, 200, "{}", body(&response));
    assert_eq!(
        header(&response, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&response, "vary"), Some("Accept"));
    body(&response)
}

/// An upstream JSON page: 1.0 (wheel + sdist, metadata), 2.0 (wheel, yanked),
/// 3.0 (wheel without any hash), an unrelated file, and a file-less 0.5.
fn json_upstream() -> FakeHost {
    let page = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": "demo-pkg",
        "files": [
            {"filename": "demo_pkg-1.0-py3-none-any.whl",
             "url": "http://127.0.0.1:3142/f/demo_pkg-1.0-py3-none-any.whl",
             "hashes": {"sha256": SHA_1}, "core-metadata": {"sha256": SHA_M},
             "size": 300, "upload-time": "2024-01-02T00:00:00Z"},
            {"filename": "demo-pkg-1.0.tar.gz", "url": "../../f/demo-pkg-1.0.tar.gz",
             "hashes": {"sha256": SHA_2}, "size": 200, "upload-time": "2024-01-01T00:00:00.5Z"},
            {"filename": "demo_pkg-2.0-py3-none-any.whl", "url": "/f/demo_pkg-2.0-py3-none-any.whl",
             "hashes": {"sha256": SHA_1}, "yanked": "oops", "size": 10,
             "upload-time": "2024-02-01T00:00:00Z"},
            {"filename": "demo_pkg-3.0-py3-none-any.whl", "url": "/f/demo_pkg-3.0-py3-none-any.whl",
             "hashes": {"md5": "d41d8cd98f00b204e9800998ecf8427e"}, "core-metadata": true, "size": 10},
            {"filename": "other-1.0.tar.gz", "url": "/f/other-1.0.tar.gz",
             "hashes": {"sha256": SHA_1}, "size": 10}
        ],
        "versions": ["0.5", "1.0", "2.0", "3.0"]
    });
    FakeHost::default().serve(
        "/demo-pkg/",
        "application/vnd.pypi.simple.v1+json",
        &page.to_string(),
    )
}

fn html_upstream() -> FakeHost {
    let page = format!(
        r#"<!DOCTYPE html><html><body>
        <a href="http://127.0.0.1:3142/f/demo_pkg-1.0-py3-none-any.whl#sha256={SHA_1}" data-core-metadata="sha256={SHA_M}">demo_pkg-1.0-py3-none-any.whl</a>
        <a href="../../f/demo-pkg-1.0.tar.gz#sha256={SHA_2}">demo-pkg-1.0.tar.gz</a>
        <a href="/f/demo_pkg-2.0-py3-none-any.whl#sha256={SHA_1}" data-yanked="oops">demo_pkg-2.0-py3-none-any.whl</a>
        <a href="/f/demo_pkg-3.0-py3-none-any.whl#md5=d41d8cd98f00b204e9800998ecf8427e" data-core-metadata="true">demo_pkg-3.0-py3-none-any.whl</a>
        <a href="/f/other-1.0.tar.gz#sha256={SHA_1}">other-1.0.tar.gz</a>
        </body></html>"#
    );
    FakeHost::default().serve("/demo-pkg/", "text/html", &page)
}

fn json_filenames(page: &serde_json::Value) -> Vec<String> {
    page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_owned())
        .collect()
}

fn html_filenames(page: &str) -> Vec<String> {
    page.lines()
        .filter_map(|line| line.split_once("\">").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once("</a>").map(|(name, _)| name.to_owned()))
        .collect()
}

const SURVIVORS: [&str; 4] = [
    "demo_pkg-1.0-py3-none-any.whl",
    "demo-pkg-1.0.tar.gz",
    "demo_pkg-2.0-py3-none-any.whl",
    "demo_pkg-3.0-py3-none-any.whl",
];

#[test]
fn both_forms_list_the_same_files_whatever_upstream_speaks() {
    for host in [json_upstream(), html_upstream()] {
        let json = json_page(&host, "{}");
        let html = html_page(&host, "{}");
        assert_eq!(json_filenames(&json), SURVIVORS);
        assert_eq!(html_filenames(&html), SURVIVORS);
    }
}

#[test]
fn file_urls_come_back_through_the_proxy() {
    let host = json_upstream();
    let json = json_page(&host, "{}");
    let files = json["files"].as_array().unwrap();
    assert_eq!(
        files[0]["url"],
        format!("{PUBLIC}/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl")
    );
    assert_eq!(files[0]["hashes"]["sha256"], SHA_1);
    assert_eq!(files[0]["core-metadata"]["sha256"], SHA_M);
    assert_eq!(files[0]["upload-time"], "2024-01-02T00:00:00Z");
    assert_eq!(files[0]["size"], 300);
    // `true` without a hash cannot be verified, so it is not offered.
    assert!(files[3].get("core-metadata").is_none());
    assert_eq!(json["meta"]["api-version"], "1.1");
    assert_eq!(
        json["versions"],
        serde_json::json!(["1.0", "2.0", "3.0", "0.5"])
    );

    let html = html_page(&host, "{}");
    assert!(html.contains(&format!(
        "<a href=\"{PUBLIC}/files/demo-pkg/demo-pkg-1.0.tar.gz#sha256={SHA_2}\">"
    )));
    assert!(html.contains(&format!("data-core-metadata=\"sha256={SHA_M}\"")));
    assert!(!html.contains("127.0.0.1:3142"));
}

#[test]
fn the_gate_sees_each_version_once_per_page() {
    let host = json_upstream();
    json_page(&host, "{}");
    let calls = host.gate_calls.borrow();
    assert_eq!(calls.len(), 1);
    let versions: Vec<&str> = calls[0].iter().map(|f| f.version.as_str()).collect();
    assert_eq!(versions, ["1.0", "2.0", "3.0", "0.5"]);
    let one = &calls[0][0];
    assert_eq!(
        (one.ecosystem.as_str(), one.name.as_str()),
        ("PyPI", "demo-pkg")
    );
    // Earliest upload and smallest file of the release.
    assert_eq!(one.published, Some(1_704_067_200));
    assert_eq!(one.size, Some(200));
    assert_eq!(one.yanked, None);
    assert!(one.digests.is_empty());
    let raw: serde_json::Value = serde_json::from_str(&one.raw).unwrap();
    assert_eq!(raw["version"], "1.0");
    assert_eq!(raw["files"].as_array().unwrap().len(), 2);
    assert_eq!(calls[0][1].yanked.as_deref(), Some("oops"));
    assert_eq!(calls[0][3].published, None);
}

#[test]
fn blocked_versions_are_yanked_with_the_reason_by_default() {
    let host = json_upstream()
        .judge("1.0", Action::Block)
        .judge("2.0", Action::Warn);
    let json = json_page(&host, "{}");
    assert_eq!(json_filenames(&json), SURVIVORS);
    let reason = "blocked by gatehouse — deny-list: demo-pkg==1.0 is listed";
    let files = json["files"].as_array().unwrap();
    assert_eq!(files[0]["yanked"], reason);
    assert_eq!(files[1]["yanked"], reason);
    assert_eq!(files[2]["yanked"], "oops", "a warning changes nothing");
    assert_eq!(files[3]["yanked"], false);
    assert_eq!(
        json["versions"],
        serde_json::json!(["1.0", "2.0", "3.0", "0.5"])
    );

    let html = html_page(&host, "");
    assert_eq!(
        html.matches(&format!("data-yanked=\"{reason}\"")).count(),
        2
    );
}

#[test]
fn blocked_versions_can_be_hidden() {
    let host = json_upstream()
        .judge("1.0", Action::Block)
        .judge("0.5", Action::Block);
    let settings = r#"{"blocked_files": "hide"}"#;
    let json = json_page(&host, settings);
    assert_eq!(json_filenames(&json), &SURVIVORS[2..]);
    assert_eq!(json["versions"], serde_json::json!(["2.0", "3.0"]));
    assert_eq!(html_filenames(&html_page(&host, settings)), &SURVIVORS[2..]);
}

#[test]
fn a_short_answer_from_the_gate_fails_closed() {
    let host = FakeHost {
        miscounts: true,
        ..json_upstream()
    };
    let response = get(&host, "{}", "/simple/demo-pkg/", Some(PIP_ACCEPT));
    assert_eq!(response.status, 500);
    assert_eq!(
        body(&response),
        "the gate answered 3 decisions for 4 versions\n"
    );
}

#[test]
fn missing_settings_mean_the_defaults() {
    let host = json_upstream().judge("1.0", Action::Block);
    for settings in ["", "null", "{}"] {
        let json = json_page(&host, settings);
        assert_eq!(json_filenames(&json), SURVIVORS, "{settings:?}");
    }
}

#[test]
fn bad_settings_are_reported() {
    let response = get(
        &json_upstream(),
        r#"{"blocked": "hide"}"#,
        "/simple/demo-pkg/",
        None,
    );
    assert_eq!(response.status, 500);
    assert!(body(&response).contains("invalid pypi adapter settings"));
}

#[test]
fn non_normalised_names_redirect() {
    let host = FakeHost::default();
    let mut req = request("/simple/Demo_Pkg", None);
    req.query = Some("format=json".into());
    let response = respond(handle(&host, "{}", &req));
    assert_eq!(response.status, 301);
    assert_eq!(
        header(&response, "location"),
        Some("http://127.0.0.1:8080/pypi/simple/demo-pkg/?format=json")
    );
    assert!(host.fetches.borrow().is_empty());
}

#[test]
fn downloads_are_planned_from_the_upstream_page() {
    for host in [json_upstream(), html_upstream()] {
        let wheel = plan(handle(
            &host,
            "{}",
            &request("/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl", None),
        ));
        assert_eq!(
            wheel.url,
            "http://127.0.0.1:3142/f/demo_pkg-1.0-py3-none-any.whl"
        );
        assert_eq!(wheel.digests.len(), 1);
        assert_eq!(
            (
                wheel.digests[0].algorithm.as_str(),
                wheel.digests[0].hex.as_str()
            ),
            ("sha256", SHA_1)
        );
        assert_eq!(wheel.facts.version, "1.0");
        assert_eq!(wheel.facts.name, "demo-pkg");
        assert_eq!(wheel.facts.digests.len(), 1);

        let sdist = plan(handle(
            &host,
            "{}",
            &request("/files/demo-pkg/demo-pkg-1.0.tar.gz", None),
        ));
        assert_eq!(sdist.url, "http://127.0.0.1:3141/f/demo-pkg-1.0.tar.gz");
        assert_eq!(sdist.digests[0].hex, SHA_2);

        let metadata = plan(handle(
            &host,
            "{}",
            &request(
                "/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl.metadata",
                None,
            ),
        ));
        assert_eq!(
            metadata.url,
            "http://127.0.0.1:3142/f/demo_pkg-1.0-py3-none-any.whl.metadata"
        );
        assert_eq!(metadata.digests[0].hex, SHA_M);
        // Gated exactly like the file.
        assert_eq!(
            format!("{:?}", metadata.facts),
            format!("{:?}", wheel.facts)
        );

        // The host gates downloads; the adapter does not call the gate for them.
        assert!(host.gate_calls.borrow().is_empty());
    }
}

#[test]
fn download_facts_describe_the_file() {
    let host = json_upstream();
    let wheel = plan(handle(
        &host,
        "{}",
        &request("/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl", None),
    ));
    assert_eq!(wheel.facts.size, Some(300));
    assert_eq!(wheel.facts.published, Some(1_704_153_600));
    let yanked = plan(handle(
        &host,
        "{}",
        &request("/files/demo-pkg/demo_pkg-2.0-py3-none-any.whl", None),
    ));
    assert_eq!(yanked.facts.yanked.as_deref(), Some("oops"));
}

#[test]
fn unverifiable_downloads_are_refused() {
    let host = json_upstream();
    let response = get(
        &host,
        "{}",
        "/files/demo-pkg/demo_pkg-3.0-py3-none-any.whl",
        None,
    );
    assert_eq!(response.status, 502);
    assert!(
        body(&response).contains("upstream declares no sha256 for demo_pkg-3.0-py3-none-any.whl")
    );
    let response = get(
        &host,
        "{}",
        "/files/demo-pkg/demo_pkg-3.0-py3-none-any.whl.metadata",
        None,
    );
    assert_eq!(response.status, 502);
    let response = get(
        &host,
        "{}",
        "/files/demo-pkg/demo-pkg-1.0.tar.gz.metadata",
        None,
    );
    assert_eq!(response.status, 404);
}

#[test]
fn unknown_files_are_not_found() {
    let host = json_upstream();
    for path in [
        "/files/demo-pkg/demo_pkg-9.0-py3-none-any.whl",
        "/files/demo-pkg/other-1.0.tar.gz",
    ] {
        let response = get(&host, "{}", path, None);
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
}

#[test]
fn traversal_never_reaches_upstream() {
    let host = json_upstream();
    for path in [
        "/files/demo-pkg/..",
        "/files/demo-pkg/%2e%2e",
        "/files/demo-pkg/%2E%2E%2Fetc%2Fpasswd",
        "/files/demo-pkg/..%2F..%2Fsecret",
        "/files/demo-pkg/a%2Fb.whl",
        "/files/demo-pkg/../../simple/x/",
        "/files/..%2F/x.whl",
        "/files/Demo_Pkg/demo-pkg-1.0.tar.gz",
        "/simple/..%2F/",
        "/simple/%2e%2e/",
    ] {
        let status = get(&host, "{}", path, None).status;
        assert!(matches!(status, 400 | 404), "{path}: {status}");
    }
    assert!(
        host.fetches.borrow().is_empty(),
        "{:?}",
        host.fetches.borrow()
    );
}

#[test]
fn upstream_failures_are_explained() {
    let host = FakeHost {
        unreachable: true,
        ..FakeHost::default()
    };
    let response = get(&host, "{}", "/simple/demo-pkg/", None);
    assert_eq!(response.status, 502);
    assert!(body(&response).contains("upstream unreachable: connection refused"));

    let response = get(&FakeHost::default(), "{}", "/simple/nothing-here/", None);
    assert_eq!(response.status, 404);
    assert!(body(&response).contains("no project named nothing-here upstream"));
}

#[test]
fn the_project_list_is_translated() {
    let host = FakeHost::default().serve(
        "/",
        "text/html",
        r#"<a href="/simple/frob/">frob</a><a href="/simple/foo-bar/">Foo_Bar</a>"#,
    );
    let html = body(&get(&host, "{}", "/simple/", None));
    assert!(html.contains("<a href=\"foo-bar/\">Foo_Bar</a>"));
    let json: serde_json::Value =
        serde_json::from_slice(&get(&host, "{}", "/simple/", Some(PIP_ACCEPT)).body).unwrap();
    assert_eq!(
        json["projects"],
        serde_json::json!([{"name": "frob"}, {"name": "Foo_Bar"}])
    );
}

#[test]
fn only_reads_are_allowed() {
    let mut req = request("/simple/demo-pkg/", None);
    req.method = "POST".into();
    let response = respond(handle(&FakeHost::default(), "{}", &req));
    assert_eq!(response.status, 405);
    assert_eq!(header(&response, "allow"), Some("GET, HEAD"));
}
