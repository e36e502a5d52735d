//! Nothing lost: the audit log after kill -9 mid-write, a SIGTERM during
//! downloads, rotation into several files, and a full disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::fake_npm::{FakeNpm, FakePackage, FakeVersion};
use crate::support::{Gatehouse, Setup, eventually};

const LONG: Duration = Duration::from_secs(60);

/// `gatehouse audit verify PATH`: whether it passed, and what it said.
fn verify(path: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["audit", "verify"])
        .arg(path)
        .env("GATEHOUSE_LOG", "error")
        .output()
        .expect("gatehouse runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn assert_verifies(path: &Path) -> String {
    let (passed, said) = verify(path);
    assert!(passed, "audit verify {}: {said}", path.display());
    said
}

/// Every record of the chain at `dir/audit.log` (rotated files first).
fn records(dir: &Path) -> Vec<Value> {
    let files = gatehouse::capabilities::audit::Files::of(&dir.join("audit.log"));
    let mut paths: Vec<PathBuf> = files
        .rotated()
        .expect("list")
        .into_iter()
        .map(|n| files.numbered(n))
        .collect();
    paths.push(files.live.clone());
    paths
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn empty_layout(extra_config: &str) -> Gatehouse {
    Gatehouse::start(Setup {
        // Refused requests are these tests' load: each must be recorded whole.
        extra_config: format!(
            "{extra_config}limits:\n  auth_failures_per_minute: 1000000000\n  audit_path_bytes: 65536\n"
        ),
        ..Setup::default()
    })
}

/// Clients sending admin calls with a wrong token: each refusal is a long
/// audit line (its path is in the reason); every answered one is remembered.
struct Refusals {
    stop: Arc<AtomicBool>,
    /// How many refusals have been answered so far, all clients together.
    count: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Refusals {
    fn start(url: &str, label: &str, clients: usize, padding: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let tasks = (0..clients)
            .map(|client| {
                let (stop, count, url) = (stop.clone(), count.clone(), url.to_owned());
                let label = format!("{label}-c{client}");
                tokio::spawn(async move {
                    let http = Gatehouse::client();
                    let mut answered = Vec::new();
                    for n in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let marker = format!("{label}-n{n}");
                        let path = format!("{url}/api/v1/admin/{marker}/{}", "x".repeat(padding));
                        match http.get(&path).bearer_auth("wrong").send().await {
                            Ok(r) if r.status() == StatusCode::UNAUTHORIZED => {
                                answered.push(marker);
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            // Killed or stopped under us: the end of this client.
                            _ => break,
                        }
                    }
                    answered
                })
            })
            .collect();
        Refusals { stop, count, tasks }
    }

    /// Waits until the first refusal is answered: a freshly restarted server
    /// on a busy machine may take a while to answer at all.
    async fn until_answering(&self) {
        let started = std::time::Instant::now();
        while self.count.load(Ordering::Relaxed) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no refusal answered within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The markers of the refusals that were answered.
    async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        let mut answered = Vec::new();
        for task in self.tasks {
            answered.extend(task.await.expect("client"));
        }
        answered
    }
}

/// Asserts every marker is in some `auth-failure` record's reason.
fn assert_all_recorded(dir: &Path, markers: &[String]) {
    let recorded: std::collections::HashSet<String> = records(dir)
        .iter()
        .filter(|r| r["event"] == "auth-failure")
        .filter_map(|r| {
            let reason = r["reason"].as_str()?;
            let (_, path) = reason.split_once("/api/v1/admin/")?;
            Some(path.split('/').next()?.to_owned())
        })
        .collect();
    let missing: Vec<&String> = markers.iter().filter(|m| !recorded.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no audit record: {:?}",
        missing.len(),
        markers.len(),
        &missing[..missing.len().min(5)]
    );
}

/// kill -9 while four clients make long audit lines, 20 rounds. Every other
/// round also leaves a torn line the way an interrupted write does. After
/// every restart the whole chain verifies, each tear is named (size and
/// sha256) by a `recovered` record, and every answered request is on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_heavy_audit_writing_loses_nothing_answered() {
    const ROUNDS: usize = 20;
    let mut gatehouse = empty_layout("");
    let dir = gatehouse.dir.path().to_owned();
    let mut tears = Vec::new();
    for round in 0..ROUNDS {
        let load = Refusals::start(&gatehouse.url, &format!("r{round}"), 4, 8 << 10);
        load.until_answering().await;
        // Vary where in the stream the kill lands.
        tokio::time::sleep(Duration::from_millis(150 + (round as u64 * 53) % 250)).await;
        let tear = round % 2 == 1;
        // What the restart must cut: any tail the kill tore, plus our tear.
        let mut cut = Vec::new();
        gatehouse.restart_after(|layout| {
            if tear {
                let bytes = std::fs::read(layout.join("audit.log")).expect("log");
                let whole = bytes.iter().rposition(|&b| b == b'\n').expect("a line") + 1;
                let last_begin = bytes[..whole - 1]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let half = &bytes[last_begin..last_begin + (whole - last_begin) / 2];
                cut = [&bytes[whole..], half].concat();
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(layout.join("audit.log"))
                    .expect("open");
                std::io::Write::write_all(&mut file, half).expect("tear");
            }
        });
        let answered = load.stop().await;
        assert!(
            !answered.is_empty(),
            "round {round}: requests were answered"
        );
        if tear {
            tears.push(hex::encode(Sha256::digest(&cut)));
        }
        // The restarted server has sealed any tear; nothing else is writing.
        let said = assert_verifies(&dir);
        assert_all_recorded(&dir, &answered);
        let recovered: Vec<String> = records(&dir)
            .iter()
            .filter(|r| r["event"] == "recovered")
            .filter_map(|r| r["reason"].as_str().map(str::to_owned))
            .collect();
        for sha in &tears {
            assert!(
                recovered.iter().any(|reason| reason.contains(sha)),
                "round {round}: no recovered record names the cut {sha}: {recovered:?}"
            );
        }
        println!("round {round}: {} answered; {said}", answered.len());
    }
    assert!(verify(&dir).1.contains("torn tails recovered"));
}

/// A tarball download held upstream and a burst of downloads in flight when
/// SIGTERM arrives: new connections are refused at once, the in-flight
/// downloads complete, every answered request has its audit record, the
/// chain verifies and the exit code is 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_downloads_and_refuses_new_requests() {
    const BURST: usize = 6;
    let mut package = FakePackage::new("slow");
    for n in 0..BURST {
        package = package.version(FakeVersion::new(&format!("1.0.{n}")));
    }
    let registry = FakeNpm::start(vec![package]);
    let mut gatehouse = Gatehouse::start(Setup {
        adapters: vec!["npm"],
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: "shutdown_grace: 120s\n".into(),
        ..Setup::default()
    });
    let metadata = Gatehouse::client()
        .get(format!("{}/npm/slow", gatehouse.url))
        .send()
        .await
        .expect("packument");
    assert_eq!(metadata.status(), StatusCode::OK);

    registry.hold_tarballs(true);
    let downloads: Vec<_> = (0..BURST)
        .map(|n| {
            let url = format!("{}/npm/slow/-/slow-1.0.{n}.tgz", gatehouse.url);
            tokio::spawn(async move {
                let response = Gatehouse::client().get(url).send().await?;
                let status = response.status();
                Ok::<_, reqwest::Error>((status, response.bytes().await?))
            })
        })
        .collect();
    let all_upstream = eventually(LONG, || async {
        (0..BURST).all(|n| registry.hits(&format!("/slow/-/slow-1.0.{n}.tgz")) > 0)
    })
    .await;
    assert!(all_upstream.is_some(), "every download reached upstream");

    gatehouse.signal(libc::SIGTERM);
    let address = gatehouse.url.trim_start_matches("http://").to_owned();
    let refused = eventually(LONG, || {
        let address = address.clone();
        async move { tokio::net::TcpStream::connect(&address).await.is_err() }
    })
    .await;
    assert!(
        refused.is_some(),
        "new connections are refused after SIGTERM"
    );
    let late = Gatehouse::client()
        .get(format!("{}/npm/slow", gatehouse.url))
        .send()
        .await;
    assert!(
        late.as_ref().is_err_and(|e| e.is_connect()),
        "a request after the signal is refused: {late:?}"
    );
    assert!(
        gatehouse.exited(Duration::from_millis(500)).await.is_none(),
        "still draining the held downloads"
    );

    registry.hold_tarballs(false);
    for (n, download) in downloads.into_iter().enumerate() {
        let (status, bytes) = download.await.expect("task").expect("download completes");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            Some(bytes.as_ref()),
            registry.tarball("slow", &format!("1.0.{n}"))
        );
    }
    let status = gatehouse.exited(LONG).await.expect("exits after draining");
    assert_eq!(status.code(), Some(0), "a clean drain exits 0");

    let dir = gatehouse.dir.path();
    assert_verifies(dir);
    let serves: Vec<String> = records(dir)
        .iter()
        .filter(|r| r["event"] == "serve" && r["package"] == "slow")
        .filter_map(|r| r["version"].as_str().map(str::to_owned))
        .collect();
    for n in 0..BURST {
        assert!(
            serves.contains(&format!("1.0.{n}")),
            "slow@1.0.{n} was served and audited: {serves:?}"
        );
    }
}

