//! The request flow: route, fetch upstream, gate, rewrite or plan.
//!
//! Everything the host provides goes through [`Host`], so the whole flow runs
//! natively in tests against a fake.

use gatehouse_adapter_sdk::{
    ArtifactPlan, ErrorFormat, Failure, Fetched, Host, Outcome, Purpose, Request, Response,
    VersionFacts, upstream_answer,
};
use sha2::{Digest as _, Sha256};

use crate::index::{self, Line};
use crate::registry::{UpstreamConfig, proxy_config};
use crate::route::{Route, index_prefix, route};

/// Answers one request.
pub fn handle(host: &impl Host, request: &Request) -> Outcome {
    serve(host, request).unwrap_or_else(Outcome::from)
}

fn serve(host: &impl Host, request: &Request) -> Result<Outcome, Failure> {
    if let Some(refusal) = request.refuse_writes("this registry") {
        return Ok(refusal.into());
    }
    match route(&request.path) {
        Route::Config => {
            // The host sets this header only for a client it authenticated.
            let authenticated = request.header("x-gatehouse-user").is_some();
            let config = proxy_config(&request.public_base, authenticated);
            Ok(Response::new(200, "application/json", config).into())
        }
        Route::IndexFile(name) => {
            let fetched = fetch_index_file(host, &name)?;
            let lines = parse(&fetched)?;
            let facts: Vec<VersionFacts> = lines.iter().map(Line::facts).collect();
            let decisions = host.gate(Purpose::Metadata, &facts)?;
            let body = index::apply(&lines, &decisions)
                .map_err(|e| Failure::new(502, format!("index file of {name}: {e}")))?;
            Ok(with_validator(request, body))
        }
        Route::Download { name, version } => plan(host, &name, &version).map(Outcome::Artifact),
        Route::Invalid(message) => Err(Failure::new(400, message)),
        Route::NotFound(message) => Err(Failure::new(404, message)),
    }
}

/// The artifact behind `name@version`, as the upstream index and `dl` template declare it.
fn plan(host: &impl Host, name: &str, version: &str) -> Result<ArtifactPlan, Failure> {
    let fetched = fetch_index_file(host, &name.to_ascii_lowercase())?;
    let lines = parse(&fetched)?;
    let line = lines
        .iter()
        .find(|line| line.entry.vers == version && line.entry.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| Failure::new(404, format!("{name} has no version {version} upstream")))?;
    let sha256 = line.entry.sha256().ok_or_else(|| {
        Failure::new(
            502,
            format!("upstream declares no sha256 cksum for {name}@{version}; refusing to serve it unverified"),
        )
    })?;
    let config_url = format!("{}/config.json", base(host));
    let config = fetch(host, &config_url, "upstream has no config.json")?;
    let config = UpstreamConfig::parse(&config.body)
        .map_err(|e| Failure::new(502, format!("{config_url}: {e}")))?;
    let facts = line.facts();
    Ok(ArtifactPlan {
        url: config.download_url(&line.entry.name, &line.entry.vers, &sha256),
        digests: facts.digests.clone(),
        facts,
        content_type: "application/x-tar".into(),
        error_format: ErrorFormat::Text,
    })
}

fn base(host: &impl Host) -> String {
    host.upstream_base().trim_end_matches('/').to_owned()
}

/// Upstream's index file of `name` (lower case, valid).
fn fetch_index_file(host: &impl Host, name: &str) -> Result<Fetched, Failure> {
    let url = format!("{}/{}/{name}", base(host), index_prefix(name));
    fetch(host, &url, &format!("no crate named {name} upstream"))
}

fn parse(fetched: &Fetched) -> Result<Vec<Line<'_>>, Failure> {
    index::parse(&fetched.body).map_err(|e| Failure::new(502, format!("{}: {e}", fetched.url)))
}

/// GETs `url` from upstream; `missing` is the 404 message.
fn fetch(host: &impl Host, url: &str, missing: &str) -> Result<Fetched, Failure> {
    upstream_answer(url, host.fetch(url, None), |_| Failure::new(404, missing))
}

