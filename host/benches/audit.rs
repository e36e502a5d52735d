//! The audit log's cost: append throughput for each `audit.sync` mode (each
//! simulated request appends one decision record and waits for
//! `commit` before it would answer), and an admin query for the oldest
//! record of a large rotated log through the index, beside a scan of every
//! file as the log did before it had one.
//!
//! Then the warm tarball rate of `gatehouse serve` (the npm adapter, no
//! policies, a local fake upstream) with each sync mode: every serve is
//! audited, and with `always` answered only once its record is synced.
//!
//! `GATEHOUSE_BENCH_AUDIT_MB` sets the large log's size (default 256; the
//! issue's figure is 1024). The log is written in the target directory's
//! temp area, on the same disk as a real data directory would be.

// Tests and benchmarks prepare and inspect files directly.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

use gatehouse::capabilities::audit::{AuditLog, AuditQuery, AuditRecord, Files};
use gatehouse::config::{AuditSettings, SyncMode};

fn record(n: usize) -> AuditRecord {
    AuditRecord {
        event: "metadata".into(),
        requester: Some(format!("ci-{}@10.0.0.{}", n % 7, n % 250)),
        ecosystem: "npm".into(),
        package: format!("package-{}", n % 5_000),
        version: format!("1.{}.0", n % 40),
        action: "block".into(),
        rule: "vulnerability".into(),
        reason: "GHSA-xxxx-yyyy-zzzz: prototype pollution (high), fixed in 1.2.3".into(),
        components: vec![format!("vulnerability@{}", "ab".repeat(32))],
        osv_generation: Some(42),
        ..AuditRecord::default()
    }
}

/// `requests` simulated requests from `concurrency` tasks; records/s and
/// the mean and p99 wait for `commit`.
async fn appends(log: Arc<AuditLog>, requests: usize, concurrency: usize) -> (f64, f64, f64) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut waits = Vec::new();
                for n in (task..requests).step_by(concurrency) {
                    let asked = Instant::now();
                    log.append(&record(n));
                    log.commit().await.expect("committed");
                    waits.push(asked.elapsed());
                }
                waits
            })
        })
        .collect();
    let mut waits: Vec<Duration> = Vec::new();
    for task in tasks {
        waits.extend(task.await.expect("task"));
    }
    let rate = requests as f64 / started.elapsed().as_secs_f64();
    waits.sort_unstable();
    let mean = waits.iter().sum::<Duration>().as_secs_f64() / waits.len() as f64;
    let p99 = waits[waits.len() * 99 / 100].as_secs_f64();
    (rate, mean * 1e3, p99 * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    println!("| mode | concurrency | records/s | mean wait ms | p99 wait ms |");
    println!("|---|---|---|---|---|");
    for (mode, sync) in [("always", SyncMode::Always), ("batch", SyncMode::Batch)] {
        for concurrency in [1, 64] {
            let dir = scratch.path().join(format!("{mode}-{concurrency}"));
            let settings = AuditSettings {
                sync,
                ..AuditSettings::default()
            };
            let log = Arc::new(AuditLog::open_with(&dir.join("audit.log"), settings)?);
            let requests = if sync == SyncMode::Always && concurrency == 1 {
                2_000
            } else {
                50_000
            };
            let (rate, mean, p99) = appends(log.clone(), requests, concurrency).await;
            log.flush().await?;
            println!("| {mode} | {concurrency} | {rate:.0} | {mean:.3} | {p99:.3} |");
        }
    }

    let megabytes: u64 = std::env::var("GATEHOUSE_BENCH_AUDIT_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = scratch.path().join("large");
    let path = dir.join("audit.log");
    let settings = AuditSettings {
        sync: SyncMode::Batch,
        rotate_bytes: Some(64 << 20),
        ..AuditSettings::default()
    };
    let written = Instant::now();
    let log = AuditLog::open_with(&path, settings.clone())?;
    log.append(&AuditRecord {
        package: "the-oldest".into(),
        ..record(0)
    });
    let mut n = 1;
    while std::fs::metadata(&path).map_or(0, |m| m.len())
        + Files::of(&path).rotated()?.len() as u64 * (64 << 20)
        < megabytes << 20
    {
        for _ in 0..10_000 {
            log.append(&record(n));
            n += 1;
        }
        log.flush().await?;
    }
    drop(log);
    let written = written.elapsed();
    let files = Files::of(&path).rotated()?.len() + 1;
    println!(
        "\nlarge log: {megabytes} MiB, {n} records in {files} files, written and indexed in {:.1} s",
        written.as_secs_f64()
    );

    let opened = Instant::now();
    let log = AuditLog::open_with(&path, settings)?;
    let opened = opened.elapsed();
    let query = AuditQuery {
        package: Some("the-oldest".into()),
        ..AuditQuery::default()
    };
    let queried = Instant::now();
    let page = log.query(&query)?;
    let queried = queried.elapsed();
    anyhow::ensure!(page.records.len() == 1, "the oldest record is found");

    let scanned = Instant::now();
    let mut found = 0;
    let chain = Files::of(&path);
    let mut paths: Vec<_> = chain
        .rotated()?
        .into_iter()
        .map(|n| chain.numbered(n))
        .collect();
    paths.push(path.clone());
    for file in paths {
        for line in BufReader::new(std::fs::File::open(file)?).lines() {
            let value: serde_json::Value = serde_json::from_str(&line?)?;
            found += usize::from(value["package"] == "the-oldest");
        }
    }
    let scanned = scanned.elapsed();
    anyhow::ensure!(found == 1);
    println!("| what | ms |\n|---|---|");
    println!(
        "| reopen (index already current) | {:.1} |",
        opened.as_secs_f64() * 1e3
    );
    println!(
        "| query oldest record via index | {:.2} |",
        queried.as_secs_f64() * 1e3
    );
    println!(
        "| same, scanning every file | {:.0} |",
        scanned.as_secs_f64() * 1e3
    );

    println!("\n| audit.sync | warm tarball req/s (64 connections, 5 s) |\n|---|---|");
    for mode in ["always", "batch"] {
        let rate = tarball_rate(&scratch.path().join(format!("serve-{mode}")), mode).await?;
        println!("| {mode} | {rate:.0} |");
    }
    Ok(())
}

/// A fake npm registry with one package of one version: its packument and
/// tarball; returns the base URL.
async fn fake_registry() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let tarball = bytes::Bytes::from(vec![7u8; 16 << 10]);
    let packument = bytes::Bytes::from(serde_json::to_vec(&serde_json::json!({
        "name": "bench",
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"name": "bench", "version": "1.0.0", "dist": {
            "tarball": format!("{base}/bench/-/bench-1.0.0.tgz"),
            "integrity": format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball))),
            "shasum": hex::encode(sha1::Sha1::digest(&tarball)),
        }}},
        "time": {"1.0.0": "2020-01-01T00:00:00.000Z"},
    }))?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tarball, packument) = (tarball.clone(), packument.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                    let body = if request.uri().path().ends_with(".tgz") {
                        tarball.clone()
                    } else {
                        packument.clone()
                    };
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            gatehouse::http::full(body),
                        ))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(base)
}

