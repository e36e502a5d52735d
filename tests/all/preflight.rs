//! The pre-flight agrees with the proxy: `decide` and `gatehouse check` judge a
//! version on the facts the adapter reads upstream (publish time, license,
//! install scripts), in any usual spelling of the ecosystem, and read
//! lockfiles; a failing policy shows its failure at `/api/v1/admin/components`. And the first run's
//! smaller truths: `check` writes no layout, `serve` finds a taken port before
//! loading anything, logs carry no colour codes off a terminal.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fake_cargo::{FakeCargo, FakeCrate};
use crate::fake_go::{FakeGo, FakeModule};
use crate::fake_maven::FakeMaven;
use crate::fake_npm::{FakeNpm, FakePackage, FakeVersion};
use crate::fake_pypi::{FakeProject, FakePypi, FakeRelease};
use crate::support::{Gatehouse, Setup, component, eventually, gatehouse_command};

/// 2024-01-01 and 2024-03-01, seconds since the epoch.
const JANUARY: i64 = 1_704_067_200;
const MARCH: i64 = 1_709_251_200;
/// Versions published after this (2024-02-15) are too young for the layout's `min-age`.
const CUTOFF: i64 = 1_707_955_200;

/// A `min_age` that holds back whatever was published after [`CUTOFF`].
fn min_age() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    format!("{}d", (now - CUTOFF) / 86_400)
}

/// The three fake registries and a gatehouse in front of them, with the
/// min-age, license, install-scripts and malicious policies and one MAL
/// record per ecosystem imported before it starts.
struct World {
    npm: FakeNpm,
    pypi: FakePypi,
    _cargo: FakeCargo,
    gatehouse: Gatehouse,
}

fn world() -> World {
    let npm = FakeNpm::start(vec![
        FakePackage::new("young").version(FakeVersion::new("1.0.0").published(MARCH)),
        FakePackage::new("copyleft").version(
            FakeVersion::new("1.0.0")
                .published(JANUARY)
                .license("GPL-3.0-only"),
        ),
        FakePackage::new("scripted").version(
            FakeVersion::new("1.0.0")
                .published(JANUARY)
                .script("postinstall", "node setup.js"),
        ),
        FakePackage::new("evil").version(FakeVersion::new("1.0.0").published(JANUARY)),
        FakePackage::new("fine").version(FakeVersion::new("1.0.0").published(JANUARY)),
    ]);
    let pypi = FakePypi::start(vec![
        FakeProject::new("young-py")
            .release(FakeRelease::new("1.0").uploaded("2024-03-01T00:00:00.000000Z")),
        FakeProject::new("evil-py").release(FakeRelease::new("1.0")),
        FakeProject::new("fine-py").release(FakeRelease::new("1.0")),
    ]);
    // Published in January, February and March 2024, by position.
    let cargo = FakeCargo::start(vec![
        FakeCrate::new("youngcrate")
            .version("0.1.0")
            .version("0.2.0")
            .version("0.3.0"),
        FakeCrate::new("evilcrate").version("1.0.0"),
    ]);
    let setup = Setup {
        policies: vec!["min-age", "license", "install-scripts", "malicious"],
        adapters: vec!["npm", "pypi"],
        gate_policy: format!(
            "policies:\n  default:\n    min-age: {{min_age: {}}}\n    license: {{warn: [GPL-3.0]}}\n    install-scripts: {{action: warn}}\n    malicious: {{action: block}}\n",
            min_age()
        ),
        upstreams: vec![
            ("npm".into(), npm.url()),
            ("pypi".into(), pypi.url()),
            ("cargo".into(), cargo.url()),
        ],
        extra_config: String::new(),
    };
    let gatehouse = Gatehouse::start_prepared(setup, |root| {
        std::fs::copy(
            component("cargo-registry"),
            root.join("adapters").join("cargo.wasm"),
        )
        .expect("copy the cargo adapter");
        import_malicious(root);
    });
    World {
        npm,
        pypi,
        _cargo: cargo,
        gatehouse,
    }
}

/// OSV malicious-package reports for evil (npm), evil-py (PyPI), evilcrate
/// (crates.io), example.test/evil (Go) and org.example:evil (Maven).
fn import_malicious(root: &Path) {
    let records = root.join("osv-records");
    std::fs::create_dir_all(&records).expect("mkdir");
    for (id, ecosystem, name, version) in [
        ("MAL-2099-1", "npm", "evil", "1.0.0"),
        ("MAL-2099-2", "PyPI", "evil-py", "1.0"),
        ("MAL-2099-3", "crates.io", "evilcrate", "1.0.0"),
        ("MAL-2099-4", "Go", "example.test/evil", "v1.1.0"),
        ("MAL-2099-5", "Maven", "org.example:evil", "1.1"),
    ] {
        let record = serde_json::json!({
            "id": id,
            "modified": "2025-01-01T00:00:00Z",
            "summary": format!("Malicious code in {name}"),
            "affected": [{"package": {"ecosystem": ecosystem, "name": name}, "versions": [version]}],
        });
        std::fs::write(records.join(format!("{id}.json")), record.to_string()).expect("record");
    }
    let import = gatehouse_command(root, &["osv", "import", records.to_str().expect("utf-8")]);
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
}

