//! The component host: hot swap under load, rejected components, runaway
//! guests, and the `check` command.

use std::time::Duration;

use crate::support::{DecideHammer, Gatehouse, Setup, component, eventually, replace_file};

const DENY_LEFT_PAD: &str = "policies:\n  default:\n    deny-list:\n      packages: [left-pad]\n";

/// Swapping policies in and out while a client hammers `decide`: every
/// request succeeds, and each change shows within the time limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_under_load() {
    let gatehouse = Gatehouse::start(Setup::default());
    assert_eq!(gatehouse.decide("npm", "left-pad", "1.3.0").await, "allow");

    let hammer = DecideHammer::start(&gatehouse, "left-pad", "1.3.0");

    // Settings first (a configured policy with no component yet fails
    // closed), then the component: only left-pad stays blocked.
    std::fs::write(gatehouse.path("gate-policy.yaml"), DENY_LEFT_PAD).expect("gate policy");
    let wasm = std::fs::read(component("deny-list")).expect("deny-list built");
    let policy_path = gatehouse.path("policies/deny-list.wasm");
    replace_file(&policy_path, &wasm);
    let took = eventually(Duration::from_secs(10), || async {
        gatehouse.decide("npm", "right-pad", "1.0.0").await == "allow"
            && gatehouse.decide("npm", "left-pad", "1.3.0").await == "block"
    })
    .await
    .expect("the new policy takes effect");
    println!("policy added → block in {took:?}");

    // Garbage in place of the component: rejected, the last good one keeps blocking.
    replace_file(&policy_path, b"this is not a component");
    let shown = eventually(Duration::from_secs(10), || async {
        let components = gatehouse.admin_json("/api/v1/admin/components").await;
        components["components"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["name"] == "deny-list" && c["status"] == "rejected" && c["last_error"].is_string()
            })
    })
    .await;
    assert!(
        shown.is_some(),
        "the rejection shows at /api/v1/admin/components"
    );
    assert_eq!(gatehouse.decide("npm", "left-pad", "1.3.0").await, "block");

    // Removing the component fails closed; removing its configuration too
    // retires the policy.
    std::fs::remove_file(&policy_path).expect("remove");
    eventually(Duration::from_secs(10), || async {
        gatehouse.decide("npm", "right-pad", "1.0.0").await == "block"
    })
    .await
    .expect("a configured policy without its component blocks");
    std::fs::write(gatehouse.path("gate-policy.yaml"), "").expect("gate policy");
    let took = eventually(Duration::from_secs(10), || async {
        gatehouse.decide("npm", "left-pad", "1.3.0").await == "allow"
    })
    .await
    .expect("removal takes effect");
    println!("policy removed → allow in {took:?}");

    let (served, failed) = hammer.stop().await;
    println!("hammer: {served} requests served, {failed} failed");
    assert!(served > 10, "the hammer ran ({served} requests)");
    assert_eq!(failed, 0, "no request failed during the swaps");
}

/// A policy that loops is cut off at its deadline, one that hoards memory at
/// its limit; both fail closed, and other requests are served normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_policies_fail_closed() {
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["misbehave"],
        gate_policy: "policies:
  default:
    misbehave: {behavior: allow}
  npm:
    misbehave: {behavior: loop, timeout_ms: 200}
  pypi:
    misbehave: {behavior: hoard, memory_mb: 64}
  go:
    misbehave: {behavior: trap}
  maven:
    misbehave: {behavior: trap, on_error: allow}
"
        .into(),
        ..Setup::default()
    });
    let verdict = |answer: &serde_json::Value| {
        answer["verdicts"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };

    for _ in 0..2 {
        let answer = gatehouse
            .get_json("/api/v1/decide?ecosystem=npm&name=a&version=1.0.0")
            .await;
        assert_eq!(answer["action"], "block", "{answer}");
        assert!(verdict(&answer).contains("deadline exceeded"), "{answer}");

        let answer = gatehouse
            .get_json("/api/v1/decide?ecosystem=PyPI&name=a&version=1.0")
            .await;
        assert_eq!(answer["action"], "block", "{answer}");
        assert!(
            verdict(&answer).contains("memory limit exceeded"),
            "{answer}"
        );

        let answer = gatehouse
            .get_json("/api/v1/decide?ecosystem=Go&name=a&version=v1.0.0")
            .await;
        assert_eq!(answer["action"], "block", "{answer}");
        assert!(verdict(&answer).contains("trapped"), "{answer}");

        assert_eq!(
            gatehouse.decide("Maven", "a", "1.0").await,
            "warn",
            "on_error: allow lets it through with a warning"
        );
        assert_eq!(
            gatehouse.decide("crates.io", "a", "1.0.0").await,
            "allow",
            "others are served normally"
        );
    }
}

/// `gatehouse check` exits 0 when allowed, 1 when blocked (naming the rule), 2 on errors.
#[test]
fn check_command_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).expect("mkdir");
    std::fs::copy(component("deny-list"), policies.join("deny-list.wasm")).expect("copy");
    std::fs::write(dir.path().join("gate-policy.yaml"), DENY_LEFT_PAD).expect("gate policy");
    std::fs::write(
        dir.path().join("gatehouse.yaml"),
        "data_dir: .\npolicies_dir: policies\nadapters_dir: adapters\ngate_policy: gate-policy.yaml\n",
    )
    .expect("config");
    let check = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["check", "npm", name, "1.3.0", "--config"])
            .arg(dir.path().join("gatehouse.yaml"))
            .env("GATEHOUSE_LOG", "error")
            .output()
            .expect("runs")
    };
    let blocked = check("left-pad");
    assert_eq!(blocked.status.code(), Some(1));
    let text = String::from_utf8_lossy(&blocked.stdout);
    assert!(
        text.contains("deny-list") && text.contains("deny list"),
        "{text}"
    );
    assert_eq!(check("right-pad").status.code(), Some(0));

    let broken = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "check",
            "npm",
            "x",
            "1.0.0",
            "--config",
            "/nonexistent/gatehouse.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(broken.status.code(), Some(2));
}