/// Requests per second for one warm tarball through `gatehouse serve`.
async fn tarball_rate(dir: &std::path::Path, sync: &str) -> anyhow::Result<f64> {
    let registry = fake_registry().await?;
    std::fs::create_dir_all(dir.join("adapters"))?;
    std::fs::create_dir_all(dir.join("policies"))?;
    let (_, npm) = gatehouse::components::ADAPTERS
        .iter()
        .find(|(name, _)| *name == "npm")
        .ok_or_else(|| anyhow::anyhow!("the npm adapter is built in"))?;
    std::fs::write(dir.join("adapters/npm.wasm"), npm)?;
    std::fs::write(dir.join("gate-policy.yaml"), "")?;
    std::fs::write(
        dir.join("gatehouse.yaml"),
        format!(
            "listen: 127.0.0.1:0\ndata_dir: .\nupstreams:\n  npm:\n    url: {registry}\naudit:\n  sync: {sync}\n"
        ),
    )?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--config"])
        .arg(dir.join("gatehouse.yaml"))
        .env("GATEHOUSE_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("gatehouse listening on ")
        .ok_or_else(|| anyhow::anyhow!("unexpected first line {line:?}"))?
        .to_owned();
    let url = format!("{base}/npm/bench/-/bench-1.0.0.tgz");
    let client = reqwest::Client::new();
    let first = client.get(&url).send().await?;
    anyhow::ensure!(first.status() == 200, "status {}", first.status());
    let period = Duration::from_secs(5);
    let started = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut served = 0u64;
                while started.elapsed() < period {
                    if let Ok(response) = client.get(&url).send().await
                        && response.status() == 200
                        && response.bytes().await.is_ok()
                    {
                        served += 1;
                    }
                }
                served
            })
        })
        .collect();
    let mut served = 0;
    for task in tasks {
        served += task.await?;
    }
    let rate = served as f64 / started.elapsed().as_secs_f64();
    child.kill()?;
    child.wait()?;
    Ok(rate)
}
