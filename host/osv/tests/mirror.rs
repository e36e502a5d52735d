//! Integration tests of the OSV mirror: the real PyPI bundle, idempotent and
//! replacing imports, corrupt input, advisory fields, concurrent queries, and
//! incremental sync against a local HTTP server laid out like the OSV bucket.

// Tests prepare and inspect files directly; blocking a test's runtime is fine.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_osv::{Mirror, Severity, reqwest, sync};
use serde_json::json;

const PYPI_BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/osv/PyPI/all.zip"
);

fn ids(hits: &[gatehouse_osv::Advisory]) -> Vec<&str> {
    hits.iter().map(|a| a.id.as_str()).collect()
}

fn affected_by(mirror: &Mirror, ecosystem: &str, name: &str, version: &str) -> Vec<String> {
    let hits = mirror
        .affecting(ecosystem, name, &[version])
        .expect("query works");
    hits[0].iter().map(|a| a.id.clone()).collect()
}

fn record(id: &str, modified: &str, ecosystem: &str, name: &str, fixed: &str) -> Vec<u8> {
    json!({
        "id": id,
        "modified": modified,
        "summary": format!("{id} summary"),
        "affected": [{
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
        }],
    })
    .to_string()
    .into_bytes()
}

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).expect("create zip");
    let mut zip = zip::ZipWriter::new(file);
    for (name, bytes) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        zip.write_all(bytes).expect("zip data");
    }
    zip.finish().expect("zip finish");
}

#[test]
fn real_pypi_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mirror = Mirror::open(&dir.path().join("osv.db")).expect("open");
    let report = mirror
        .import_path(Path::new(PYPI_BUNDLE))
        .expect("bundle readable");
    assert_eq!(report.skipped, vec![], "nothing skipped");
    assert_eq!(report.imported, 2661);
    let generation = mirror.generation();
    assert!(generation > 0);

    // aiohttp-session <= 2.6.0, fixed in 2.7.0
    let hits = mirror
        .affecting("PyPI", "aiohttp-session", &["2.6.0", "2.7.0"])
        .expect("query");
    assert!(ids(&hits[0]).contains(&"PYSEC-2018-35"));
    assert!(!ids(&hits[1]).contains(&"PYSEC-2018-35"));
    let advisory = hits[0]
        .iter()
        .find(|a| a.id == "PYSEC-2018-35")
        .expect("present");
    assert_eq!(advisory.fixed, vec!["2.7.0".to_owned()]);
    assert!(advisory.aliases.contains(&"CVE-2018-1000814".to_owned()));
    assert!(advisory.summary.starts_with("aio-libs aiohttp-session"));
    assert!(!advisory.malicious);
    assert_eq!(advisory.modified, 1_625_193_692); // 2021-07-02T02:41:32.834524Z

    // PEP 503 spellings of the same name
    for name in ["Aiohttp_Session", "aiohttp.session", "AIOHTTP--session"] {
        assert!(
            affected_by(&mirror, "PyPI", name, "2.6.0").contains(&"PYSEC-2018-35".to_owned()),
            "{name}"
        );
    }

    // adyen: introduced 2.2.0, fixed 7.1.0
    for v in ["2.2.0", "3.1.0", "6.0.0", "7.0.0", "7.0.5"] {
        assert!(
            affected_by(&mirror, "PyPI", "adyen", v).contains(&"PYSEC-2023-1".to_owned()),
            "adyen {v}"
        );
    }
    for v in ["2.1.0", "7.1.0", "8.0.0"] {
        assert!(
            !affected_by(&mirror, "PyPI", "adyen", v).contains(&"PYSEC-2023-1".to_owned()),
            "adyen {v}"
        );
    }

    // Re-importing changes nothing.
    let again = mirror.import_path(Path::new(PYPI_BUNDLE)).expect("again");
    assert_eq!(again.imported, 0);
    assert_eq!(again.unchanged, 2661);
    assert_eq!(mirror.generation(), generation);

    let status = mirror.status().expect("status");
    let pypi = status
        .iter()
        .find(|s| s.ecosystem == "PyPI")
        .expect("PyPI row");
    assert!(pypi.records > 2600, "{pypi:?}");
    assert_eq!(pypi.last_sync, None);

    // Reopening keeps records and generation.
    drop(mirror);
    let reopened = Mirror::open(&dir.path().join("osv.db")).expect("reopen");
    assert_eq!(reopened.generation(), generation);
    assert!(affected_by(&reopened, "PyPI", "adyen", "7.0.0").contains(&"PYSEC-2023-1".to_owned()));
}