/// A second signal while draining exits at once (130), without waiting for
/// the held download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("held").version(FakeVersion::new("1.0.0")),
    ]);
    let mut gatehouse = Gatehouse::start(Setup {
        adapters: vec!["npm"],
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: "shutdown_grace: 600s\n".into(),
        ..Setup::default()
    });
    registry.hold_tarballs(true);
    let url = format!("{}/npm/held/-/held-1.0.0.tgz", gatehouse.url);
    let held = tokio::spawn(async move { Gatehouse::client().get(url).send().await });
    let reached = eventually(LONG, || async {
        registry.hits("/held/-/held-1.0.0.tgz") > 0
    })
    .await;
    assert!(reached.is_some(), "the download reached upstream");
    gatehouse.signal(libc::SIGTERM);
    assert!(
        gatehouse.exited(Duration::from_millis(500)).await.is_none(),
        "the first signal drains"
    );
    gatehouse.signal(libc::SIGINT);
    let status = gatehouse
        .exited(LONG)
        .await
        .expect("the second signal ends it");
    assert_eq!(status.code(), Some(130));
    assert!(
        held.await.expect("task").is_err(),
        "the held request was cut off"
    );
}

/// Records across at least three rotated files verify as one chain; an
/// admin query finds the oldest record (in the first file) through the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_files_verify_as_one_chain_and_old_records_are_queried() {
    let mut gatehouse = empty_layout("audit:\n  rotate_size: 64KiB\n");
    let first = gatehouse.decide("npm", "the-first-record", "1.0.0").await;
    assert_eq!(first, "allow");
    let dir = gatehouse.dir.path().to_owned();
    let files = gatehouse::capabilities::audit::Files::of(&dir.join("audit.log"));
    let load = Refusals::start(&gatehouse.url, "rotation", 2, 4 << 10);
    let rotated = eventually(LONG, || async { files.rotated().expect("list").len() >= 3 }).await;
    let answered = load.stop().await;
    assert!(rotated.is_some(), "three rotated files");

    let page = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?package=the-first-record")
        .await;
    let found = page["records"].as_array().expect("records");
    assert_eq!(found.len(), 1, "{page}");
    assert_eq!(found[0]["event"], "check");
    let first_file = std::fs::read_to_string(files.numbered(1)).expect("first file");
    assert!(first_file.contains("the-first-record"));
    let newest = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?event=auth-failure&limit=1")
        .await;
    assert!(
        newest["records"][0]["line"].as_u64() > found[0]["line"].as_u64(),
        "line numbers run across files: {newest}"
    );

    gatehouse.signal(libc::SIGTERM);
    let status = gatehouse.exited(LONG).await.expect("exits");
    assert_eq!(status.code(), Some(0));
    let said = assert_verifies(&dir);
    let rotated_files = files.rotated().expect("list").len();
    assert!(
        said.contains(&format!("in {} files", rotated_files + 1)),
        "{said}"
    );
    assert_all_recorded(&dir, &answered);
}

