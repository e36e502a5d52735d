//! Advisories from the first start: `serve` syncs a bucket-shaped OSV source
//! (served by the suite on 127.0.0.1) in the background, and `osv status`,
//! `/healthz`, `/metrics` and the serve log tell the truth about it, working
//! or down; `on_stale` decides meanwhile; and the live fallback asks an
//! OSV-API-shaped `querybatch` about packages the mirror lacks.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::fake_http::{FakeHttp, Files, Listener, Reply};
use crate::fake_npm::{FakeNpm, FakePackage, FakeVersion};
use crate::support::{Gatehouse, Setup, eventually, gatehouse_command, replace_file};

/// How long a background sync (or a gate-policy reload) may take on a busy machine.
const SETTLE: Duration = Duration::from_secs(120);

const MAL_ID: &str = "MAL-2025-90001";

/// An OSV malicious-package report for `evil-pkg` 1.0.1.
fn malicious_record() -> String {
    format!(
        r#"{{"id": "{MAL_ID}", "modified": "2025-09-09T00:00:00Z",
            "summary": "Malicious code in evil-pkg (npm)",
            "affected": [{{"package": {{"ecosystem": "npm", "name": "evil-pkg"}}, "versions": ["1.0.1"]}}]}}"#
    )
}

/// The npm registry the suite proxies: evil-pkg 1.0.0 (clean) and 1.0.1 (reported).
fn registry() -> FakeNpm {
    FakeNpm::start(vec![
        FakePackage::new("evil-pkg")
            .version(FakeVersion::new("1.0.0"))
            .version(FakeVersion::new("1.0.1")),
    ])
}