impl World {
    /// What the proxy does with the version's artifact: `block` when refused,
    /// else the action of the artifact gate's audit record.
    async fn proxy_action(&self, ecosystem: &str, name: &str, version: &str) -> String {
        let gatehouse = &self.gatehouse;
        let path = match ecosystem {
            "npm" => format!("/npm/{name}/-/{name}-{version}.tgz"),
            "pypi" => {
                let file = self
                    .pypi
                    .filenames(name)
                    .into_iter()
                    .find(|f| f.ends_with(".whl"))
                    .expect("a wheel");
                format!("/pypi/files/{name}/{file}")
            }
            _ => format!("/cargo/api/v1/crates/{name}/{version}/download"),
        };
        let response = Gatehouse::client()
            .get(format!("{}{path}", gatehouse.url))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        if status == 403 {
            return "block".into();
        }
        assert_eq!(
            status,
            200,
            "GET {path}: {}",
            response.text().await.unwrap_or_default()
        );
        let audit = gatehouse
            .admin_json(&format!(
                "/api/v1/admin/proxy/audit?event=artifact&package={name}&version={version}&limit=1"
            ))
            .await;
        let record = &audit["records"][0];
        println!("the proxy's record of {name} {version}: {record}");
        record["action"].as_str().unwrap_or("?").to_owned()
    }

