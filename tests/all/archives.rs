//! Hostile archives, honestly declared: the artifact check reads an
//! artifact's own manifest within bounds, writes nothing, and under
//! `sbom: {require: true}` refuses what it cannot vouch for, saying why.

use std::io::Write as _;

use reqwest::StatusCode;
use serde_json::Value;

use crate::fake_npm::{FakeNpm, FakePackage, FakeVersion};
use crate::support::{Gatehouse, Setup};

/// A tar header for `path` of `size` bytes, written byte for byte (the tar
/// crate refuses `..`, a hostile packer does not).
fn header(path: &str, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    header
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("in memory");
    encoder.finish().expect("in memory")
}

/// About 1 MB that expands to 1 GiB: a tar entry of 1 GiB of zeros, as
/// 1,024 concatenated gzip members of 1 MiB each.
fn bomb() -> Vec<u8> {
    let mut bytes = gzip(header("package/zeros", 1 << 30).as_bytes());
    let mebibyte = gzip(&vec![0; 1 << 20]);
    for _ in 0..1024 {
        bytes.extend_from_slice(&mebibyte);
    }
    bytes
}

/// A tarball with an entry that climbs out of the package directory.
fn climbing() -> Vec<u8> {
    let manifest = br#"{"name":"hostile","version":"2.0.0"}"#;
    let mut tar = Vec::new();
    for (path, contents) in [
        ("package/package.json", &manifest[..]),
        ("package/../../escape.js", b"pwned"),
    ] {
        tar.extend_from_slice(header(path, contents.len() as u64).as_bytes());
        tar.extend_from_slice(contents);
        tar.resize(tar.len().next_multiple_of(512), 0);
    }
    tar.resize(tar.len() + 1024, 0);
    gzip(&tar)
}

/// A tarball of 100,000 empty entries.
fn crowded() -> Vec<u8> {
    let mut tar = Vec::with_capacity(100_000 * 512 + 1024);
    for i in 0..100_000 {
        tar.extend_from_slice(header(&format!("package/{i}"), 0).as_bytes());
    }
    tar.resize(tar.len() + 1024, 0);
    gzip(&tar)
}

/// The server's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    kib / 1024
}

/// A 1 GiB-expanding gzip, a `..` entry and 100,000 entries are each
/// refused by rule `sbom` with the cap or the entry named, get no SBOM, and
/// leave nothing outside the store; the server's memory stays bounded. A
/// clean version of the same package is served with its SBOM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_archives_are_refused_within_bounds_under_sbom_require() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("hostile")
            .version(FakeVersion::new("1.0.0").tarball(bomb()))
            .version(FakeVersion::new("2.0.0").tarball(climbing()))
            .version(FakeVersion::new("3.0.0").tarball(crowded()))
            .version(FakeVersion::new("4.0.0")),
    ]);
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        adapters: vec!["npm"],
        gate_policy:
            "policies:\n  default:\n    deny-list: {packages: []}\n    sbom: {require: true}\n"
                .into(),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: String::new(),
    });
    let tarball = |version: &str| format!("{}/npm/hostile/-/hostile-{version}.tgz", gatehouse.url);
    let sbom_status = |version: &str| {
        let url = format!("{}/api/v1/sbom/npm/hostile/{version}", gatehouse.url);
        async move {
            let response = Gatehouse::client().get(url).send().await.expect("request");
            response.status()
        }
    };
    for (version, cause) in [
        ("1.0.0", "limits.archive_ratio"),
        ("2.0.0", "leaves the package's directory"),
        ("3.0.0", "limits.archive_entries"),
    ] {
        let response = Gatehouse::client()
            .get(tarball(version))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{version}");
        let body: Value = response.json().await.expect("a JSON error");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("sbom: no SBOM can be produced for hostile@")
                && message.contains(cause)
                && message.contains("sbom.require"),
            "{version}: {message}"
        );
        assert_eq!(sbom_status(version).await, StatusCode::NOT_FOUND);
    }
    let clean = Gatehouse::client()
        .get(tarball("4.0.0"))
        .send()
        .await
        .expect("request");
    assert_eq!(clean.status(), StatusCode::OK);
    gatehouse.sbom("npm", "hostile", "4.0.0").await;

    let escaped: Vec<_> = walk(gatehouse.dir.path())
        .into_iter()
        .filter(|path| path.ends_with("escape.js"))
        .collect();
    assert!(escaped.is_empty(), "nothing is unpacked: {escaped:?}");
    let peak = peak_rss_mib(gatehouse.pid());
    assert!(peak < 512, "the server peaked at {peak} MiB");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