/// Unmounts (lazily) when dropped, after the server using it is gone.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The audit log on a 1 MiB tmpfs that is then filled: requests answer 503
/// with the reason (and /healthz says so) instead of being served unaudited;
/// when space is freed, service resumes, every answered request has its
/// record and the chain verifies. Needs `mount` (root); skipped without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_until_space_returns() {
    let outside = tempfile::tempdir().expect("tempdir");
    let audit_dir = outside.path().join("auditfs");
    std::fs::create_dir_all(&audit_dir).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&audit_dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _mount = Mount(audit_dir.clone());
    let mut gatehouse = empty_layout(&format!(
        "audit:\n  path: {}\n",
        audit_dir.join("audit.log").display()
    ));
    let http = Gatehouse::client();
    let decide = |name: String| {
        let (http, url) = (http.clone(), gatehouse.url.clone());
        async move {
            let response = http
                .get(format!(
                    "{url}/api/v1/decide?ecosystem=npm&name={name}&version=1.0.0"
                ))
                .send()
                .await
                .expect("answered");
            let status = response.status();
            (status, response.text().await.unwrap_or_default())
        }
    };
    let mut answered = Vec::new();
    let name = |n: usize| format!("pkg-{n}-{}", "y".repeat(200));
    for n in 0..5 {
        let (status, _) = decide(name(n)).await;
        assert_eq!(status, StatusCode::OK);
        answered.push(name(n));
    }

    // Fill the filesystem.
    let filler = audit_dir.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler");
    while std::io::Write::write_all(&mut file, &[0u8; 4096]).is_ok() {}
    drop(file);

    let mut refused = None;
    for n in 5..2_000 {
        let (status, body) = decide(name(n)).await;
        match status {
            StatusCode::OK => answered.push(name(n)),
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some(body);
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let refused = refused.expect("a full disk is answered 503");
    assert!(
        refused.contains("audit log cannot be written") && refused.contains("space"),
        "{refused}"
    );
    let (status, body) = decide(name(9_999)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let health = http
        .get(format!("{}/healthz", gatehouse.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);

    std::fs::remove_file(&filler).expect("free the space");
    let resumed = eventually(LONG, || {
        let decide = decide(name(10_000));
        async move { decide.await.0 == StatusCode::OK }
    })
    .await;
    assert!(resumed.is_some(), "service resumes once space returns");
    answered.push(name(10_000));

    gatehouse.signal(libc::SIGTERM);
    let status = gatehouse.exited(LONG).await.expect("exits");
    assert_eq!(status.code(), Some(0));
    assert_verifies(&audit_dir);
    let checked: Vec<String> = records(&audit_dir)
        .iter()
        .filter(|r| r["event"] == "check")
        .filter_map(|r| r["package"].as_str().map(str::to_owned))
        .collect();
    for name in &answered {
        assert!(
            checked.contains(name),
            "{name} was answered without a record"
        );
    }
}

/// `gatehouse audit verify` names a line that was altered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_fails_on_an_altered_line() {
    let mut gatehouse = empty_layout("");
    gatehouse.decide("npm", "honest", "1.0.0").await;
    gatehouse.signal(libc::SIGTERM);
    gatehouse.exited(LONG).await.expect("exits");
    let log = gatehouse.path("audit.log");
    let text = std::fs::read_to_string(&log).expect("log");
    std::fs::write(&log, text.replace("honest", "hacked")).expect("alter");
    let altered = text
        .lines()
        .position(|line| line.contains("honest"))
        .expect("the record")
        + 1;
    let (passed, said) = verify(gatehouse.dir.path());
    assert!(
        !passed && said.contains(&format!("line {altered}:")),
        "{said}"
    );
}

/// kill -9 while an artifact download is in flight: after the restart the
/// same artifact is fetched again, verified and served whole, and the chain
/// verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_an_artifact_download_serves_only_verified_bytes() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("interrupted").version(FakeVersion::new("1.0.0")),
    ]);
    let mut gatehouse = Gatehouse::start(Setup {
        adapters: vec!["npm"],
        upstreams: vec![("npm".into(), registry.url())],
        ..Setup::default()
    });
    let tarball = "/interrupted/-/interrupted-1.0.0.tgz";
    registry.hold_tarballs(true);
    let url = format!("{}/npm{tarball}", gatehouse.url);
    let cut_off = tokio::spawn(async move { Gatehouse::client().get(url).send().await });
    let reached = eventually(LONG, || async { registry.hits(tarball) > 0 }).await;
    assert!(reached.is_some(), "the download reached upstream");
    gatehouse.restart();
    assert!(
        cut_off.await.expect("task").is_err(),
        "the killed request got no answer"
    );
    registry.hold_tarballs(false);

    let response = Gatehouse::client()
        .get(format!("{}/npm{tarball}", gatehouse.url))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.expect("body");
    assert_eq!(
        Some(bytes.as_ref()),
        registry.tarball("interrupted", "1.0.0")
    );
    gatehouse.signal(libc::SIGTERM);
    assert_eq!(gatehouse.exited(LONG).await.expect("exits").code(), Some(0));
    assert_verifies(gatehouse.dir.path());
}