#[test]
fn import_is_idempotent_and_newer_records_replace_all_rows() {
    let mirror = Mirror::open_in_memory().expect("open");
    let v1 = record("TEST-1", "2024-01-01T00:00:00Z", "npm", "left-pad", "1.3.0");
    let report = mirror.import_records([("TEST-1.json".to_owned(), v1.clone())]);
    assert_eq!((report.imported, report.unchanged), (1, 0));
    let g1 = mirror.generation();
    assert_eq!(affected_by(&mirror, "npm", "left-pad", "1.0.0"), ["TEST-1"]);

    let report = mirror.import_records([("TEST-1.json".to_owned(), v1.clone())]);
    assert_eq!((report.imported, report.unchanged), (0, 1));
    assert_eq!(mirror.generation(), g1);

    // A newer version names another package: the old rows go entirely.
    let v2 = record(
        "TEST-1",
        "2024-02-01T00:00:00Z",
        "npm",
        "right-pad",
        "2.0.0",
    );
    let report = mirror.import_records([("TEST-1.json".to_owned(), v2)]);
    assert_eq!(report.imported, 1);
    assert!(mirror.generation() > g1);
    assert!(affected_by(&mirror, "npm", "left-pad", "1.0.0").is_empty());
    assert_eq!(
        affected_by(&mirror, "npm", "right-pad", "1.0.0"),
        ["TEST-1"]
    );

    // The older version arriving late does not win.
    let g2 = mirror.generation();
    let report = mirror.import_records([("TEST-1.json".to_owned(), v1)]);
    assert_eq!((report.imported, report.unchanged), (0, 1));
    assert_eq!(mirror.generation(), g2);
    assert!(affected_by(&mirror, "npm", "left-pad", "1.0.0").is_empty());
}

#[test]
fn withdrawn_records_never_match() {
    let mirror = Mirror::open_in_memory().expect("open");
    let mut rec: serde_json::Value = serde_json::from_slice(&record(
        "TEST-W",
        "2024-01-01T00:00:00Z",
        "npm",
        "x",
        "2.0.0",
    ))
    .expect("json");
    assert_eq!(affected_by_record(&mirror, &rec), ["TEST-W"]);
    rec["modified"] = json!("2024-03-01T00:00:00Z");
    rec["withdrawn"] = json!("2024-03-01T00:00:00Z");
    assert!(affected_by_record(&mirror, &rec).is_empty());
}

fn affected_by_record(mirror: &Mirror, rec: &serde_json::Value) -> Vec<String> {
    mirror.import_records([("r.json".to_owned(), rec.to_string().into_bytes())]);
    affected_by(mirror, "npm", "x", "1.0.0")
}