    /// `gatehouse check`'s action (from its JSON) and exit code.
    fn check(&self, args: &[&str]) -> (String, Option<i32>, String) {
        let mut all = vec!["check", "--json"];
        all.extend_from_slice(args);
        let output = gatehouse_command(self.gatehouse.dir.path(), &all);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let action = stdout
            .lines()
            .next()
            .and_then(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .and_then(|answer| answer["action"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let said = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        (action, output.status.code(), said)
    }
}

/// For a version under the minimum age, a license-warned version, an
/// install-scripts version and a MAL version, in every spelling of each
/// ecosystem: `decide`, `check` and the proxy give the same action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_and_check_agree_with_the_proxy() {
    let world = world();
    let cases: &[(&[&str], &str, &str, &str)] = &[
        (&["npm"], "young", "1.0.0", "block"),
        (&["npm"], "copyleft", "1.0.0", "warn"),
        (&["npm"], "scripted", "1.0.0", "warn"),
        (&["npm"], "evil", "1.0.0", "block"),
        (&["npm"], "fine", "1.0.0", "allow"),
        (&["pypi", "PyPI"], "young-py", "1.0", "block"),
        (&["pypi", "PyPI"], "evil-py", "1.0", "block"),
        (&["pypi", "PyPI"], "fine-py", "1.0", "allow"),
        (&["cargo", "crates.io"], "youngcrate", "0.3.0", "block"),
        (&["cargo", "crates.io"], "youngcrate", "0.1.0", "allow"),
        (&["cargo", "crates.io"], "evilcrate", "1.0.0", "block"),
    ];
    for (spellings, name, version, expected) in cases {
        let proxy = world.proxy_action(spellings[0], name, version).await;
        assert_eq!(&proxy, expected, "the proxy on {name} {version}");
        for ecosystem in *spellings {
            let answer = world
                .gatehouse
                .get_json(&format!(
                    "/api/v1/decide?ecosystem={ecosystem}&name={name}&version={version}"
                ))
                .await;
            assert_eq!(
                answer["action"], *expected,
                "decide {ecosystem} {name}: {answer}"
            );
            assert_eq!(answer["facts"], "upstream", "{answer}");
            let (action, code, said) = world.check(&[ecosystem, name, version]);
            assert_eq!(&action, expected, "check {ecosystem} {name}: {said}");
            let exit = if *expected == "block" { 1 } else { 0 };
            assert_eq!(code, Some(exit), "check {ecosystem} {name}: {said}");
        }
    }
    // PyPI spells one version several ways.
    let respelt = world
        .gatehouse
        .get_json("/api/v1/decide?ecosystem=pypi&name=Young_Py&version=1.0.0")
        .await;
    assert_eq!(respelt["action"], "block", "{respelt}");
    assert_eq!(respelt["facts"], "upstream", "{respelt}");
    // Name-only judging is there when asked for, and says what it lacks: the
    // young version only warns that its age is unknown.
    let offline = world
        .gatehouse
        .get_json("/api/v1/decide?ecosystem=npm&name=young&version=1.0.0&offline=true")
        .await;
    assert_eq!(offline["action"], "warn", "{offline}");
    assert_eq!(offline["facts"], "name-only", "{offline}");
    assert!(world.npm.hits("/young") >= 1);
}

/// Go modules and Maven artifacts are judged on their adapters' facts too,
/// in either spelling (`go`/`Go`, `maven`/`Maven`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_reads_go_and_maven_upstreams() {
    let go = FakeGo::start(vec![
        FakeModule::new("example.test/evil")
            .version("v1.0.0")
            .version("v1.1.0"),
    ]);
    let maven = FakeMaven::start("org.example", "evil", &[("1.0", false), ("1.1", false)]);
    let setup = Setup {
        policies: vec!["malicious"],
        adapters: vec!["maven"],
        gate_policy: "policies:\n  default:\n    malicious: {action: block}\n".into(),
        upstreams: vec![("maven".into(), maven.url()), ("go".into(), go.proxy_url())],
        // Continues the go block: `.info` needs no checksum database.
        extra_config: "    settings:\n      verify: false\n".into(),
    };
    let gatehouse = Gatehouse::start_prepared(setup, |root| {
        std::fs::copy(component("goproxy"), root.join("adapters/go.wasm")).expect("copy");
        import_malicious(root);
    });
    for (ecosystem, name, version, expected) in [
        ("go", "example.test/evil", "v1.1.0", "block"),
        ("Go", "example.test/evil", "1.1.0", "block"),
        ("go", "example.test/evil", "v1.0.0", "allow"),
        ("maven", "org.example:evil", "1.1", "block"),
        ("Maven", "org.example:evil", "1.0", "allow"),
    ] {
        let answer = gatehouse
            .get_json(&format!(
                "/api/v1/decide?ecosystem={ecosystem}&name={name}&version={version}"
            ))
            .await;
        assert_eq!(
            answer["action"], expected,
            "{ecosystem} {name} {version}: {answer}"
        );
        assert_eq!(answer["facts"], "upstream", "{answer}");
    }
    assert!(go.hits("/example.test/evil/@v/v1.1.0.info") >= 1);
}

/// An unknown ecosystem is the caller's error: 400 from `decide`, exit 2 from `check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ecosystem_is_an_error() {
    let world = world();
    for request in [
        Gatehouse::client().get(format!(
            "{}/api/v1/decide?ecosystem=cobol&name=x&version=1",
            world.gatehouse.url
        )),
        Gatehouse::client()
            .post(format!("{}/api/v1/decide", world.gatehouse.url))
            .body(r#"[{"ecosystem": "npm", "name": "fine", "version": "1.0.0"}, {"ecosystem": "cobol", "name": "x", "version": "1"}]"#),
    ] {
        let response = request.send().await.expect("request");
        assert_eq!(response.status().as_u16(), 400);
        let body = response.text().await.expect("body");
        assert!(body.contains("unknown ecosystem \\\"cobol\\\""), "{body}");
    }
    let (_, code, said) = world.check(&["cobol", "x", "1"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("unknown ecosystem"), "{said}");
    // A version upstream does not have is an error too, not an allow.
    let (action, code, said) = world.check(&["npm", "fine", "9.9.9"]);
    assert_eq!((action.as_str(), code), ("error", Some(2)), "{said}");
}

/// The lockfile fixtures of the suite.
fn lockfile(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/lockfiles")
        .join(name)
}

/// `check --lockfile` on an npm, a pip and a cargo lockfile exits 1 naming
/// each blocked package with rule and reason, 0 when everything passes; the
/// decide API answers the same per package.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_lockfile_names_the_blocked_packages() {
    let world = world();
    for (file, blocked) in [
        ("package-lock.json", &["young@1.0.0", "evil@1.0.0"][..]),
        ("requirements.txt", &["young-py@1.0", "evil-py@1.0"][..]),
        ("Cargo.lock", &["youngcrate@0.3.0", "evilcrate@1.0.0"][..]),
    ] {
        let path = lockfile(file);
        let started = std::time::Instant::now();
        let output = gatehouse_command(
            world.gatehouse.dir.path(),
            &["check", "--lockfile", path.to_str().expect("utf-8")],
        );
        println!("check --lockfile {file}: {:?}", started.elapsed());
        let text = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{file}: {text}");
        for package in blocked {
            assert!(
                text.lines()
                    .any(|line| line.starts_with("block: ") && line.ends_with(package)),
                "{file}: {package} is not named blocked:\n{text}"
            );
        }
        assert!(text.contains("block min-age: "), "{file}: {text}");
        assert!(text.contains("block malicious: "), "{file}: {text}");
        assert!(text.contains("MAL-2099-"), "{file}: {text}");
        assert!(text.contains(" 2 blocked"), "{file}: {text}");

        let posted = Gatehouse::client()
            .post(format!(
                "{}/api/v1/decide?lockfile={file}",
                world.gatehouse.url
            ))
            .body(std::fs::read(&path).expect("fixture"))
            .send()
            .await
            .expect("request");
        assert_eq!(posted.status().as_u16(), 200);
        let answers: serde_json::Value = posted.json().await.expect("json");
        let blocks = answers
            .as_array()
            .expect("a list")
            .iter()
            .filter(|a| a["action"] == "block")
            .count();
        assert_eq!(blocks, 2, "{file}: {answers}");
    }
    let clean = world.gatehouse.dir.path().join("clean/package-lock.json");
    std::fs::create_dir_all(clean.parent().expect("a parent")).expect("mkdir");
    std::fs::write(
        &clean,
        r#"{"lockfileVersion": 3, "packages": {"": {"name": "app"}, "node_modules/fine": {"version": "1.0.0"}}}"#,
    )
    .expect("write");
    let output = gatehouse_command(
        world.gatehouse.dir.path(),
        &["check", "--lockfile", clean.to_str().expect("utf-8")],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("1 packages: 1 allowed"), "{text}");
    assert!(
        output.stderr.is_empty(),
        "check is quiet without -v: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A policy that traps at run time is shown with its failure, and how often
/// it failed, at `/api/v1/admin/components`, where its block reason points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_policy_shows_its_failure_in_the_components() {
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["misbehave"],
        gate_policy: "policies:\n  default:\n    misbehave: {behavior: trap}\n".into(),
        ..Setup::default()
    });
    for _ in 0..2 {
        let answer = gatehouse
            .get_json("/api/v1/decide?ecosystem=npm&name=a&version=1.0.0")
            .await;
        assert_eq!(answer["action"], "block", "{answer}");
        let reason = answer["verdicts"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("/api/v1/admin/components"), "{reason}");
    }
    let shown = eventually(Duration::from_secs(10), || async {
        let components = gatehouse.admin_json("/api/v1/admin/components").await;
        components["components"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["name"] == "misbehave"
                    && c["status"] == "active"
                    && c["failures"] == 2
                    && c["last_failure"]["kind"] == "trap"
                    && c["last_failure"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("trapped"))
                    && c["last_failure"]["time"].is_string()
            })
    })
    .await;
    assert!(
        shown.is_some(),
        "{}",
        gatehouse.admin_json("/api/v1/admin/components").await
    );
}

