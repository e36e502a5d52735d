//! Upstream trouble: concurrent first requests share one upstream fetch, the
//! cache keeps serving (stale, still gated) when upstream fails, and what was
//! never cached fails with a clear 502; a body cut short or too large is
//! never cached.

use crate::fake_http::{Listener, Reply};
use crate::fake_npm::{FakeNpm, FakePackage, FakeVersion};
use crate::support::{Gatehouse, Setup};

fn gatehouse(registry: &FakeNpm, extra_config: &str) -> Gatehouse {
    Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        adapters: vec!["npm"],
        gate_policy: "policies:\n  default:\n    deny-list:\n      packages: [\"steady@1.1.0\"]\n"
            .into(),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: extra_config.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_share_one_fetch() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("popular").version(FakeVersion::new("1.0.0")),
    ]);
    let gatehouse = gatehouse(&registry, "");
    let url = format!("{}/npm/popular", gatehouse.url);
    let client = Gatehouse::client();
    let requests = (0..100).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { client.get(&url).send().await.map(|r| r.status().as_u16()) })
    });
    for request in requests.collect::<Vec<_>>() {
        assert_eq!(request.await.expect("task").expect("response"), 200);
    }
    // With a TTL of zero every later request revalidates, but the concurrent
    // ones queue behind one fetch: far fewer than 100 reach upstream.
    let hits = registry.hits("/popular");
    println!("100 concurrent requests → {hits} upstream fetches");
    assert!(
        hits <= 10,
        "{hits} upstream fetches for 100 concurrent requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_serves_when_upstream_is_down() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("steady")
            .version(FakeVersion::new("1.0.0"))
            .version(FakeVersion::new("1.1.0")),
    ]);
    // Revalidate on every request, so that each one meets the failing upstream.
    let gatehouse = gatehouse(&registry, "cache:\n  ttl: 0s\n");
    let client = Gatehouse::client();
    let packument = format!("{}/npm/steady", gatehouse.url);
    let tarball = format!("{}/npm/steady/-/steady-1.0.0.tgz", gatehouse.url);
    assert_eq!(
        client.get(&packument).send().await.expect("get").status(),
        200
    );
    let genuine = client
        .get(&tarball)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");

    registry.set_failing(Some(503));
    let stale = client.get(&packument).send().await.expect("get");
    assert_eq!(stale.status(), 200, "the last good packument is served");
    let document: serde_json::Value = stale.json().await.expect("json");
    assert_eq!(
        document["dist-tags"]["latest"], "1.0.0",
        "still filtered by the policies"
    );
    let cached = client.get(&tarball).send().await.expect("get");
    assert_eq!(cached.status(), 200);
    assert_eq!(cached.bytes().await.expect("body"), genuine);
    let blocked = client
        .get(format!("{}/npm/steady/-/steady-1.1.0.tgz", gatehouse.url))
        .send()
        .await
        .expect("get");
    assert_eq!(
        blocked.status(),
        403,
        "nothing blocked is served from cache"
    );

    let never_seen = client
        .get(format!("{}/npm/unknown-pkg", gatehouse.url))
        .send()
        .await
        .expect("get");
    assert_eq!(never_seen.status(), 502);
    let message = never_seen.text().await.expect("body");
    assert!(
        message.contains("503") || message.contains("upstream"),
        "{message}"
    );

    // The audit log of this run verifies, and a one-byte change is named.
    let log = gatehouse.path("audit.log");
    let verify = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["audit", "verify"])
            .arg(path)
            .output()
            .expect("gatehouse runs")
    };
    let intact = verify(&log);
    assert_eq!(
        intact.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&intact.stdout)
    );
    let mut bytes = std::fs::read(&log).expect("audit log");
    let second_line = bytes.iter().position(|&b| b == b'\n').expect("two lines") + 1;
    let target = second_line
        + bytes[second_line..]
            .iter()
            .position(|&b| b == b'"')
            .expect("a string")
        + 1;
    bytes[target] ^= 0x01;
    let altered = gatehouse.path("altered.log");
    std::fs::write(&altered, bytes).expect("write");
    let broken = verify(&altered);
    let text = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{text}");
    assert!(text.contains("line 2"), "{text}");
}

/// An upstream body cut short, or larger than the configured limit once
/// decompressed (a gzip bomb), fails with a clear 502 and is never cached: the
/// next request goes upstream again, and serves once upstream is sound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_oversized_upstream_bodies_are_not_cached() {
    let sound = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let packument = |name: &str| {
        serde_json::json!({"name": name, "dist-tags": {}, "versions": {}, "time": {}})
            .to_string()
            .into_bytes()
    };
    let upstream = {
        let sound = sound.clone();
        Listener::bind().serve(move |request| {
            let name = request.path.trim_start_matches('/');
            let mut reply = Reply::ok("application/json", packument(name));
            if sound.load(std::sync::atomic::Ordering::SeqCst) {
                return reply;
            }
            match name {
                "cut-short" => reply.cut_after = Some(reply.body.len() / 2),
                "bomb" => {
                    // 4 MiB of padding inside valid JSON, a few KiB on the wire.
                    let mut padded = packument(name);
                    padded.splice(
                        1..1,
                        format!("\"pad\": \"{}\", ", " ".repeat(4 << 20)).into_bytes(),
                    );
                    let mut gzip =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                    std::io::Write::write_all(&mut gzip, &padded).expect("gzip");
                    reply.body = gzip.finish().expect("gzip");
                    reply.headers.push(("content-encoding", "gzip".into()));
                }
                _ => {}
            }
            reply
        })
    };
    let gatehouse = Gatehouse::start(Setup {
        adapters: vec!["npm"],
        upstreams: vec![("npm".into(), format!("http://{}", upstream.addr()))],
        extra_config: "cache:\n  max_metadata_mb: 1\n".into(),
        ..Setup::default()
    });
    let client = Gatehouse::client();
    for (name, problem) in [("cut-short", "body"), ("bomb", "exceeds 1048576 bytes")] {
        let url = format!("{}/npm/{name}", gatehouse.url);
        for attempt in 1..=2 {
            let response = client.get(&url).send().await.expect("get");
            assert_eq!(response.status(), 502, "{name}, attempt {attempt}");
            let message = response.text().await.expect("body");
            assert!(message.contains(problem), "{name}: {message}");
            assert_eq!(
                upstream.hits(&format!("/{name}")),
                attempt,
                "{name}: fetched anew"
            );
        }
    }
    sound.store(true, std::sync::atomic::Ordering::SeqCst);
    for name in ["cut-short", "bomb"] {
        let response = client
            .get(format!("{}/npm/{name}", gatehouse.url))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 200, "{name} once upstream is sound");
    }
}