#[test]
fn advisory_fields() {
    let mirror = Mirror::open_in_memory().expect("open");
    let records = [
        json!({
            "id": "MAL-2024-1", "modified": "2024-05-01T10:00:00Z",
            "summary": "Malicious code in evil-pkg",
            "affected": [{"package": {"ecosystem": "npm", "name": "evil-pkg"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}],
        }),
        json!({
            "id": "GHSA-aaaa-bbbb-cccc", "modified": "2024-05-01T10:00:00.5Z",
            "aliases": ["CVE-2024-0001"],
            "details": "First line of details.\nSecond line.",
            "severity": [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:L/A:N"},
                {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}
            ],
            "affected": [
                {"package": {"ecosystem": "crates.io", "name": "Some_Crate"},
                 "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.0.0-0"}, {"fixed": "1.2.0"}]}]},
                {"package": {"ecosystem": "crates.io", "name": "Some_Crate"},
                 "ranges": [{"type": "SEMVER", "events": [{"introduced": "2.0.0"}, {"fixed": "2.0.3"}]},
                            {"type": "GIT", "repo": "r", "events": [{"introduced": "0"}, {"fixed": "abc123"}]}]}
            ],
        }),
        json!({
            "id": "GHSA-dddd-eeee-ffff", "modified": "2024-05-01T10:00:00Z",
            "database_specific": {"severity": "MODERATE"},
            "affected": [{"package": {"ecosystem": "Go", "name": "example.com/mod"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.4.0"}]}]}],
        }),
        json!({
            "id": "GO-2024-0002", "modified": "2024-05-01T10:00:00Z",
            "affected": [{"package": {"ecosystem": "Go", "name": "example.com/mod"},
                          "ecosystem_specific": {"severity": "HIGH"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"last_affected": "1.3.0"}]}]}],
        }),
    ];
    let report = mirror.import_records(records.iter().map(|r| {
        (
            format!("{}.json", r["id"].as_str().unwrap_or("?")),
            r.to_string().into_bytes(),
        )
    }));
    assert_eq!(report.imported, 4, "{report:?}");

    let mal = &mirror.affecting("npm", "evil-pkg", &["1.0.0"]).expect("q")[0][0];
    assert!(mal.malicious);
    assert_eq!(mal.severity, Severity::Unknown);
    assert_eq!(mal.score, None);
    assert_eq!(mal.summary, "Malicious code in evil-pkg");

    let hits = mirror
        .affecting(
            "crates.io",
            "some-crate",
            &["1.1.9", "1.2.0", "2.0.2", "2.0.3"],
        )
        .expect("q");
    assert_eq!(hits.iter().map(Vec::len).collect::<Vec<_>>(), [1, 0, 1, 0]);
    let gh = &hits[0][0];
    assert_eq!(gh.score, Some(9.3), "highest of 4.3 (v3.1) and 9.3 (v4.0)");
    assert_eq!(gh.severity, Severity::Critical);
    assert_eq!(gh.fixed, ["1.2.0", "2.0.3"]);
    assert_eq!(gh.aliases, ["CVE-2024-0001"]);
    assert_eq!(gh.summary, "First line of details.");
    assert_eq!(gh.modified, 1_714_557_600);

    let go = mirror
        .affecting("Go", "example.com/mod", &["v1.3.0", "v1.3.1"])
        .expect("q");
    let mut first: Vec<(&str, Severity)> =
        go[0].iter().map(|a| (a.id.as_str(), a.severity)).collect();
    first.sort();
    assert_eq!(
        first,
        [
            ("GHSA-dddd-eeee-ffff", Severity::Medium),
            ("GO-2024-0002", Severity::High)
        ]
    );
    assert_eq!(ids(&go[1]), ["GHSA-dddd-eeee-ffff"]);

    // Unknown packages and ecosystems answer empty, one list per version.
    let none = mirror
        .affecting("Hackage", "nothing", &["1", "2", "3"])
        .expect("q");
    assert_eq!(none, vec![Vec::new(), Vec::new(), Vec::new()]);
}

