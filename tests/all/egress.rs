//! Egress and response integrity: the host alone decides where bytes come
//! from and owns every byte of the response framing.
//!
//! Canaries are fake servers on other loopback ports that count hits: an
//! origin gatehouse must never reach. Hostile adapters are the suite's own
//! `hostile-adapter` component.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};

use crate::fake_http::{FakeHttp, Listener, Reply};
use crate::fake_npm::{FakeNpm, FakePackage, FakeVersion};
use crate::support::{Gatehouse, Setup, component};

/// The PEP 691 JSON form of the simple API.
const PEP_691: &str = "application/vnd.pypi.simple.v1+json";

/// What every canary serves (the hostile adapter's plans declare its sha256).
const CANARY: &[u8] = b"canary";

fn canary() -> FakeHttp {
    Listener::bind().serve(|_| Reply::ok("application/octet-stream", CANARY.to_vec()))
}

fn origin(server: &FakeHttp) -> String {
    format!("http://{}", server.addr())
}

fn redirect(location: String) -> Reply {
    Reply::redirect(302, location)
}

/// A one-version packument of `name` whose tarball is `bytes` at `tarball`;
/// `text` goes where authors write free text (readme, homepage, description).
fn packument(name: &str, tarball: &str, bytes: &[u8], text: &str) -> Vec<u8> {
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes))
    );
    let document = json!({
        "_id": name,
        "name": name,
        "description": text,
        "readme": text,
        "homepage": text,
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {
            "name": name,
            "version": "1.0.0",
            "homepage": text,
            "dist": {
                "integrity": integrity,
                "shasum": hex::encode(Sha1::digest(bytes)),
                "tarball": tarball,
            },
        }},
        "time": {
            "created": "2020-01-01T00:00:00.000Z",
            "modified": "2020-01-01T00:00:00.000Z",
            "1.0.0": "2020-01-01T00:00:00.000Z",
        },
    });
    serde_json::to_vec(&document).expect("json")
}

/// Starts gatehouse with the adapters serving `routes`, each proxying
/// `upstream`, and `extra` config.
fn gatehouse(routes: Vec<&'static str>, upstream: &str, extra: &str) -> Gatehouse {
    gatehouse_custom(routes, upstream, extra, |_, _| {})
}

/// Like [`gatehouse`], with `customize` shaping the server's command.
fn gatehouse_custom(
    routes: Vec<&'static str>,
    upstream: &str,
    extra: &str,
    customize: impl FnOnce(&std::path::Path, &mut std::process::Command),
) -> Gatehouse {
    let setup = Setup {
        upstreams: routes
            .iter()
            .map(|route| (route.to_string(), upstream.to_owned()))
            .collect(),
        extra_config: extra.into(),
        ..Setup::default()
    };
    // The host routes by file name; some crates are named apart from their route.
    let prepare = |root: &std::path::Path| {
        for route in routes {
            let crate_name = match route {
                "cargo" => "cargo-registry",
                "go" => "goproxy",
                other => other,
            };
            std::fs::copy(
                component(crate_name),
                root.join("adapters").join(format!("{route}.wasm")),
            )
            .expect("copy an adapter");
        }
    };
    Gatehouse::start_custom(setup, prepare, customize)
}