/// `check` without a config says how to make one and writes nothing;
/// `audit verify` writes nothing either.
#[test]
fn check_never_writes_a_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "npm", "left-pad", "1.3.0", "--data-dir"])
        .arg(&data_dir)
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_DATA_DIR")
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(
        said.contains("no config at") && said.contains("gatehouse init"),
        "{said}"
    );
    assert!(!data_dir.exists(), "check wrote {}", data_dir.display());

    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["audit", "verify", "missing-audit.log"])
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_DATA_DIR")
        .output()
        .expect("runs");
    assert_ne!(verify.status.code(), Some(0));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .collect();
    assert!(left.is_empty(), "audit verify wrote {left:?}");
}

/// `serve` on a taken port fails before compiling any component, and its log,
/// written to a pipe, has no colour codes.
#[test]
fn serve_binds_first_and_logs_plain_text() {
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::process::{Command, Stdio};

    let layout = |listen: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("policies")).expect("mkdir");
        std::fs::copy(
            component("deny-list"),
            dir.path().join("policies/deny-list.wasm"),
        )
        .expect("copy");
        std::fs::write(
            dir.path().join("gatehouse.yaml"),
            format!("listen: {listen}\ndata_dir: .\npolicies_dir: policies\nadapters_dir: adapters\ngate_policy: gate-policy.yaml\n"),
        )
        .expect("config");
        dir
    };
    let serve = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["serve", "--config"])
            .arg(dir.join("gatehouse.yaml"))
            .env("GATEHOUSE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts")
    };

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address").to_string();
    let dir = layout(&address);
    let output = serve(dir.path()).wait_with_output().expect("ends");
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("listening on {address}")), "{said}");
    assert!(
        !dir.path().join("cache/compiled").exists(),
        "components were compiled before the port was tried"
    );
    drop(taken);

    let dir = layout("127.0.0.1:0");
    let mut child = serve(dir.path());
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listen line");
    assert!(line.starts_with("gatehouse listening on"), "{line}");
    let _ = child.kill();
    let _ = child.wait();
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("log");
    assert!(log.contains("component loaded"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log:?}"
    );
}