#[test]
fn corrupt_input_is_skipped_and_the_rest_imports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mirror = Mirror::open(&dir.path().join("osv.db")).expect("open");
    let earlier = record("OLD-1", "2024-01-01T00:00:00Z", "PyPI", "old", "1.0");
    assert_eq!(
        mirror
            .import_records([("OLD-1.json".to_owned(), earlier)])
            .imported,
        1
    );

    // A folder with one good record, one that is not JSON, one without id.
    let folder = dir.path().join("records");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(
        folder.join("GOOD-1.json"),
        record("GOOD-1", "2024-01-01T00:00:00Z", "PyPI", "good", "1.0"),
    )
    .expect("w");
    std::fs::write(
        folder.join("BAD-1.json"),
        b"{\"id\": \"BAD-1\", \"affected\": [",
    )
    .expect("w");
    std::fs::write(
        folder.join("NOID-1.json"),
        b"{\"modified\": \"2024-01-01T00:00:00Z\"}",
    )
    .expect("w");
    let report = mirror.import_path(&folder).expect("folder");
    assert_eq!(report.imported, 1);
    let mut skipped: Vec<(&str, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.file.as_str(), s.reason.as_str()))
        .collect();
    skipped.sort();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, "BAD-1.json");
    assert!(
        skipped[0].1.contains("not an OSV JSON record"),
        "{}",
        skipped[0].1
    );
    assert_eq!(skipped[1], ("NOID-1.json", "record has no `id`"));

    // A truncated zip: the entries before the damage import, the rest is reported.
    let zip_path = dir.path().join("all.zip");
    let big_details = "x".repeat(20_000);
    let entries: Vec<(String, Vec<u8>)> = (1..=6)
        .map(|i| {
            let mut r: serde_json::Value = serde_json::from_slice(&record(
                &format!("ZIP-{i}"),
                "2024-01-01T00:00:00Z",
                "PyPI",
                &format!("zipped-{i}"),
                "1.0",
            ))
            .expect("json");
            r["details"] = json!(format!("{i}{big_details}"));
            (format!("ZIP-{i}.json"), r.to_string().into_bytes())
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    write_zip(&zip_path, &refs);
    let bytes = std::fs::read(&zip_path).expect("read zip");
    std::fs::write(&zip_path, &bytes[..bytes.len() * 6 / 10]).expect("truncate");
    let report = mirror.import_path(&zip_path).expect("zip path readable");
    assert!(report.imported >= 1, "{report:?}");
    assert!(report.imported < 6, "{report:?}");
    assert!(
        report.skipped.iter().any(|s| s.file == "all.zip"),
        "{report:?}"
    );
    assert_eq!(affected_by(&mirror, "PyPI", "zipped-1", "0.5"), ["ZIP-1"]);

    // Garbage named .zip
    std::fs::write(dir.path().join("junk.zip"), b"not a zip at all").expect("w");
    let report = mirror
        .import_path(&dir.path().join("junk.zip"))
        .expect("readable");
    assert_eq!(report.imported, 0);
    assert!(!report.skipped.is_empty());

    // A missing path is an error, not a panic.
    assert!(mirror.import_path(&dir.path().join("missing.zip")).is_err());

    // Nothing imported before was lost.
    assert_eq!(affected_by(&mirror, "PyPI", "old", "0.9"), ["OLD-1"]);
    assert_eq!(affected_by(&mirror, "PyPI", "good", "0.9"), ["GOOD-1"]);
}

#[test]
fn queries_from_many_threads_during_an_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mirror = Mirror::open(&dir.path().join("osv.db")).expect("open");
    mirror.import_records([(
        "BASE.json".to_owned(),
        record("BASE-1", "2024-01-01T00:00:00Z", "npm", "base", "2.0.0"),
    )]);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let mirror = mirror.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) || n == 0 {
                    let hits = mirror.affecting("npm", "base", &["1.0.0"]).expect("query");
                    assert_eq!(hits[0].len(), 1);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let records: Vec<(String, Vec<u8>)> = (0..20_000)
        .map(|i| {
            (
                format!("N-{i}.json"),
                record(
                    &format!("N-{i}"),
                    "2024-01-01T00:00:00Z",
                    "npm",
                    &format!("p{i}"),
                    "1.0.0",
                ),
            )
        })
        .collect();
    let report = mirror.import_records(records);
    stop.store(true, Ordering::Relaxed);
    let queries: u64 = workers
        .into_iter()
        .map(|w| w.join().expect("no panic"))
        .sum();
    assert_eq!(report.imported, 20_000);
    assert!(queries > 0);
    assert_eq!(affected_by(&mirror, "npm", "p19999", "0.1.0"), ["N-19999"]);
}