/// The served index file with an ETag of its own bytes (upstream's validators
/// describe the unfiltered file, so they are never passed on); a matching
/// `If-None-Match` gets 304.
fn with_validator(request: &Request, body: Vec<u8>) -> Outcome {
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
    let unchanged = request.header("if-none-match").is_some_and(|tags| {
        tags.split(',')
            .any(|tag| tag.trim().trim_start_matches("W/") == etag)
    });
    let response = if unchanged {
        Response {
            status: 304,
            headers: Vec::new(),
            body: Vec::new(),
        }
    } else {
        Response::new(200, "text/plain; charset=utf-8", body)
    };
    response.with_header("etag", etag).into()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use gatehouse_adapter_sdk::osv::PackageAdvisory;
    use gatehouse_adapter_sdk::{Action, Decision, FetchError};

    use super::*;

    const UPSTREAM: &str = "http://127.0.0.1:9/index";

    /// Serves fixed bodies and blocks the versions in `blocked`; its gate
    /// leaves the last version out when `miscounts`.
    struct FakeHost {
        files: HashMap<String, String>,
        blocked: Vec<&'static str>,
        miscounts: bool,
    }

    fn line(version: &str, cksum: &str) -> String {
        format!(
            r#"{{"name":"Demo","vers":"{version}","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false}}"#
        )
    }

    fn sum(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn fake(dl: &str) -> FakeHost {
        let file = [
            line("1.0.0", &sum('a')),
            line("1.1.0", &sum('b')),
            line("2.0.0", "short"),
        ]
        .join("\n");
        let files = HashMap::from([
            (format!("{UPSTREAM}/de/mo/demo"), file),
            (
                format!("{UPSTREAM}/config.json"),
                format!(r#"{{"dl":"{dl}","api":"http://127.0.0.1:9"}}"#),
            ),
        ]);
        FakeHost {
            files,
            blocked: vec!["1.1.0"],
            miscounts: false,
        }
    }

    impl Host for FakeHost {
        fn upstream_base(&self) -> String {
            UPSTREAM.into()
        }

        fn fetch(&self, url: &str, _accept: Option<&str>) -> Result<Fetched, FetchError> {
            let body = self.files.get(url);
            Ok(Fetched {
                status: if body.is_some() { 200 } else { 404 },
                headers: vec![("etag".into(), "\"upstream\"".into())],
                body: body.cloned().unwrap_or_default().into_bytes(),
                url: url.into(),
                stale: false,
            })
        }

        fn evaluate(&self, _purpose: Purpose, facts: &[VersionFacts]) -> Vec<Decision> {
            let answered = facts.len() - usize::from(self.miscounts);
            facts[..answered]
                .iter()
                .map(|f| {
                    assert_eq!(f.ecosystem, "crates.io");
                    if self.blocked.contains(&f.version.as_str()) {
                        Decision::by_rule(Action::Block, "deny-list", "denied".into())
                    } else {
                        Decision::allow()
                    }
                })
                .collect()
        }

        fn advisories(&self, _ecosystem: &str, _name: &str) -> Vec<PackageAdvisory> {
            unreachable!("the cargo adapter answers no audits")
        }
    }

    fn get(path: &str, headers: Vec<(String, String)>) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            query: None,
            headers,
            body: Vec::new(),
            public_base: "http://gh/cargo".into(),
        }
    }

    fn respond(outcome: Outcome) -> Response {
        match outcome {
            Outcome::Respond(response) => response,
            Outcome::Artifact(plan) => panic!("expected a response, got a plan for {}", plan.url),
        }
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn index_files_are_gated_with_fresh_validators() {
        let host = fake("http://127.0.0.1:9/dl");
        let response = respond(handle(&host, &get("/index/de/mo/demo", Vec::new())));
        assert_eq!(response.status, 200);
        let body = String::from_utf8(response.body.clone()).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines[0], line("1.0.0", &sum('a')));
        assert!(lines[1].contains(r#""vers":"1.1.0""#) && lines[1].contains(r#""yanked":true"#));
        let etag = header(&response, "etag").unwrap().to_owned();
        assert_ne!(etag, "\"upstream\"");

        let again = get("/index/de/mo/demo", vec![("if-none-match".into(), etag)]);
        let response = respond(handle(&host, &again));
        assert_eq!(response.status, 304);
        assert!(response.body.is_empty());
    }

    #[test]
    fn a_gate_that_miscounts_is_refused() {
        let mut host = fake("http://127.0.0.1:9/dl");
        host.miscounts = true;
        let response = respond(handle(&host, &get("/index/de/mo/demo", Vec::new())));
        assert_eq!(response.status, 500);
        assert_eq!(
            String::from_utf8(response.body).unwrap(),
            "the gate answered 2 decisions for 3 versions\n"
        );
    }

    #[test]
    fn downloads_come_from_the_upstream_template() {
        let host = fake("http://127.0.0.1:9/files/{crate}-{version}.crate");
        let Outcome::Artifact(plan) = handle(
            &host,
            &get("/api/v1/crates/demo/1.1.0/download", Vec::new()),
        ) else {
            panic!("expected a plan");
        };
        assert_eq!(plan.url, "http://127.0.0.1:9/files/Demo-1.1.0.crate");
        assert_eq!(plan.digests[0].hex, sum('b'));
        assert_eq!(plan.facts.version, "1.1.0");
        assert_eq!(plan.content_type, "application/x-tar");
        assert!(matches!(plan.error_format, ErrorFormat::Text));
    }

    #[test]
    fn unknown_or_unverifiable_downloads_are_refused() {
        let host = fake("http://127.0.0.1:9/dl");
        let status = |path: &str| respond(handle(&host, &get(path, Vec::new()))).status;
        assert_eq!(status("/api/v1/crates/demo/9.9.9/download"), 404);
        assert_eq!(status("/api/v1/crates/nope/1.0.0/download"), 404);
        assert_eq!(status("/index/no/pe/nope"), 404);
        assert_eq!(status("/api/v1/crates/demo/2.0.0/download"), 502);
        assert_eq!(status("/index/../secrets"), 404);
        assert_eq!(status("/index/de/mo/.."), 400);
    }

    #[test]
    fn config_points_back_at_the_proxy() {
        let host = fake("http://127.0.0.1:9/dl");
        let response = respond(handle(&host, &get("/index/config.json", Vec::new())));
        let config: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(config["dl"], "http://gh/cargo/api/v1/crates");
        let mut post = get("/index/config.json", Vec::new());
        post.method = "PUT".into();
        assert_eq!(respond(handle(&host, &post)).status, 405);
    }
}
