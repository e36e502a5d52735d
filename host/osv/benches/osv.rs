//! Benchmarks of the OSV mirror (plain `main`, run with `cargo bench --bench osv`):
//! importing the real PyPI bundle (goal ≤ 2 s), importing a generated
//! 200,000-record bundle of mixed ecosystems (goal ≤ 60 s), and the latency of
//! single-version `affecting` queries on a warm mirror (goal p50 ≤ 20 µs).

// Benchmarks prepare their data files directly.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use gatehouse_osv::Mirror;
use serde_json::json;

const PYPI_BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/osv/PyPI/all.zip"
);
const GENERATED: usize = 200_000;
const QUERY_PACKAGES: usize = 2_000;
const QUERIES: usize = 200_000;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ECOSYSTEMS: [&str; 5] = ["npm", "PyPI", "Maven", "Go", "crates.io"];

fn package_name(ecosystem: &str, n: u64) -> String {
    match ecosystem {
        "npm" if n.is_multiple_of(4) => format!("@scope{}/pkg-{n}", n % 97),
        "npm" => format!("pkg-{n}"),
        "PyPI" => format!("py_pkg.{n}"),
        "Maven" => format!("org.example{}:artifact-{n}", n % 53),
        "Go" => format!("example.com/org{}/mod{n}", n % 71),
        _ => format!("crate_{n}"),
    }
}

fn version(ecosystem: &str, major: u64, minor: u64, patch: u64) -> String {
    match ecosystem {
        "Maven" if patch.is_multiple_of(3) => format!("{major}.{minor}.{patch}.Final"),
        "PyPI" if patch.is_multiple_of(5) => format!("{major}.{minor}"),
        _ => format!("{major}.{minor}.{patch}"),
    }
}

fn generated_record(rng: &mut Rng, i: usize) -> (String, Vec<u8>) {
    let ecosystem = ECOSYSTEMS[(rng.below(100) as usize * ECOSYSTEMS.len()) / 100];
    let id = format!("GEN-{i:07}");
    let mut affected = Vec::new();
    for _ in 0..1 + rng.below(2) {
        // 60,000 names per ecosystem: many packages carry several advisories.
        let name = package_name(ecosystem, rng.below(60_000));
        let major = rng.below(5);
        let fixed_minor = 1 + rng.below(9);
        let mut events = vec![json!({"introduced": if rng.below(3) == 0 {
            "0".to_owned()
        } else {
            version(ecosystem, major, 0, 0)
        }})];
        if rng.below(10) == 0 {
            events.push(json!({"last_affected": version(ecosystem, major, fixed_minor, 3)}));
        } else {
            events.push(json!({"fixed": version(ecosystem, major, fixed_minor, 0)}));
        }
        let range_type = if matches!(ecosystem, "PyPI" | "Maven") {
            "ECOSYSTEM"
        } else {
            "SEMVER"
        };
        let mut entry = json!({
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": range_type, "events": events}],
        });
        if rng.below(3) == 0 {
            let versions: Vec<String> = (0..fixed_minor)
                .flat_map(|m| (0..3).map(move |p| (m, p)))
                .map(|(m, p)| version(ecosystem, major, m, p))
                .collect();
            entry["versions"] = json!(versions);
        }
        affected.push(entry);
    }
    let mut record = json!({
        "id": id,
        "modified": format!("2024-{:02}-{:02}T{:02}:00:00Z", 1 + rng.below(12), 1 + rng.below(28), rng.below(24)),
        "published": "2023-01-01T00:00:00Z",
        "aliases": [format!("CVE-2024-{}", 10_000 + i)],
        "summary": format!("Generated advisory {i} for benchmarking"),
        "details": "A long description of the problem, its impact and the fix. ".repeat(4),
        "affected": affected,
        "references": [{"type": "WEB", "url": format!("https://example.invalid/advisory/{i}")}],
    });
    match rng.below(4) {
        0 => {
            record["severity"] = json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])
        }
        1 => {
            record["severity"] = json!([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}])
        }
        2 => record["database_specific"] = json!({"severity": "MODERATE"}),
        _ => {}
    }
    (format!("{id}.json"), record.to_string().into_bytes())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn query_latencies(
    mirror: &Mirror,
    targets: &[(String, String, String)],
    rounds: usize,
) -> Vec<Duration> {
    let mut out = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let (ecosystem, name, version) = &targets[i % targets.len()];
        let started = Instant::now();
        let hits = mirror.affecting(ecosystem, name, &[version.as_str()]);
        out.push(started.elapsed());
        std::hint::black_box(hits.ok());
    }
    out.sort();
    out
}