/// A bucket-shaped OSV source: `/npm/all.zip` and `/npm/modified_id.csv`;
/// `all.zip` is held back until `release` is set (or [`SETTLE`] passes).
fn bucket(release: Arc<AtomicBool>) -> FakeHttp {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(format!("{MAL_ID}.json"), options)
        .expect("zip entry");
    zip.write_all(malicious_record().as_bytes())
        .expect("zip write");
    let all = zip.finish().expect("zip").into_inner();
    let mut files = Files::new();
    files.insert("/npm/all.zip".into(), ("application/zip", all));
    files.insert(
        "/npm/modified_id.csv".into(),
        (
            "text/csv",
            format!("2025-09-09T00:00:00Z,{MAL_ID}\n").into_bytes(),
        ),
    );
    Listener::bind().serve(move |request| {
        if request.path == "/npm/all.zip" {
            let started = Instant::now();
            while !release.load(Ordering::SeqCst) && started.elapsed() < SETTLE {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        match files.get(&request.path) {
            Some((content_type, body)) => Reply::ok(content_type, body.clone()),
            None => Reply::not_found(),
        }
    })
}

/// A source that answers every request 503.
fn broken_bucket() -> FakeHttp {
    Listener::bind().serve(|_| Reply {
        status: 503,
        ..Reply::not_found()
    })
}

fn setup(registry: &FakeNpm, gate_policy: &str, osv: String) -> Setup {
    Setup {
        policies: vec!["malicious", "vulnerability"],
        adapters: vec!["npm"],
        gate_policy: gate_policy.into(),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: osv,
    }
}

async fn tarball(gatehouse: &Gatehouse, version: &str) -> (StatusCode, String) {
    let response = Gatehouse::client()
        .get(format!(
            "{}/npm/evil-pkg/-/evil-pkg-{version}.tgz",
            gatehouse.url
        ))
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

fn osv_status(gatehouse: &Gatehouse) -> (Option<i32>, String) {
    let output = gatehouse_command(gatehouse.dir.path(), &["osv", "status"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("$ gatehouse osv status\n{text}");
    (output.status.code(), text)
}

async fn decide(gatehouse: &Gatehouse, version: &str) -> Value {
    gatehouse
        .get_json(&format!(
            "/api/v1/decide?ecosystem=npm&name=evil-pkg&version={version}"
        ))
        .await
}

/// A fresh layout whose only OSV setting is the source: the first start
/// serves at once and syncs in the background (degraded, and warning, until
/// the download finishes), then the reported version is refused at the
/// tarball with no manual import, and status, health and metrics show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_syncs_and_blocks_a_malicious_version() {
    let registry = registry();
    let release = Arc::new(AtomicBool::new(false));
    let bucket = bucket(release.clone());
    let source = format!("http://{}", bucket.addr());
    let gatehouse = Gatehouse::start(setup(
        &registry,
        "policies:\n  default:\n    malicious: {action: block}\n",
        format!("osv:\n  url: {source}\n"),
    ));

    // Serving while all.zip is still on its way.
    let health = gatehouse.get_json("/healthz").await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(
        health["reasons"][0],
        format!("no advisory data for npm yet: the first sync from {source} has not finished"),
        "{health}"
    );
    let answer = decide(&gatehouse, "1.0.1").await;
    assert_eq!(
        answer["action"], "warn",
        "on_stale warn meanwhile: {answer}"
    );
    release.store(true, Ordering::SeqCst);

    let synced = eventually(SETTLE, || async {
        gatehouse.get_json("/healthz").await["status"] == "ok"
    })
    .await;
    let health = gatehouse.get_json("/healthz").await;
    assert!(synced.is_some(), "never healthy: {health}");
    assert_eq!(health["osv"][0]["ecosystem"], "npm", "{health}");
    assert_eq!(health["osv"][0]["records"], 1, "{health}");
    assert_eq!(bucket.hits("/npm/all.zip"), 1);

    let (status, body) = tarball(&gatehouse, "1.0.1").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains(MAL_ID), "{body}");
    let (status, body) = tarball(&gatehouse, "1.0.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (code, text) = osv_status(&gatehouse);
    assert_eq!(code, Some(0), "{text}");
    let npm_row = text
        .lines()
        .find(|line| line.starts_with("npm "))
        .unwrap_or_else(|| panic!("no npm row: {text}"));
    let cells: Vec<&str> = npm_row.split_whitespace().collect();
    assert_eq!(cells[1], "1", "records: {npm_row}");
    assert!(cells[2].starts_with("20"), "last sync time: {npm_row}");
    assert!(cells[3] != "-" && cells[3].len() > 1, "age: {npm_row}");
    assert!(npm_row.ends_with(&source), "source: {npm_row}");

    let metrics = Gatehouse::client()
        .get(format!("{}/metrics", gatehouse.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("gatehouse_osv_records{ecosystem=\"npm\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatehouse_osv_stale{ecosystem=\"npm\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatehouse_osv_age_seconds{ecosystem=\"npm\"}"),
        "{metrics}"
    );
}

/// With the source down: `osv status` exits 1 saying so, `/healthz` answers
/// 200 `degraded` with the reason, the serve log says the sync failed, and
/// each `on_stale` value decides for the policies that read advisories.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_is_down_is_reported_and_on_stale_decides() {
    let registry = registry();
    let bucket = broken_bucket();
    let gatehouse = Gatehouse::start(setup(
        &registry,
        "policies:\n  default:\n    malicious: {action: block}\n",
        format!("osv:\n  url: http://{}\n", bucket.addr()),
    ));

    let failed = eventually(SETTLE, || async {
        gatehouse.get_json("/healthz").await["reasons"][0]
            .as_str()
            .is_some_and(|reason| reason.contains("the last sync failed"))
    })
    .await;
    let health = gatehouse.get_json("/healthz").await;
    assert!(failed.is_some(), "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    let reason = health["reasons"][0].as_str().unwrap_or_default();
    assert!(
        reason.contains("no advisory data for npm") && reason.contains("HTTP 503"),
        "{reason}"
    );
    let log = gatehouse.log();
    assert!(log.contains("OSV sync failed"), "{log}");
    assert!(log.contains("no advisory data for npm"), "{log}");

    let (code, text) = osv_status(&gatehouse);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("npm: STALE: no advisory data for npm") && text.contains("EMPTY"),
        "{text}"
    );

    // on_stale: warn (the default): a version is warned about, not refused.
    let answer = decide(&gatehouse, "1.0.0").await;
    assert_eq!(answer["action"], "warn", "{answer}");
    let verdicts = answer["verdicts"].to_string();
    assert!(
        verdicts.contains("no advisory data for npm") && verdicts.contains("on_stale is warn"),
        "{verdicts}"
    );
    let (status, body) = tarball(&gatehouse, "1.0.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // on_stale: block: refused, with the reason, at the tarball too.
    replace_file(
        &gatehouse.path("gate-policy.yaml"),
        b"policies:\n  default:\n    malicious: {action: block, on_stale: block}\n",
    );
    let blocked = eventually(SETTLE, || async {
        decide(&gatehouse, "1.0.0").await["action"] == "block"
    })
    .await;
    assert!(blocked.is_some(), "{}", decide(&gatehouse, "1.0.0").await);
    let (status, body) = tarball(&gatehouse, "1.0.0").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("on_stale is block"), "{body}");

    // on_stale: allow: the policies' own verdicts stand.
    replace_file(
        &gatehouse.path("gate-policy.yaml"),
        b"policies:\n  default:\n    malicious: {action: block, on_stale: allow}\n    vulnerability: {on_stale: allow}\n",
    );
    let allowed = eventually(SETTLE, || async {
        decide(&gatehouse, "1.0.0").await["action"] == "allow"
    })
    .await;
    assert!(allowed.is_some(), "{}", decide(&gatehouse, "1.0.0").await);
}

/// `osv status` only reads: with no config and a data dir that does not
/// exist, it says the mirror is empty and creates nothing.
#[test]
fn osv_status_writes_no_layout() {
    let parent = tempfile::tempdir().expect("tempdir");
    let data_dir = parent.path().join("never-created");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["osv", "status", "--data-dir"])
        .arg(&data_dir)
        .env("GATEHOUSE_LOG", "error")
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("EMPTY"), "{text}");
    assert!(
        !data_dir.exists(),
        "osv status wrote into {}",
        data_dir.display()
    );
}

/// With `osv.live`, a package the (empty, unsynced) mirror lacks is asked of
/// an OSV-API-shaped `querybatch` (ids only, records from `/v1/vulns/{id}`);
/// the answer blocks the reported version and is reused, not asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_fallback_answers_for_packages_the_mirror_lacks() {
    let registry = registry();
    let api = Listener::bind().serve(|request| match request.path.as_str() {
        "/v1/querybatch" if request.method == "POST" => Reply::ok(
            "application/json",
            format!(
                r#"{{"results": [{{"vulns": [{{"id": "{MAL_ID}", "modified": "2025-09-09T00:00:00Z"}}]}}]}}"#
            )
            .into_bytes(),
        ),
        path if path == format!("/v1/vulns/{MAL_ID}") => {
            Reply::ok("application/json", malicious_record().into_bytes())
        }
        _ => Reply::not_found(),
    });
    let gatehouse = Gatehouse::start(setup(
        &registry,
        "policies:\n  default:\n    malicious: {action: block}\n",
        format!(
            "osv:\n  sync: false\n  live: http://{}\n  live_ttl: 1h\n",
            api.addr()
        ),
    ));

    let answer = decide(&gatehouse, "1.0.1").await;
    assert_eq!(answer["action"], "block", "{answer}");
    assert!(answer.to_string().contains(MAL_ID), "{answer}");
    let (status, body) = tarball(&gatehouse, "1.0.1").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(decide(&gatehouse, "1.0.0").await["action"], "allow");
    let (status, body) = tarball(&gatehouse, "1.0.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(api.hits("/v1/querybatch"), 1, "one query, then the cache");
    assert_eq!(api.hits(&format!("/v1/vulns/{MAL_ID}")), 1);
    let health = gatehouse.get_json("/healthz").await;
    assert_eq!(health["status"], "ok", "sync off watches nothing: {health}");
    let (code, text) = osv_status(&gatehouse);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("live fallback: http://{}", api.addr()))
            && text.contains("EMPTY: only the live fallback answers"),
        "{text}"
    );
}
