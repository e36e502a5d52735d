//! The default policies as the host runs them: every policy's fixture suite
//! through `gatehouse policy test`, and `gatehouse check` against OSV data.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::component;

const POLICIES: [&str; 8] = [
    "deny-list",
    "install-scripts",
    "license",
    "malicious",
    "min-age",
    "review",
    "typosquat",
    "vulnerability",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn gatehouse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("GATEHOUSE_LOG", "error")
        .output()
        .expect("gatehouse runs")
}

/// Each policy component passes its own fixtures in the production engine: the
/// defaults, the Rust template on the shared example suite, and a component
/// built against the frozen 0.1.0 WIT (the host keeps loading older minors).
#[test]
fn every_policy_passes_its_fixtures_in_the_host() {
    let defaults = POLICIES.map(|p| (p, repo_root().join("policies").join(p).join("fixtures")));
    let others = [
        (
            "gatehouse-example",
            repo_root().join("sdk/example/fixtures"),
        ),
        (
            "contract-0-1-0",
            repo_root().join("tests/policies/contract-0-1-0/fixtures"),
        ),
    ];
    for (policy, fixtures) in defaults.into_iter().chain(others) {
        let wasm = component(policy);
        let output = gatehouse(&[
            "policy",
            "test",
            wasm.to_str().expect("utf-8 path"),
            "--fixtures",
            fixtures.to_str().expect("utf-8 path"),
        ]);
        let text = String::from_utf8_lossy(&output.stdout);
        println!("{policy}:\n{text}");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{policy} fixtures:\n{text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains(" passed, 0 failed"), "{text}");
    }
}

/// A failing fixture makes `policy test` exit 1 and name the case.
#[test]
fn a_failing_fixture_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("wrong.json"),
        r#"{"settings": {"packages": ["x"]}, "facts": [{"ecosystem": "npm", "name": "x", "version": "1.0.0"}], "expect": [{"action": "allow"}]}"#,
    )
    .expect("fixture");
    let wasm = component("deny-list");
    let output = gatehouse(&[
        "policy",
        "test",
        wasm.to_str().expect("utf-8"),
        "--fixtures",
        dir.path().to_str().expect("utf-8"),
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL wrong.json") && text.contains("expected allow, got block"),
        "{text}"
    );
}

/// A layout whose policies are the given components and whose mirror holds `records`.
fn layout_with(policies: &[&str], gate_policy: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let policies_dir = dir.path().join("policies");
    std::fs::create_dir_all(&policies_dir).expect("mkdir");
    for policy in policies {
        std::fs::copy(
            component(policy),
            policies_dir.join(format!("{policy}.wasm")),
        )
        .expect("copy");
    }
    std::fs::write(dir.path().join("gate-policy.yaml"), gate_policy).expect("gate policy");
    std::fs::write(
        dir.path().join("gatehouse.yaml"),
        "data_dir: .\npolicies_dir: policies\nadapters_dir: adapters\ngate_policy: gate-policy.yaml\n",
    )
    .expect("config");
    dir
}

fn config(dir: &tempfile::TempDir) -> String {
    dir.path().join("gatehouse.yaml").display().to_string()
}

/// `gatehouse check npm chalk 5.6.1` with an OSV record marking it malicious
/// exits 1 and names the advisory.
#[test]
fn check_blocks_a_malicious_version() {
    let dir = layout_with(
        &["malicious"],
        "policies:\n  default:\n    malicious: {action: block}\n",
    );
    let record = dir.path().join("MAL-2025-46969.json");
    std::fs::write(
        &record,
        r#"{"id": "MAL-2025-46969", "modified": "2025-09-09T00:00:00Z", "summary": "Malicious code in chalk (npm)",
            "affected": [{"package": {"ecosystem": "npm", "name": "chalk"}, "versions": ["5.6.1"]}]}"#,
    )
    .expect("record");
    let import = gatehouse(&[
        "osv",
        "import",
        record.to_str().expect("utf-8"),
        "--config",
        &config(&dir),
    ]);
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );

    let blocked = gatehouse(&["check", "npm", "chalk", "5.6.1", "--config", &config(&dir)]);
    let text = String::from_utf8_lossy(&blocked.stdout);
    assert_eq!(blocked.status.code(), Some(1), "{text}");
    assert!(text.contains("MAL-2025-46969"), "{text}");
    assert_eq!(
        gatehouse(&["check", "npm", "chalk", "5.6.0", "--config", &config(&dir)])
            .status
            .code(),
        Some(0)
    );
}

/// With the real PyPI bundle and `block_severity: low`, aiohttp-session 2.6.0
/// is blocked (PYSEC-2018-35) and 2.7.0 is allowed.
#[test]
fn check_uses_the_real_pypi_bundle() {
    let dir = layout_with(
        &["vulnerability"],
        "policies:\n  default:\n    vulnerability: {block_severity: low}\n",
    );
    let bundle = repo_root().join("../shared/osv/PyPI/all.zip");
    let import = gatehouse(&[
        "osv",
        "import",
        bundle.to_str().expect("utf-8"),
        "--config",
        &config(&dir),
    ]);
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );

    let blocked = gatehouse(&[
        "check",
        "PyPI",
        "aiohttp-session",
        "2.6.0",
        "--config",
        &config(&dir),
    ]);
    let text = String::from_utf8_lossy(&blocked.stdout);
    assert_eq!(blocked.status.code(), Some(1), "{text}");
    assert!(text.contains("PYSEC-2018-35"), "{text}");
    let allowed = gatehouse(&[
        "check",
        "PyPI",
        "aiohttp-session",
        "2.7.0",
        "--config",
        &config(&dir),
    ]);
    assert_eq!(
        allowed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&allowed.stdout)
    );
}

/// Each component's `gatehouse:reads` section is found where its toolchain
/// left it: the Rust SDK's `reads: [...]`, and none (read everything) in a
/// component that declares nothing.
#[test]
fn policies_declare_the_costly_facts_they_read() {
    use gatehouse::bindings::FactFields;
    use gatehouse::runtime::reads::{Reads, declared};

    let reads = |name: &str| declared(&std::fs::read(component(name)).expect("built"));
    let raw_keys = |keys: &[&str]| Reads {
        fields: FactFields::RAW,
        raw_keys: Some(keys.iter().map(|k| k.to_string()).collect()),
    };
    assert_eq!(reads("deny-list"), Reads::nothing());
    assert_eq!(reads("vulnerability"), Reads::nothing());
    assert_eq!(reads("install-scripts"), raw_keys(&["scripts"]));
    assert_eq!(reads("license"), raw_keys(&["license", "licenses"]));
    assert_eq!(reads("contract-0-1-0"), Reads::all());
}