/// kill -9 in the middle of an OSV import, three times: the database opens
/// each time and a full import then completes with every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_an_osv_import_leaves_a_database_that_opens() {
    const RECORDS: usize = 20_000;
    let layout = tempfile::tempdir().expect("tempdir");
    let root = layout.path();
    std::fs::write(root.join("gatehouse.yaml"), "data_dir: .\nupstreams: {}\n").expect("config");
    let bundle = root.join("bundle");
    std::fs::create_dir_all(&bundle).expect("mkdir");
    for n in 0..RECORDS {
        std::fs::write(
            bundle.join(format!("GHSA-kill-{n:04}.json")),
            format!(
                r#"{{"id": "GHSA-kill-{n:04}", "modified": "2025-01-01T00:00:00Z", "summary": "record {n}",
                    "affected": [{{"package": {{"ecosystem": "npm", "name": "pkg-{n}"}},
                      "ranges": [{{"type": "SEMVER", "events": [{{"introduced": "0"}}, {{"fixed": "1.2.0"}}]}}]}}]}}"#
            ),
        )
        .expect("record");
    }
    let gatehouse = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        command
            .args(args)
            .arg("--config")
            .arg(root.join("gatehouse.yaml"))
            .env("GATEHOUSE_LOG", "error");
        command
    };
    let bundle_arg = bundle.to_str().expect("a UTF-8 path");
    let mut interrupted = 0;
    for round in 0..6 {
        let mut import = gatehouse(&["osv", "import", bundle_arg])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("import starts");
        tokio::time::sleep(Duration::from_millis(300 + 150 * round)).await;
        if import.try_wait().expect("status").is_none() {
            interrupted += 1;
        }
        let _ = import.kill();
        let _ = import.wait();
        let status = gatehouse(&["osv", "status"]).output().expect("status runs");
        // 0, or 1 for a mirror still empty; 2 would be a database that does not open.
        assert!(
            matches!(status.status.code(), Some(0 | 1)),
            "round {round}: the database opens: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    assert!(interrupted > 0, "at least one kill landed during an import");
    let import = gatehouse(&["osv", "import", bundle_arg])
        .output()
        .expect("import runs");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let status = gatehouse(&["osv", "status"]).output().expect("status runs");
    let table = String::from_utf8_lossy(&status.stdout);
    let npm: Vec<&str> = table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&"npm"))
        .expect("an npm row");
    assert_eq!(npm.get(1), Some(&RECORDS.to_string().as_str()), "{table}");
}