fn report_latencies(label: &str, latencies: &[Duration]) {
    println!(
        "{label}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs over {} queries",
        percentile(latencies, 0.50).as_secs_f64() * 1e6,
        percentile(latencies, 0.99).as_secs_f64() * 1e6,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        latencies.len(),
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");

    // 1. The real PyPI bundle.
    let mirror = Mirror::open(&dir.path().join("pypi.db")).expect("open");
    let started = Instant::now();
    let report = mirror.import_path(Path::new(PYPI_BUNDLE)).expect("bundle");
    let took = started.elapsed();
    println!(
        "import PyPI bundle: {} records in {:.3} s (goal ≤ 2 s), {} skipped",
        report.imported,
        took.as_secs_f64(),
        report.skipped.len()
    );
    let started = Instant::now();
    let again = mirror.import_path(Path::new(PYPI_BUNDLE)).expect("bundle");
    println!(
        "re-import PyPI bundle (all unchanged: {}): {:.3} s",
        again.unchanged,
        started.elapsed().as_secs_f64()
    );
    let pypi_targets: Vec<(String, String, String)> = [
        "aiohttp-session",
        "adyen",
        "django",
        "requests",
        "Pillow",
        "no-such-package",
    ]
    .iter()
    .flat_map(|n| {
        ["1.0", "2.6.0", "3.2.1"].map(|v| ("PyPI".to_owned(), (*n).to_owned(), v.to_owned()))
    })
    .collect();
    query_latencies(&mirror, &pypi_targets, pypi_targets.len());
    report_latencies(
        "query PyPI mirror (warm)",
        &query_latencies(&mirror, &pypi_targets, 50_000),
    );
    drop(mirror);

    // 2. A generated 200,000-record bundle.
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let records: Vec<(String, Vec<u8>)> = (0..GENERATED)
        .map(|i| generated_record(&mut rng, i))
        .collect();
    let bytes: usize = records.iter().map(|(_, b)| b.len()).sum();
    println!(
        "generated {GENERATED} records ({:.0} MB of JSON) in {:.2} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let prepared = records
        .iter()
        .filter(|(_, b)| gatehouse_osv::record::prepare(b).is_ok())
        .count();
    println!(
        "  of which parsing and preparing {prepared} records alone: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let db = dir.path().join("big.db");
    let mirror = Mirror::open(&db).expect("open");
    let started = Instant::now();
    let report = mirror.import_records(records);
    let took = started.elapsed();
    println!(
        "import generated bundle: {} records in {:.2} s (goal ≤ 60 s), {} skipped; database {:.0} MB",
        report.imported,
        took.as_secs_f64(),
        report.skipped.len(),
        std::fs::metadata(&db).map(|m| m.len()).unwrap_or_default() as f64 / 1e6
    );

    // 3. Query latency: single-version queries on packages with and without
    // advisories, first cold (SQLite + parse), then warm (cached).
    let mut rng = Rng(42);
    let targets: Vec<(String, String, String)> = (0..QUERY_PACKAGES)
        .map(|_| {
            let ecosystem = ECOSYSTEMS[rng.below(5) as usize];
            // 60,000 names were used; 80,000 here so some have no advisory.
            let name = package_name(ecosystem, rng.below(80_000));
            let v = version(ecosystem, rng.below(5), rng.below(10), rng.below(4));
            (ecosystem.to_owned(), name, v)
        })
        .collect();
    report_latencies(
        "query cold (first lookup of a package)",
        &query_latencies(&mirror, &targets, targets.len()),
    );
    let warm = query_latencies(&mirror, &targets, QUERIES);
    report_latencies("query warm (goal p50 ≤ 20 µs)", &warm);
    let with_hits: Vec<(String, String, String)> = targets
        .iter()
        .filter(|(e, n, v)| {
            mirror
                .affecting(e, n, &[v.as_str()])
                .is_ok_and(|h| !h[0].is_empty())
        })
        .cloned()
        .collect();
    println!(
        "  {} of {} query targets are affected by at least one advisory",
        with_hits.len(),
        targets.len()
    );
    report_latencies(
        "query warm, affected versions only",
        &query_latencies(&mirror, &with_hits, QUERIES),
    );

    let status = mirror.status().expect("status");
    for s in status {
        println!("  status {}: {} records", s.ecosystem, s.records);
    }

    // 4. Reopened mirror: cold cache, warm OS cache.
    drop(mirror);
    let mirror = Mirror::open(&db).expect("reopen");
    report_latencies(
        "query after reopen, first lookups",
        &query_latencies(&mirror, &targets, targets.len()),
    );
}
