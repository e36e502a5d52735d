//! Speed must not come from stale verdicts: warm answers are reused (no
//! upstream request, no adapter run), yet a policy change shows on the very
//! next request — for metadata and for artifacts alike.

use std::time::Duration;

use crate::fake_npm::{FakeNpm, FakePackage, FakeVersion};
use crate::support::{Gatehouse, Setup, eventually};

const ALLOW_ALL: &str = "policies:\n  default:\n    deny-list:\n      packages: []\n";
const BLOCK_2: &str = "policies:\n  default:\n    deny-list:\n      packages: [\"fresh@2.0.0\"]\n";

/// The npm adapter and the deny-list (allowing everything) in front of `registry`.
fn gatehouse(registry: &FakeNpm) -> Gatehouse {
    Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        adapters: vec!["npm"],
        gate_policy: ALLOW_ALL.into(),
        upstreams: vec![("npm".into(), registry.url())],
        ..Setup::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_answers_follow_policy_changes() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("fresh")
            .version(FakeVersion::new("1.0.0"))
            .version(FakeVersion::new("2.0.0")),
    ]);
    let gatehouse = gatehouse(&registry);
    let client = Gatehouse::client();
    let packument = format!("{}/npm/fresh", gatehouse.url);
    let tarball = format!("{}/npm/fresh/-/fresh-2.0.0.tgz", gatehouse.url);
    let latest = || async {
        let document: serde_json::Value = client
            .get(&packument)
            .send()
            .await
            .expect("packument")
            .json()
            .await
            .expect("json");
        document["dist-tags"]["latest"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };

    let first = client
        .get(&packument)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    let second = client
        .get(&packument)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(first, second, "a warm answer is the same document");
    assert_eq!(
        registry.hits("/fresh"),
        1,
        "warm answers do not ask upstream"
    );
    assert_eq!(latest().await, "2.0.0");
    assert_eq!(
        client.get(&tarball).send().await.expect("get").status(),
        200
    );
    assert_eq!(
        client.get(&tarball).send().await.expect("get").status(),
        200
    );

    std::fs::write(gatehouse.path("gate-policy.yaml"), BLOCK_2).expect("gate policy");
    let took = eventually(Duration::from_secs(10), || async {
        latest().await == "1.0.0"
    })
    .await
    .expect("the policy change reaches the warm packument");
    println!("policy change visible in {took:?}");
    let refused = client.get(&tarball).send().await.expect("get");
    assert_eq!(refused.status(), 403, "the cached artifact is gated again");
    assert!(refused.text().await.expect("body").contains("deny-list"));
    assert_eq!(registry.hits("/fresh"), 1, "still no upstream request");

    // An exception is operator data, not a component: it too shows at once.
    let exception = serde_json::json!({
        "ecosystem": "npm", "package": "fresh", "versions": "2.0.0",
        "rules": ["deny-list"], "reason": "reviewed", "expires_in": "1h",
    });
    let created = gatehouse
        .admin(reqwest::Method::POST, "/api/v1/admin/exceptions")
        .json(&exception)
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), 201);
    assert_eq!(
        client.get(&tarball).send().await.expect("get").status(),
        200,
        "the exception applies to the next artifact request"
    );
    assert_eq!(latest().await, "2.0.0");
}

/// A client that accepts gzip gets the warm packument gzipped (made once, in
/// the background), the same document once decompressed, with `Vary`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_metadata_is_served_gzipped_to_clients_that_take_it() {
    let registry = FakeNpm::start(vec![
        (1..=40).fold(FakePackage::new("zipped"), |package, minor| {
            package.version(FakeVersion::new(&format!("1.{minor}.0")))
        }),
    ]);
    let gatehouse = gatehouse(&registry);
    // reqwest would ask for gzip itself and hide the encoding: not here.
    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let packument = format!("{}/npm/zipped", gatehouse.url);
    let plain = client.get(&packument).send().await.expect("get");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.expect("body");
    let gzipped = std::sync::Mutex::new(None);
    let took = eventually(Duration::from_secs(20), || async {
        let response = client
            .get(&packument)
            .header("accept-encoding", "gzip, deflate")
            .send()
            .await
            .expect("get");
        let vary: Vec<&str> = response
            .headers()
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let vary = vary.join(", ").to_ascii_lowercase();
        assert!(vary.contains("accept-encoding"), "{vary}");
        let encoded = response.headers().get("content-encoding").is_some();
        if encoded {
            let body = response.bytes().await.expect("body");
            *gzipped.lock().expect("lock") = Some(body);
        }
        encoded
    })
    .await;
    assert!(took.is_some(), "the gzipped variant never appeared");
    let gzipped = gzipped.into_inner().expect("lock").expect("gzipped body");
    assert!(gzipped.len() < plain.len());
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gzipped[..]),
        &mut decoded,
    )
    .expect("valid gzip");
    assert_eq!(decoded, plain);
    assert_eq!(registry.hits("/zipped"), 1);
}

/// The metadata TTL is set per adapter (`upstreams.NAME.ttl`) over the
/// cache's: with the cache's hour a second request is answered without
/// upstream; with the adapter's `0s` every request asks upstream again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_ttl_is_set_per_adapter() {
    for (adapter_ttl, expected_hits) in [("", 1), ("    ttl: 0s\n", 2)] {
        let registry = FakeNpm::start(vec![
            FakePackage::new("timed").version(FakeVersion::new("1.0.0")),
        ]);
        let gatehouse = Gatehouse::start(Setup {
            policies: vec!["deny-list"],
            adapters: vec!["npm"],
            gate_policy: ALLOW_ALL.into(),
            upstreams: vec![("npm".into(), registry.url())],
            // `Setup` writes the upstream last: the first line continues its block.
            extra_config: format!("{adapter_ttl}cache:\n  ttl: 1h\n"),
        });
        let url = format!("{}/npm/timed", gatehouse.url);
        for _ in 0..2 {
            let response = Gatehouse::client().get(&url).send().await.expect("get");
            assert_eq!(response.status(), 200);
        }
        assert_eq!(
            registry.hits("/timed"),
            expected_hits,
            "adapter ttl {adapter_ttl:?}"
        );
    }
}