/// Status and body of a GET.
async fn get(url: &str) -> (u16, String) {
    let response = Gatehouse::client().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Asserts a refusal by the egress rule naming `url`.
fn assert_refused((status, body): &(u16, String), url: &str) {
    assert_eq!(*status, 502, "{body}");
    assert!(body.contains("egress rule"), "{body}");
    assert!(body.contains(url), "the refusal names {url}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_locations_on_an_unconfigured_loopback_origin_are_refused() {
    let canary = canary();
    let named = format!("{}/evil-1.0.0.tgz", origin(&canary));
    let upstream = Listener::bind();
    let base = format!("http://{}", upstream.addr());
    let (readme_pkg, evil) = (
        packument(
            "readme-pkg",
            &format!("{base}/readme-pkg/-/readme-pkg-1.0.0.tgz"),
            b"genuine",
            &format!("Mirror: {} and {named}", origin(&canary)),
        ),
        packument("evil", &named, CANARY, "nothing to see"),
    );
    // The same canary by name: the resolver applies the address rule.
    let by_name = format!("http://localhost:{}/by-name.tgz", canary.addr().port());
    let by_name_pkg = packument("by-name", &by_name, CANARY, "");
    let upstream = upstream.serve(move |request| match request.path.as_str() {
        "/readme-pkg" => Reply::ok("application/json", readme_pkg.clone()),
        "/readme-pkg/-/readme-pkg-1.0.0.tgz" => {
            Reply::ok("application/octet-stream", b"genuine".to_vec())
        }
        "/evil" => Reply::ok("application/json", evil.clone()),
        "/by-name" => Reply::ok("application/json", by_name_pkg.clone()),
        _ => Reply::not_found(),
    });
    let gatehouse = gatehouse(vec!["npm"], &origin(&upstream), "");
    let npm = format!("{}/npm", gatehouse.url);

    assert_eq!(get(&format!("{npm}/readme-pkg")).await.0, 200);
    let genuine = get(&format!("{npm}/readme-pkg/-/readme-pkg-1.0.0.tgz")).await;
    assert_eq!(genuine, (200, "genuine".into()));
    assert_refused(&get(&format!("{npm}/evil/-/evil-1.0.0.tgz")).await, &named);
    let (status, body) = get(&format!("{npm}/by-name/-/by-name-1.0.0.tgz")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("loopback address"), "{body}");
    assert_eq!(canary.total_hits(), 0, "the canary was reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_text_opens_no_origin_and_a_flood_of_origins_starves_none() {
    let canary = canary();
    let cdn = Listener::bind().serve(|_| Reply::ok("application/octet-stream", b"late".to_vec()));
    let upstream = Listener::bind();
    let base = format!("http://{}", upstream.addr());
    let flood: String = (0..300)
        .map(|n| format!("https://origin{n}.invalid/docs "))
        .collect();
    let many = packument(
        "many",
        &format!("{base}/many/-/many-1.0.0.tgz"),
        b"many",
        &format!("{flood} {}/x", origin(&canary)),
    );
    let late = packument(
        "late",
        &format!("{}/late-1.0.0.tgz", origin(&cdn)),
        b"late",
        "",
    );
    let upstream = upstream.serve(move |request| match request.path.as_str() {
        "/many" => Reply::ok("application/json", many.clone()),
        "/late" => Reply::ok("application/json", late.clone()),
        _ => Reply::not_found(),
    });
    // Loopback is allowed here, so only the origin rule stands between an
    // adapter and the canary.
    let gatehouse = gatehouse(
        vec!["npm", "hostile-adapter"],
        &origin(&upstream),
        "egress:\n  allow: [\"127.0.0.0/8\"]\n",
    );
    let (npm, hostile) = (
        format!("{}/npm", gatehouse.url),
        format!("{}/hostile-adapter", gatehouse.url),
    );
    assert_eq!(get(&format!("{npm}/many")).await.0, 200);
    assert_eq!(
        get(&format!("{hostile}/fetch?{}/many", origin(&upstream)))
            .await
            .0,
        200
    );
    let (status, body) = get(&format!("{hostile}/fetch?{}/x", origin(&canary))).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("neither a configured upstream"), "{body}");
    assert_eq!(canary.total_hits(), 0, "the canary was reached");

    // The tarball's origin, a location from a metadata field, is learned.
    let served = get(&format!("{npm}/late/-/late-1.0.0.tgz")).await;
    assert_eq!(served, (200, "late".into()));
    assert_eq!(cdn.hits("/late-1.0.0.tgz"), 1);

    // Not even a range the operator allows reaches gatehouse itself.
    let own = format!("{}/healthz", gatehouse.url);
    let (status, body) = get(&format!("{hostile}/plan?{own}")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("own listener"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypi_file_links_on_an_unconfigured_loopback_origin_are_refused() {
    let canary = canary();
    let link = format!("{}/files/evil-1.0-py3-none-any.whl", origin(&canary));
    let page = format!(
        "<!DOCTYPE html>\n<html><body>\n<a href=\"{link}#sha256={}\">evil-1.0-py3-none-any.whl</a>\n</body></html>\n",
        hex::encode(Sha256::digest(CANARY))
    );
    let upstream = Listener::bind().serve(move |request| match request.path.as_str() {
        "/simple/evil/" => Reply::ok("text/html; charset=utf-8", page.clone().into_bytes()),
        _ => Reply::not_found(),
    });
    let gatehouse = gatehouse(vec!["pypi"], &format!("{}/simple", origin(&upstream)), "");
    let (status, page) = get(&format!("{}/pypi/simple/evil/", gatehouse.url)).await;
    assert_eq!(status, 200, "{page}");
    let href = page
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split(['"', '#']).next())
        .find(|href| href.ends_with(".whl"))
        .unwrap_or_else(|| panic!("no wheel link in {page}"))
        .to_owned();
    let href = if href.starts_with("http") {
        href
    } else {
        format!("{}/pypi/simple/evil/{href}", gatehouse.url)
    };
    assert_refused(&get(&href).await, &link);
    assert_eq!(canary.total_hits(), 0, "the canary was reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_downloads_from_an_unconfigured_loopback_origin_are_refused() {
    let canary = canary();
    let dl = format!("{}/crates", origin(&canary));
    let config = json!({ "dl": dl }).to_string();
    let line = json!({
        "name": "evil", "vers": "1.0.0", "deps": [], "features": {}, "yanked": false,
        "cksum": hex::encode(Sha256::digest(CANARY)),
    })
    .to_string();
    let upstream = Listener::bind().serve(move |request| match request.path.as_str() {
        "/index/config.json" => Reply::ok("application/json", config.clone().into_bytes()),
        "/index/ev/il/evil" => Reply::ok("text/plain", format!("{line}\n").into_bytes()),
        _ => Reply::not_found(),
    });
    let gatehouse = gatehouse(vec!["cargo"], &format!("{}/index", origin(&upstream)), "");
    let download = format!("{}/cargo/api/v1/crates/evil/1.0.0/download", gatehouse.url);
    assert_refused(&get(&download).await, &format!("{dl}/evil/1.0.0/download"));
    assert_eq!(canary.total_hits(), 0, "the canary was reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_only_where_the_rule_allows() {
    let canary = canary();
    let cdn_listener = Listener::bind();
    let cdn_base = format!("http://{}", cdn_listener.addr());
    let upstream = Listener::bind();
    let base = format!("http://{}", upstream.addr());
    let tarball = |name: &str| format!("{base}/{name}/-/{name}-1.0.0.tgz");
    let documents = [
        ("/hop", packument("hop", &tarball("hop"), CANARY, "")),
        (
            "/cdn-pkg",
            packument("cdn-pkg", &tarball("cdn-pkg"), b"from the cdn", ""),
        ),
    ];
    let via_cdn = packument("via-cdn", &tarball("cdn-pkg"), b"from the cdn", "");
    let cdn = cdn_listener.serve(move |request| match request.path.as_str() {
        "/cdn-pkg.tgz" => Reply::ok("application/octet-stream", b"from the cdn".to_vec()),
        "/via-cdn" => Reply::ok("application/json", via_cdn.clone()),
        _ => Reply::not_found(),
    });
    let (canary_origin, cdn_origin) = (origin(&canary), cdn_base.clone());
    let upstream = upstream.serve(move |request| {
        let path = request.path.as_str();
        if let Some((_, document)) = documents.iter().find(|(p, _)| *p == path) {
            return Reply::ok("application/json", document.clone());
        }
        match path {
            "/moved" => redirect(format!("{canary_origin}/moved")),
            "/hop/-/hop-1.0.0.tgz" => redirect(format!("{canary_origin}/hop.tgz")),
            "/via-cdn" => redirect(format!("{cdn_origin}/via-cdn")),
            "/cdn-pkg/-/cdn-pkg-1.0.0.tgz" => redirect(format!("{cdn_origin}/cdn-pkg.tgz")),
            _ => Reply::not_found(),
        }
    });
    // `Setup` writes the upstream last, so this line continues its block.
    let gatehouse = gatehouse(
        vec!["npm"],
        &origin(&upstream),
        &format!("    origins: [\"{cdn_base}\"]\n"),
    );
    let npm = format!("{}/npm", gatehouse.url);

    let (status, body) = get(&format!("{npm}/moved")).await;
    assert!(
        status == 502 && body.contains("egress rule"),
        "{status} {body}"
    );
    assert!(
        body.contains(&format!("{}/moved", origin(&canary))),
        "{body}"
    );
    assert_refused(
        &get(&format!("{npm}/hop/-/hop-1.0.0.tgz")).await,
        &format!("{}/hop.tgz", origin(&canary)),
    );
    assert_eq!(canary.total_hits(), 0, "the canary was reached");

    // The upstream's own CDN (an `origins` entry) is followed.
    assert_eq!(get(&format!("{npm}/via-cdn")).await.0, 200);
    let served = get(&format!("{npm}/cdn-pkg/-/cdn-pkg-1.0.0.tgz")).await;
    assert_eq!(served, (200, "from the cdn".into()));
    assert_eq!(cdn.hits("/cdn-pkg.tgz"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_redirects_to_a_canary_are_refused_for_pypi_maven_and_go() {
    let canary = canary();
    let canary_origin = origin(&canary);
    let upstream = Listener::bind();
    let base = format!("http://{}", upstream.addr());
    let sha256 = hex::encode(Sha256::digest(CANARY));
    let page = format!(
        "<!DOCTYPE html>\n<html><body>\n<a href=\"{base}/files/evil-1.0-py3-none-any.whl#sha256={sha256}\">evil-1.0-py3-none-any.whl</a>\n</body></html>\n"
    );
    let jar = "/com/example/evil/1.0/evil-1.0.jar";
    let zip = "/example.com/evil/@v/v1.0.0.zip";
    let info = r#"{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}"#;
    let upstream = upstream.serve(move |request| {
        let path = request.path.as_str();
        let to_canary = || redirect(format!("{canary_origin}{path}"));
        match path {
            "/evil/" => Reply::ok("text/html; charset=utf-8", page.clone().into_bytes()),
            "/files/evil-1.0-py3-none-any.whl" => to_canary(),
            p if p == format!("{jar}.sha256") => Reply::ok("text/plain", sha256.clone().into()),
            p if p == jar || p == zip => to_canary(),
            "/example.com/evil/@v/v1.0.0.info" => Reply::ok("application/json", info.into()),
            _ => Reply::not_found(),
        }
    });
    // `Setup` writes the upstreams in order, so this continues go's block.
    let gatehouse = gatehouse(
        vec!["pypi", "maven", "go"],
        &base,
        "    settings:\n      verify: false\n",
    );
    let (status, page) = get(&format!("{}/pypi/simple/evil/", gatehouse.url)).await;
    assert_eq!(status, 200, "{page}");
    let wheel = format!(
        "{}/pypi/files/evil/evil-1.0-py3-none-any.whl",
        gatehouse.url
    );
    for (through_gatehouse, redirected) in [
        (wheel, "/files/evil-1.0-py3-none-any.whl"),
        (format!("{}/maven{jar}", gatehouse.url), jar),
        (format!("{}/go{zip}", gatehouse.url), zip),
    ] {
        let (status, body) = get(&through_gatehouse).await;
        assert_eq!(status, 502, "{through_gatehouse}: {body}");
        assert!(body.contains("egress rule"), "{body}");
        assert!(
            body.contains(&format!("{}{redirected}", origin(&canary))),
            "{body}"
        );
        assert_eq!(
            upstream.hits(redirected),
            1,
            "upstream redirected {redirected}"
        );
    }
    assert_eq!(canary.total_hits(), 0, "the canary was reached");
}

/// One HTTP/1.1 response read off a raw connection.
#[derive(Debug)]
struct RawResponse {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Splits what a connection received into responses, by their
/// content-length (none follows a HEAD request's).
fn parse_responses(mut bytes: &[u8], heads: impl IntoIterator<Item = bool>) -> Vec<RawResponse> {
    let mut responses = Vec::new();
    for head_request in heads {
        let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().expect("a numeric content-length"))
            .unwrap_or_else(|| panic!("no content-length in {head}"));
        let rest = &bytes[end + 4..];
        let length = if head_request {
            0
        } else {
            length.min(rest.len())
        };
        responses.push(RawResponse {
            status_line,
            headers,
            body: rest[..length].to_vec(),
        });
        bytes = &rest[length..];
    }
    assert!(bytes.is_empty(), "bytes no request asked for: {bytes:?}");
    responses
}

/// Sends `requests` (method, path) pipelined on one connection, the last one
/// closing it, and reads every response.
fn exchange(gatehouse: &Gatehouse, requests: &[(&str, &str)]) -> Vec<RawResponse> {
    let raw: String = requests
        .iter()
        .enumerate()
        .map(|(n, (method, path))| {
            let close = if n + 1 == requests.len() {
                "connection: close\r\n"
            } else {
                ""
            };
            format!("{method} {path} HTTP/1.1\r\nhost: gatehouse\r\n{close}\r\n")
        })
        .collect();
    let address = gatehouse.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    stream.write_all(raw.as_bytes()).expect("write");
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    parse_responses(
        &received,
        requests.iter().map(|(method, _)| *method == "HEAD"),
    )
}

fn header<'a>(response: &'a RawResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_cannot_split_or_corrupt_a_response() {
    let upstream = Listener::bind().serve(|_| Reply::not_found());
    let gatehouse = gatehouse(vec!["hostile-adapter"], &origin(&upstream), "");
    let pipelined = [
        ("GET", "/hostile-adapter/frame"),
        ("HEAD", "/hostile-adapter/frame"),
        ("GET", "/hostile-adapter/status?101"),
        ("GET", "/hostile-adapter/status?999"),
        ("GET", "/healthz"),
    ];
    let responses = tokio::task::spawn_blocking(move || exchange(&gatehouse, &pipelined))
        .await
        .expect("exchange");
    assert_eq!(responses.len(), 5, "{responses:#?}");

    let framed = &responses[0];
    assert!(framed.status_line.starts_with("HTTP/1.1 200"), "{framed:?}");
    assert!(
        framed.body.starts_with(b"okHTTP/1.1"),
        "the whole body is one response: {framed:?}"
    );
    for (name, value) in &framed.headers {
        let forged = [
            "keep-alive",
            "upgrade",
            "trailer",
            "transfer-encoding",
            "set-cookie",
        ]
        .contains(&name.as_str())
            || name.starts_with("proxy-")
            || (name == "connection" && value.contains("keep-alive"));
        assert!(!forged, "the adapter's {name}: {value} reached the client");
    }
    let head = &responses[1];
    assert!(head.status_line.starts_with("HTTP/1.1 200"), "{head:?}");
    let length = framed.body.len().to_string();
    assert_eq!(header(head, "content-length"), Some(length.as_str()));
    for bad in &responses[2..4] {
        assert!(bad.status_line.starts_with("HTTP/1.1 502"), "{bad:?}");
        let body = String::from_utf8_lossy(&bad.body);
        assert!(body.contains("hostile-adapter adapter"), "{body}");
    }
    let health = &responses[4];
    assert!(health.status_line.starts_with("HTTP/1.1 200"), "{health:?}");
    let health: serde_json::Value = serde_json::from_slice(&health.body).expect("json");
    assert_eq!(health["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_proxy_is_never_used_for_upstream_traffic() {
    let upstream = Listener::bind();
    let base = format!("http://{}", upstream.addr());
    let document = packument(
        "direct",
        &format!("{base}/direct/-/direct-1.0.0.tgz"),
        b"x",
        "",
    );
    let upstream = upstream.serve(move |request| match request.path.as_str() {
        "/direct" => Reply::ok("application/json", document.clone()),
        _ => Reply::not_found(),
    });
    // A proxy would resolve names itself, past the egress rule.
    let proxy = canary();
    let gatehouse = gatehouse_custom(vec!["npm"], &origin(&upstream), "", |_, command| {
        for variable in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "all_proxy",
        ] {
            command.env(variable, origin(&proxy));
        }
        command.env_remove("NO_PROXY").env_remove("no_proxy");
    });
    let (status, body) = get(&format!("{}/npm/direct", gatehouse.url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(upstream.hits("/direct"), 1, "fetched directly");
    assert_eq!(proxy.total_hits(), 0, "the proxy was never asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_200_is_fetched_again_after_upstream_recovers_and_after_a_restart() {
    let healthy = Arc::new(AtomicBool::new(false));
    let upstream = Listener::bind();
    let base = format!("http://{}", upstream.addr());
    let good = |name: &str| packument(name, &format!("{base}/{name}/-/{name}-1.0.0.tgz"), b"x", "");
    let (cut_good, array_good) = (good("cut"), good("arrayed"));
    // A PEP 691 project page.
    let page_good = br#"{"meta":{"api-version":"1.1"},"name":"cut-py","files":[]}"#;
    // A cargo index file of one version.
    let index_good = format!(
        "{{\"name\":\"cutrs\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"{}\",\"features\":{{}},\"yanked\":false}}\n",
        "a".repeat(64)
    )
    .into_bytes();
    let answering = healthy.clone();
    let upstream = upstream.serve(move |request| {
        let healthy = answering.load(Ordering::SeqCst);
        let (content_type, body) = match (request.path.as_str(), healthy) {
            ("/cut", true) => ("application/json", cut_good.clone()),
            ("/cut", false) => ("application/json", cut_good[..cut_good.len() / 2].to_vec()),
            ("/arrayed", true) => ("application/json", array_good.clone()),
            ("/arrayed", false) => ("application/json", b"[1, 2, 3]".to_vec()),
            ("/cut-py/", true) => (PEP_691, page_good.to_vec()),
            ("/cut-py/", false) => (PEP_691, page_good[..page_good.len() / 2].to_vec()),
            ("/cu/tr/cutrs", true) => ("text/plain", index_good.clone()),
            ("/cu/tr/cutrs", false) => ("text/plain", index_good[..index_good.len() / 2].to_vec()),
            _ => return Reply::not_found(),
        };
        Reply::ok(content_type, body)
    });
    // A long TTL: a kept copy would be served without asking upstream.
    let mut gatehouse = gatehouse(
        vec!["npm", "pypi", "cargo"],
        &origin(&upstream),
        "cache:\n  ttl: 1h\n",
    );
    let (cut, arrayed, cut_py) = ("/npm/cut", "/npm/arrayed", "/pypi/simple/cut-py/");
    let cut_rs = "/cargo/index/cu/tr/cutrs";
    for path in [cut, arrayed, cut_py, cut_rs] {
        let (status, body) = get(&format!("{}{path}", gatehouse.url)).await;
        assert!(status >= 500, "{path} while broken: {status} {body}");
    }
    healthy.store(true, Ordering::SeqCst);
    let (status, body) = get(&format!("{}{cut}", gatehouse.url)).await;
    assert_eq!(status, 200, "after upstream recovered: {body}");
    gatehouse.restart();
    for path in [arrayed, cut_py, cut_rs] {
        let (status, body) = get(&format!("{}{path}", gatehouse.url)).await;
        assert_eq!(status, 200, "{path} after a restart: {body}");
    }
    let (_, index) = get(&format!("{}{cut_rs}", gatehouse.url)).await;
    assert!(
        index.contains("\"vers\":\"1.0.0\""),
        "the whole file: {index}"
    );
    // What the adapter accepted is kept.
    let hits = upstream.hits("/cut");
    assert_eq!(get(&format!("{}/npm/cut", gatehouse.url)).await.0, 200);
    assert_eq!(upstream.hits("/cut"), hits, "an accepted copy is reused");
}

/// The pre-flight settles what it fetched like the proxy: a broken copy is
/// dropped, so `decide` fetches again once upstream recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_fetches_a_broken_200_again_after_upstream_recovers() {
    let healthy = Arc::new(AtomicBool::new(false));
    let upstream = Listener::bind();
    let base = format!("http://{}", upstream.addr());
    let good = packument(
        "flaky",
        &format!("{base}/flaky/-/flaky-1.0.0.tgz"),
        b"x",
        "",
    );
    let answering = healthy.clone();
    let upstream = upstream.serve(move |request| match request.path.as_str() {
        "/flaky" if answering.load(Ordering::SeqCst) => Reply::ok("application/json", good.clone()),
        "/flaky" => Reply::ok("application/json", good[..good.len() / 2].to_vec()),
        _ => Reply::not_found(),
    });
    // A long TTL: a kept copy would be used without asking upstream.
    let gatehouse = gatehouse(vec!["npm"], &origin(&upstream), "cache:\n  ttl: 1h\n");
    assert_ne!(gatehouse.decide("npm", "flaky", "1.0.0").await, "allow");
    healthy.store(true, Ordering::SeqCst);
    assert_eq!(gatehouse.decide("npm", "flaky", "1.0.0").await, "allow");
    assert_eq!(upstream.hits("/flaky"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripping_upstream_is_cut_at_the_deadline_while_others_are_served() {
    let upstream = Listener::bind();
    let base = format!("http://{}", upstream.addr());
    let tarball = |name: &str| format!("{base}/{name}/-/{name}-1.0.0.tgz");
    let drip = |mut reply: Reply| {
        // Far longer than any client here waits, without the deadline.
        reply.body = vec![b' '; 100_000];
        reply.drip = Some(Duration::from_millis(100));
        reply
    };
    let documents = [
        ("/fine", packument("fine", &tarball("fine"), b"fine", "")),
        (
            "/slow-tar",
            packument("slow-tar", &tarball("slow-tar"), b"x", ""),
        ),
    ];
    let upstream = upstream.serve(move |request| {
        let path = request.path.as_str();
        if let Some((_, document)) = documents.iter().find(|(p, _)| *p == path) {
            return Reply::ok("application/json", document.clone());
        }
        match path {
            "/fine/-/fine-1.0.0.tgz" => Reply::ok("application/octet-stream", b"fine".to_vec()),
            "/slow" => drip(Reply::ok("application/json", Vec::new())),
            "/slow-tar/-/slow-tar-1.0.0.tgz" => {
                drip(Reply::ok("application/octet-stream", Vec::new()))
            }
            _ => Reply::not_found(),
        }
    });
    let gatehouse = gatehouse(vec!["npm"], &origin(&upstream), "egress:\n  deadline: 3s\n");
    let npm = format!("{}/npm", gatehouse.url);
    let started = Instant::now();
    let slow = [
        format!("{npm}/slow"),
        format!("{npm}/slow-tar/-/slow-tar-1.0.0.tgz"),
    ]
    .map(|url| tokio::spawn(async move { get(&url).await }));

    assert_eq!(get(&format!("{npm}/fine")).await.0, 200);
    let served = get(&format!("{npm}/fine/-/fine-1.0.0.tgz")).await;
    assert_eq!(served, (200, "fine".into()));

    let [metadata, artifact] = slow;
    let (metadata, artifact) = (metadata.await.expect("task"), artifact.await.expect("task"));
    for ((status, body), url) in [
        (metadata, format!("{}/slow", origin(&upstream))),
        (artifact, tarball("slow-tar")),
    ] {
        assert_eq!(status, 504, "{body}");
        assert!(body.contains(&url), "the answer names {url}: {body}");
        assert!(body.contains("deadline"), "{body}");
    }
    println!("dripping upstreams cut after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_in_reasons_never_reach_the_client() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("painted").version(FakeVersion::new("1.0.0")),
    ]);
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["misbehave"],
        adapters: vec!["npm"],
        gate_policy: "policies:\n  default:\n    misbehave:\n      behavior: block\n      reason: \"\\e[31mred\\e[0m\\a alert\\e]0;title\\a\\ttext\"\n".into(),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: String::new(),
    });
    let clean = |text: &str| {
        assert!(text.contains("red alert text"), "{text}");
        for escape in ["\u{1b}", "\\u001b", "[31m", "\u{7}", "\\u0007", "title"] {
            assert!(!text.contains(escape), "{escape:?} in {text}");
        }
    };
    let (_, packument) = get(&format!("{}/npm/painted", gatehouse.url)).await;
    clean(&packument);
    let path = "/npm/painted/-/painted-1.0.0.tgz";
    let (status, body) = get(&format!("{}{path}", gatehouse.url)).await;
    assert_eq!(status, 403, "{body}");
    clean(&body);
    let responses = tokio::task::spawn_blocking(move || exchange(&gatehouse, &[("GET", path)]))
        .await
        .expect("exchange");
    clean(&responses[0].status_line);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_proto_is_only_http_or_https() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("plain").version(FakeVersion::new("1.0.0")),
    ]);
    let gatehouse = gatehouse(vec!["npm"], &registry.url(), "trust_forwarded: true\n");
    let tarball_with = |proto: &'static str| {
        let url = format!("{}/npm/plain", gatehouse.url);
        async move {
            let document: serde_json::Value = Gatehouse::client()
                .get(&url)
                .header("x-forwarded-proto", proto)
                .header("x-forwarded-host", "registry.example.test")
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            document["versions"]["1.0.0"]["dist"]["tarball"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert!(
        tarball_with("https")
            .await
            .starts_with("https://registry.example.test/npm/")
    );
    for hostile in ["javascript", "file", "http://evil.test/#"] {
        let tarball = tarball_with(hostile).await;
        assert!(
            tarball.starts_with("http://registry.example.test/npm/"),
            "{hostile} → {tarball}"
        );
    }
}