/// A tiny HTTP/1.1 file server on 127.0.0.1 that counts requests per path.
/// Paths containing `BROKEN` answer 500; a path with a `{path}.redirect` file
/// answers 302 to the location it holds. Stops when dropped (or after 2 minutes).
struct Bucket {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Bucket {
    fn serve(root: PathBuf) -> Bucket {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (Arc::clone(&hits), Arc::clone(&stop));
        std::thread::spawn(move || {
            let started = Instant::now();
            while !s.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
                match listener.accept() {
                    Ok((stream, _)) => handle(stream, &root, &h),
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Bucket { base, hits, stop }
    }

    fn hits(&self) -> HashMap<String, usize> {
        self.hits.lock().expect("hits").clone()
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn handle(stream: TcpStream, root: &Path, hits: &Mutex<HashMap<String, usize>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    *hits.lock().expect("hits").entry(path.clone()).or_default() += 1;
    let file = root.join(path.trim_start_matches('/'));
    let redirect = root.join(format!("{}.redirect", path.trim_start_matches('/')));
    let (status, body) = if path.contains("BROKEN") {
        ("500 Internal Server Error", b"boom".to_vec())
    } else if let Ok(location) = std::fs::read_to_string(redirect) {
        let mut stream = stream;
        let head = format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = stream.write_all(head.as_bytes());
        return;
    } else {
        match std::fs::read(&file) {
            Ok(body) => ("200 OK", body),
            Err(_) => ("404 Not Found", b"not found".to_vec()),
        }
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}

fn write_bucket_ecosystem(root: &Path, ecosystem: &str, records: &[(&str, &str, Vec<u8>)]) {
    let dir = root.join(ecosystem);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let entries: Vec<(String, &[u8])> = records
        .iter()
        .map(|(id, _, bytes)| (format!("{id}.json"), bytes.as_slice()))
        .collect();
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    write_zip(&dir.join("all.zip"), &refs);
    let mut csv = String::new();
    let mut sorted: Vec<_> = records.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1));
    for (id, modified, bytes) in sorted {
        csv.push_str(&format!("{modified},{id}\n"));
        std::fs::write(dir.join(format!("{id}.json")), bytes).expect("record file");
    }
    std::fs::write(dir.join("modified_id.csv"), csv).expect("csv");
}

fn prepend_csv(root: &Path, ecosystem: &str, line: &str) {
    let path = root.join(ecosystem).join("modified_id.csv");
    let old = std::fs::read_to_string(&path).expect("csv");
    std::fs::write(&path, format!("{line}\n{old}")).expect("csv");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sync_fetches_only_new_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("bucket");
    let pypi = [
        (
            "PYSEC-1",
            "2024-01-01T00:00:00Z",
            record("PYSEC-1", "2024-01-01T00:00:00Z", "PyPI", "alpha", "1.0"),
        ),
        (
            "PYSEC-2",
            "2024-02-01T00:00:00.123456Z",
            record(
                "PYSEC-2",
                "2024-02-01T00:00:00.123456Z",
                "PyPI",
                "beta",
                "2.0",
            ),
        ),
    ];
    let crates = [(
        "RUSTSEC-1",
        "2024-01-15T00:00:00Z",
        json!({
            "id": "RUSTSEC-1", "modified": "2024-01-15T00:00:00Z",
            "affected": [{"package": {"ecosystem": "crates.io", "name": "gamma"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.0.0-0"}, {"fixed": "0.3.0"}]}]}],
        })
        .to_string()
        .into_bytes(),
    )];
    write_bucket_ecosystem(&root, "PyPI", &pypi);
    write_bucket_ecosystem(&root, "crates.io", &crates);
    let bucket = Bucket::serve(root.clone());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mirror = Mirror::open(&dir.path().join("osv.db")).expect("open");
    let ecosystems = vec!["PyPI".to_owned(), "crates.io".to_owned()];

    // First sync: csv + all.zip per ecosystem.
    let report = sync(&mirror, &client, &format!("{}/", bucket.base), &ecosystems)
        .await
        .expect("first sync");
    assert!(report.ecosystems.iter().all(|e| e.full));
    assert_eq!(report.ecosystems[0].import.imported, 2);
    assert_eq!(report.ecosystems[1].import.imported, 1);
    assert_eq!(affected_by(&mirror, "PyPI", "Beta", "1.5"), ["PYSEC-2"]);
    assert_eq!(
        affected_by(&mirror, "crates.io", "gamma", "0.2.9"),
        ["RUSTSEC-1"]
    );
    let status = mirror.status().expect("status");
    let pypi_status = status.iter().find(|s| s.ecosystem == "PyPI").expect("row");
    assert_eq!(
        pypi_status.cursor.as_deref(),
        Some("2024-02-01T00:00:00.123456Z")
    );
    assert_eq!(pypi_status.records, 2);
    assert!(pypi_status.last_sync.is_some());
    let g1 = mirror.generation();

    // Nothing new: only the csv is read.
    let report = sync(&mirror, &client, &bucket.base, &ecosystems)
        .await
        .expect("no-op sync");
    assert!(report.ecosystems.iter().all(|e| !e.full && e.fetched == 0));
    assert_eq!(mirror.generation(), g1);

    // A new record appears.
    let new = record("PYSEC-3", "2024-03-01T00:00:00Z", "PyPI", "delta", "3.0");
    std::fs::write(root.join("PyPI/PYSEC-3.json"), new).expect("w");
    prepend_csv(&root, "PyPI", "2024-03-01T00:00:00Z,PYSEC-3");
    let report = sync(&mirror, &client, &bucket.base, &ecosystems)
        .await
        .expect("incremental");
    assert_eq!(report.ecosystems[0].fetched, 1);
    assert_eq!(report.ecosystems[0].import.imported, 1);
    assert!(mirror.generation() > g1);
    assert_eq!(affected_by(&mirror, "PyPI", "delta", "2.9"), ["PYSEC-3"]);

    let hits = bucket.hits();
    let mut record_paths: Vec<&String> = hits.keys().filter(|p| p.ends_with(".json")).collect();
    record_paths.sort();
    assert_eq!(record_paths, [&"/PyPI/PYSEC-3.json".to_owned()], "{hits:?}");
    assert_eq!(hits.get("/PyPI/PYSEC-3.json"), Some(&1));
    assert_eq!(hits.get("/PyPI/all.zip"), Some(&1));
    assert_eq!(hits.get("/crates.io/all.zip"), Some(&1));
    assert_eq!(hits.get("/PyPI/modified_id.csv"), Some(&3));
    assert_eq!(hits.get("/crates.io/modified_id.csv"), Some(&3));

    // A server error: the sync fails and the cursor stays, then recovers.
    prepend_csv(&root, "PyPI", "2024-04-01T00:00:00Z,BROKEN-1");
    let err = sync(&mirror, &client, &bucket.base, &ecosystems)
        .await
        .expect_err("500 is an error");
    assert!(err.to_string().contains("PyPI"), "{err}");
    let status = mirror.status().expect("status");
    let pypi_status = status.iter().find(|s| s.ecosystem == "PyPI").expect("row");
    assert_eq!(pypi_status.cursor.as_deref(), Some("2024-03-01T00:00:00Z"));
    assert_eq!(pypi_status.source.as_deref(), Some(bucket.base.as_str()));
    let said = pypi_status.last_error.as_deref().unwrap_or_default();
    assert!(said.contains("HTTP 500"), "the failure is kept: {said:?}");
    assert!(pypi_status.last_attempt >= pypi_status.last_sync);
    let crates_status = status
        .iter()
        .find(|s| s.ecosystem == "crates.io")
        .expect("row");
    assert_eq!(
        crates_status.cursor.as_deref(),
        Some("2024-01-15T00:00:00Z")
    );

    // A record listed but gone (404) is skipped, not fatal.
    let csv_path = root.join("PyPI/modified_id.csv");
    let csv = std::fs::read_to_string(&csv_path).expect("csv");
    std::fs::write(&csv_path, csv.replace("BROKEN-1", "GONE-1")).expect("csv");
    let report = sync(&mirror, &client, &bucket.base, &ecosystems)
        .await
        .expect("recovers");
    assert_eq!(report.ecosystems[0].import.skipped.len(), 1);
    assert_eq!(
        report.ecosystems[0].cursor.as_deref(),
        Some("2024-04-01T00:00:00Z")
    );
    let status = mirror.status().expect("status");
    let pypi_status = status.iter().find(|s| s.ecosystem == "PyPI").expect("row");
    assert_eq!(pypi_status.last_error, None, "a success clears the failure");

    // An ecosystem the bucket does not have is an error naming it.
    let err = sync(&mirror, &client, &bucket.base, &["Hackage".to_owned()])
        .await
        .expect_err("404 csv");
    assert!(err.to_string().contains("Hackage"), "{err}");
}

#[test]
fn a_failing_batch_rolls_back_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("osv.db");
    let mirror = Mirror::open(&path).expect("open");
    let g0 = mirror.generation();
    // Make the database refuse one package mid-batch.
    let side = rusqlite::Connection::open(&path).expect("side connection");
    side.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON affected WHEN NEW.name = 'boom'
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .expect("trigger");
    let report = mirror.import_records([
        (
            "A.json".to_owned(),
            record("A-1", "2024-01-01T00:00:00Z", "npm", "fine-a", "1.0.0"),
        ),
        (
            "B.json".to_owned(),
            record("B-1", "2024-01-01T00:00:00Z", "npm", "boom", "1.0.0"),
        ),
        (
            "C.json".to_owned(),
            record("C-1", "2024-01-01T00:00:00Z", "npm", "fine-c", "1.0.0"),
        ),
    ]);
    assert_eq!(report.imported, 0);
    assert_eq!(report.skipped.len(), 3, "{report:?}");
    assert!(
        report.skipped[0].reason.contains("injected failure"),
        "{report:?}"
    );
    assert_eq!(mirror.generation(), g0);
    assert!(affected_by(&mirror, "npm", "fine-a", "0.1.0").is_empty());

    side.execute_batch("DROP TRIGGER refuse;")
        .expect("drop trigger");
    let report = mirror.import_records([(
        "A.json".to_owned(),
        record("A-1", "2024-01-01T00:00:00Z", "npm", "fine-a", "1.0.0"),
    )]);
    assert_eq!(report.imported, 1);
    assert_eq!(affected_by(&mirror, "npm", "fine-a", "0.1.0"), ["A-1"]);
}

/// The live fallback: one `querybatch` per package (ids only here, records
/// from `/v1/vulns/{id}`), matched like the mirror, then reused for the TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_fallback_asks_once_per_ttl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    std::fs::create_dir_all(root.join("v1/vulns")).expect("mkdir");
    std::fs::write(
        root.join("v1/querybatch"),
        r#"{"results": [{"vulns": [{"id": "GHSA-live-0001", "modified": "2024-01-01T00:00:00Z"}]}]}"#,
    )
    .expect("answer");
    std::fs::write(
        root.join("v1/vulns/GHSA-live-0001"),
        record(
            "GHSA-live-0001",
            "2024-01-01T00:00:00Z",
            "npm",
            "lively",
            "1.2.0",
        ),
    )
    .expect("record");
    let bucket = Bucket::serve(root);
    let live =
        gatehouse_osv::live::Live::new(&bucket.base, Duration::from_secs(3600)).expect("client");
    live.refresh("npm", "lively").await.expect("answered");
    assert_eq!(
        affected_by(live.answers(), "npm", "lively", "1.1.0"),
        ["GHSA-live-0001"]
    );
    assert!(affected_by(live.answers(), "npm", "lively", "1.2.0").is_empty());
    live.refresh("npm", "lively").await.expect("cached");
    let hits = bucket.hits();
    assert_eq!(hits.get("/v1/querybatch"), Some(&1), "{hits:?}");
    assert_eq!(hits.get("/v1/vulns/GHSA-live-0001"), Some(&1), "{hits:?}");
}

#[test]
fn sync_outside_tokio_is_an_error_not_a_panic() {
    let mirror = Mirror::open_in_memory().expect("open");
    let client = reqwest::Client::new();
    // Poll the future by hand, without any runtime.
    let ecosystems = ["PyPI".to_owned()];
    let fut = sync(&mirror, &client, "http://127.0.0.1:9", &ecosystems);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(result) => assert!(result.is_err()),
        std::task::Poll::Pending => panic!("should fail at once"),
    }
}

/// A feed redirecting to another origin fails the sync, saying so; the other
/// origin is never asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_fails_the_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere_root = dir.path().join("elsewhere");
    let pypi = [(
        "PYSEC-1",
        "2024-01-01T00:00:00Z",
        record("PYSEC-1", "2024-01-01T00:00:00Z", "PyPI", "alpha", "1.0"),
    )];
    write_bucket_ecosystem(&elsewhere_root, "PyPI", &pypi);
    let elsewhere = Bucket::serve(elsewhere_root);
    let root = dir.path().join("bucket");
    std::fs::create_dir_all(root.join("PyPI")).expect("mkdir");
    std::fs::write(
        root.join("PyPI/modified_id.csv.redirect"),
        format!("{}/PyPI/modified_id.csv", elsewhere.base),
    )
    .expect("redirect");
    let bucket = Bucket::serve(root);
    let client = gatehouse_osv::http::client_builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mirror = Mirror::open_in_memory().expect("open");
    let error = sync(&mirror, &client, &bucket.base, &["PyPI".to_owned()])
        .await
        .expect_err("a redirect elsewhere fails the sync");
    let said = error.chain();
    assert!(said.contains("refused"), "{said}");
    assert!(elsewhere.hits().is_empty(), "{:?}", elsewhere.hits());
}

/// A live answer past its cap is an error naming the cap, not a body in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_live_answer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    std::fs::create_dir_all(root.join("v1")).expect("mkdir");
    let oversized = vec![b' '; gatehouse_osv::http::ANSWER_BYTES as usize + 1];
    std::fs::write(root.join("v1/querybatch"), oversized).expect("answer");
    let bucket = Bucket::serve(root);
    let live =
        gatehouse_osv::live::Live::new(&bucket.base, Duration::from_secs(3600)).expect("client");
    let error = live.refresh("npm", "lively").await.expect_err("too large");
    assert!(error.to_string().contains("larger than"), "{error}");
}
