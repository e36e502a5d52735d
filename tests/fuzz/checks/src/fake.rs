//! A host for running an adapter's request flow natively: an upstream of
//! fixed answers and a gate that blocks the versions it is told to.

use std::collections::{HashMap, HashSet};

use gatehouse_adapter_sdk::osv::PackageAdvisory;
use gatehouse_adapter_sdk::{
    Action, Decision, FetchError, Fetched, Host, Outcome, Purpose, Request, Response, VersionFacts,
};

/// Where the fake upstream lives.
pub const UPSTREAM: &str = "http://127.0.0.1:9/upstream";
/// Where clients reach the adapter.
pub const PUBLIC: &str = "http://127.0.0.1:8080/adapter";

pub struct FakeHost {
    /// Upstream's answers by URL (content type, body); anything else is a 404.
    pub answers: HashMap<String, (String, Vec<u8>)>,
    /// The gate blocks these versions.
    pub blocked: HashSet<String>,
}

impl FakeHost {
    pub fn new(blocked: HashSet<String>) -> Self {
        FakeHost {
            answers: HashMap::new(),
            blocked,
        }
    }

    /// Upstream answers `body` at `UPSTREAM{path}`.
    pub fn answer(&mut self, path: &str, content_type: &str, body: Vec<u8>) {
        self.answers
            .insert(format!("{UPSTREAM}{path}"), (content_type.into(), body));
    }
}

impl Host for FakeHost {
    fn upstream_base(&self) -> String {
        UPSTREAM.into()
    }

    fn fetch(&self, url: &str, _accept: Option<&str>) -> Result<Fetched, FetchError> {
        let (status, headers, body) = match self.answers.get(url) {
            Some((content_type, body)) => (
                200,
                vec![("content-type".to_owned(), content_type.clone())],
                body.clone(),
            ),
            None => (404, Vec::new(), Vec::new()),
        };
        Ok(Fetched {
            status,
            headers,
            body,
            url: url.into(),
            stale: false,
        })
    }

    fn evaluate(&self, _purpose: Purpose, facts: &[VersionFacts]) -> Vec<Decision> {
        facts
            .iter()
            .map(|f| {
                if self.blocked.contains(&f.version) {
                    Decision::by_rule(Action::Block, "fuzz", format!("{} is blocked", f.version))
                } else {
                    Decision::allow()
                }
            })
            .collect()
    }

    fn advisories(&self, _ecosystem: &str, _name: &str) -> Vec<PackageAdvisory> {
        Vec::new()
    }
}

/// A client's request for `path`.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request {
    let headers = headers.iter().map(|&(n, v)| (n.to_owned(), v.to_owned()));
    Request {
        headers: headers.collect(),
        body,
        method: method.into(),
        path: path.into(),
        query: None,
        public_base: PUBLIC.into(),
    }
}

/// A GET of `path`.
pub fn get(path: &str, headers: &[(&str, &str)]) -> Request {
    request("GET", path, headers, Vec::new())
}

/// The response an outcome holds, when it is one.
pub fn response(outcome: Outcome) -> Option<Response> {
    match outcome {
        Outcome::Respond(response) => Some(response),
        Outcome::Artifact(_) => None,
    }
}
