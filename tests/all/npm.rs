//! npm through gatehouse, end to end with the real npm and pnpm (the
//! console's browser test reuses its layout and project).
//!
//! Each test serves its own fake registry, starts `gatehouse serve` in front of
//! it with the npm adapter and the deny-list policy, and runs the real client
//! in a temporary project whose `.npmrc`, cache, store and home are its own, so
//! nothing leaks between tests or from the user's configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::fake_npm::{FakeNpm, FakePackage, FakeVersion};
use crate::support::{
    Gatehouse, Ran, Setup, assert_valid_cyclonedx, eventually, gatehouse_command, real_client,
    replace_file, run_client,
};

/// The npm adapter's `blocked_versions` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The default: blocked versions stay, deprecated with the reason.
    Deprecate,
    /// Blocked versions are dropped and listed under `policyRestrictions`.
    Remove,
}

/// Versions 1.0.0 to 2.0.0 of `name`; `latest` is 2.0.0.
pub(crate) fn four_versions(name: &str) -> FakePackage {
    ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]
        .into_iter()
        .fold(FakePackage::new(name), |package, version| {
            package.version(FakeVersion::new(version))
        })
}

/// A gate policy whose deny list names `entries`.
pub(crate) fn deny(entries: &[&str]) -> String {
    let quoted: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
    format!(
        "policies:\n  default:\n    deny-list:\n      packages: [{}]\n",
        quoted.join(", ")
    )
}

/// `gatehouse serve` with the npm adapter and the deny-list policy in front of `registry`.
pub(crate) fn gatehouse(registry: &FakeNpm, gate_policy: String, mode: Mode) -> Gatehouse {
    // `Setup` writes the upstream last, so these lines continue its block.
    let extra_config = match mode {
        Mode::Deprecate => String::new(),
        Mode::Remove => "    settings:\n      blocked_versions: remove\n".into(),
    };
    Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        adapters: vec!["npm"],
        gate_policy,
        upstreams: vec![("npm".into(), registry.url())],
        extra_config,
    })
}

/// The real npm (see [`real_client`]).
pub(crate) fn npm() -> Option<PathBuf> {
    real_client("npm", &["--version"], "install Node.js")
}

/// The real pnpm (see [`real_client`]).
fn pnpm() -> Option<PathBuf> {
    real_client("pnpm", &["--version"], "npm install -g pnpm")
}

/// A temporary project for one gatehouse: `app/` with its `.npmrc`, and the
/// client's home, cache and store beside it.
pub(crate) struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub(crate) fn new(gatehouse: &Gatehouse) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = Project { dir };
        for sub in ["app", "home", "cache", "store"] {
            std::fs::create_dir_all(project.dir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(
            project.app().join("package.json"),
            r#"{"name": "gatehouse-e2e", "version": "1.0.0", "private": true}"#,
        )
        .expect("package.json");
        let npmrc = format!(
            "registry={}/npm/\ncache={}\nfetch-retries=0\naudit=false\nfund=false\nupdate-notifier=false\n",
            gatehouse.url,
            project.cache().display(),
        );
        std::fs::write(project.app().join(".npmrc"), npmrc).expect(".npmrc");
        project
    }

    fn app(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Runs `program args` in the project, isolated from the user's config.
    async fn run(&self, program: &Path, args: &[&str]) -> Ran {
        let home = self.dir.path().join("home");
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(self.app())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_STATE_HOME", home.join(".local/state"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.to_ascii_lowercase().starts_with("npm_config_") {
                command.env_remove(name.as_ref());
            }
        }
        // Neither the user's nor the installation's npmrc applies: only the project's.
        command
            .env("npm_config_userconfig", home.join(".npmrc"))
            .env("npm_config_globalconfig", home.join("global-npmrc"));
        let what = format!("{} {}", program.display(), args.join(" "));
        run_client(command, &what).await
    }

    pub(crate) async fn npm(&self, npm: &Path, args: &[&str]) -> Ran {
        let mut all = args.to_vec();
        all.extend(["--no-audit", "--no-fund", "--prefer-online"]);
        self.run(npm, &all).await
    }

    /// pnpm with its store and cache in the project's directory (npm warns
    /// about these keys in `.npmrc`, so they go on the command line).
    async fn pnpm(&self, pnpm: &Path, args: &[&str]) -> Ran {
        let store = self.dir.path().join("store");
        let cache = self.cache();
        let mut all = args.to_vec();
        all.extend([
            "--store-dir",
            path_str(&store),
            "--cache-dir",
            path_str(&cache),
        ]);
        self.run(pnpm, &all).await
    }

    /// The version of `name` that `package-lock.json` records.
    fn locked_version(&self, name: &str) -> Option<String> {
        let lock: Value =
            serde_json::from_slice(&std::fs::read(self.app().join("package-lock.json")).ok()?)
                .expect("package-lock.json is JSON");
        let entry = &lock["packages"][format!("node_modules/{name}")];
        entry["version"].as_str().map(str::to_owned)
    }

    /// The version of `name` in `node_modules`.
    pub(crate) fn installed_version(&self, name: &str) -> Option<String> {
        let manifest = self
            .app()
            .join("node_modules")
            .join(name)
            .join("package.json");
        let manifest: Value = serde_json::from_slice(&std::fs::read(manifest).ok()?).ok()?;
        manifest["version"].as_str().map(str::to_owned)
    }

    /// Empties `node_modules` and the client's cache, keeping the lockfiles.
    fn wipe_installed(&self) {
        for dir in [self.app().join("node_modules"), self.cache()] {
            std::fs::remove_dir_all(&dir).expect("wipe");
        }
        std::fs::create_dir_all(self.cache()).expect("mkdir");
    }
}

/// Asserts that `ran` failed and printed the deny-list's reason for `spec`.
pub(crate) fn assert_blocked_with_reason(ran: &Ran, spec: &str) {
    assert!(!ran.success, "installing {spec} must fail:\n{}", ran.output);
    let reason = format!("deny-list: {spec} is on the deny list");
    assert!(
        ran.output.contains(&reason),
        "the output names the rule and reason ({reason:?}):\n{}",
        ran.output
    );
}

/// A range whose newest match is blocked resolves to the highest allowed one,
/// in both modes, and the lockfile records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_range_skips_the_blocked_version() {
    let Some(npm) = npm() else {
        return;
    };
    let registry = FakeNpm::start(vec![four_versions("ranged")]);
    for mode in [Mode::Deprecate, Mode::Remove] {
        let gatehouse = gatehouse(&registry, deny(&["ranged@1.2.0"]), mode);
        let project = Project::new(&gatehouse);
        let ran = project.npm(&npm, &["install", "ranged@^1.0.0"]).await;
        assert!(ran.success, "{mode:?}: {}", ran.output);
        assert_eq!(
            project.locked_version("ranged").as_deref(),
            Some("1.1.0"),
            "{mode:?}"
        );
        assert_eq!(
            project.installed_version("ranged").as_deref(),
            Some("1.1.0"),
            "{mode:?}"
        );
        println!(
            "{mode:?}: npm install ranged@^1.0.0 → 1.1.0 in {:?}",
            ran.took
        );
    }
}

/// An exact pin of a blocked version fails, and npm prints the rule and reason,
/// in both modes: `deprecate` through the tarball's 403 (npm fails before it
/// would print the deprecation), `remove` through `policyRestrictions`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_exact_pin_of_a_blocked_version_fails_with_the_reason() {
    let Some(npm) = npm() else {
        return;
    };
    let registry = FakeNpm::start(vec![four_versions("pinned")]);
    for mode in [Mode::Deprecate, Mode::Remove] {
        let gatehouse = gatehouse(&registry, deny(&["pinned@1.2.0"]), mode);
        let project = Project::new(&gatehouse);
        let ran = project.npm(&npm, &["install", "pinned@1.2.0"]).await;
        assert_blocked_with_reason(&ran, "pinned@1.2.0");
        assert_eq!(project.installed_version("pinned"), None, "{mode:?}");
        println!(
            "{mode:?}: npm install pinned@1.2.0 refused in {:?}",
            ran.took
        );
    }
}

/// `npm ci` from a lockfile written before the block fails at the tarball, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_ci_fails_at_the_tarball_of_a_newly_blocked_version() {
    let Some(npm) = npm() else {
        return;
    };
    let registry = FakeNpm::start(vec![four_versions("locked")]);
    let gatehouse = gatehouse(&registry, deny(&[]), Mode::Deprecate);
    let project = Project::new(&gatehouse);
    let ran = project.npm(&npm, &["install", "locked@1.2.0"]).await;
    assert!(ran.success, "{}", ran.output);
    assert_eq!(project.locked_version("locked").as_deref(), Some("1.2.0"));

    replace_file(
        &gatehouse.path("gate-policy.yaml"),
        deny(&["locked@1.2.0"]).as_bytes(),
    );
    eventually(Duration::from_secs(30), || async {
        gatehouse.decide("npm", "locked", "1.2.0").await == "block"
    })
    .await
    .expect("the new gate policy takes effect");
    project.wipe_installed();

    let tarball_hits = registry.hits("/locked/-/locked-1.2.0.tgz");
    let ran = project.npm(&npm, &["ci"]).await;
    assert_blocked_with_reason(&ran, "locked@1.2.0");
    assert_eq!(project.installed_version("locked"), None);
    assert_eq!(
        registry.hits("/locked/-/locked-1.2.0.tgz"),
        tarball_hits,
        "the block comes before any fetch (the stored copy is not served either)"
    );
}

/// A tarball whose bytes do not match the declared integrity is refused with
/// a 502 that says so, and nothing is stored: the next request goes upstream again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_tarball_is_refused_and_not_cached() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("tampered")
            .version(FakeVersion::new("1.0.0"))
            .version(FakeVersion::new("1.0.1").tampered()),
    ]);
    let gatehouse = gatehouse(&registry, deny(&[]), Mode::Deprecate);
    let upstream_path = "/tampered/-/tampered-1.0.1.tgz";
    let url = format!("{}/npm{upstream_path}", gatehouse.url);
    for attempt in 1..=2 {
        let response = Gatehouse::client().get(&url).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body: Value = response.json().await.expect("a JSON error");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains("tampered@1.0.1") && message.contains("sha512 mismatch"),
            "{body}"
        );
        assert!(message.contains("not cached"), "{body}");
        assert_eq!(registry.hits(upstream_path), attempt, "fetched anew");
    }
    assert_eq!(
        files_under(&gatehouse.path("artifacts")),
        Vec::<PathBuf>::new(),
        "nothing is stored"
    );

    // The genuine neighbour is served and stored, so the check above can fail.
    let genuine = Gatehouse::client()
        .get(format!(
            "{}/npm/tampered/-/tampered-1.0.0.tgz",
            gatehouse.url
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(genuine.status(), StatusCode::OK);
    let bytes = genuine.bytes().await.expect("body");
    assert_eq!(Some(bytes.as_ref()), registry.tarball("tampered", "1.0.0"));
    assert_eq!(files_under(&gatehouse.path("artifacts")).len(), 1);

    if let Some(npm) = npm() {
        let project = Project::new(&gatehouse);
        let ran = project.npm(&npm, &["install", "tampered@1.0.1"]).await;
        assert!(!ran.success, "{}", ran.output);
        assert!(ran.output.contains("502"), "{}", ran.output);
        assert_eq!(project.installed_version("tampered"), None);
    }
}

/// A failure of gatehouse's own artifact store is answered 503 with the
/// store's reason, not blamed on upstream with a 502: here a directory sits
/// where one tarball's stored file belongs, so reading it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_is_a_local_503_not_an_upstream_502() {
    use sha2::{Digest as _, Sha512};

    let registry = FakeNpm::start(vec![four_versions("stored")]);
    let gatehouse = gatehouse(&registry, deny(&[]), Mode::Deprecate);
    let genuine = registry.tarball("stored", "1.0.0").expect("a tarball");
    let hex = hex::encode(Sha512::digest(genuine));
    let entry = gatehouse.path(&format!("artifacts/sha512/{}/{hex}", &hex[..2]));
    std::fs::create_dir_all(&entry).expect("a directory in the entry's place");

    let upstream_path = "/stored/-/stored-1.0.0.tgz";
    let response = Gatehouse::client()
        .get(format!("{}/npm{upstream_path}", gatehouse.url))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("a JSON error");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("stored@1.0.0: artifact store: "),
        "{body}"
    );
    assert_eq!(
        registry.hits(upstream_path),
        0,
        "the store failed before any fetch"
    );

    // The store as such works: the neighbour is fetched, stored and served.
    let neighbour = Gatehouse::client()
        .get(format!("{}/npm/stored/-/stored-1.1.0.tgz", gatehouse.url))
        .send()
        .await
        .expect("request");
    assert_eq!(neighbour.status(), StatusCode::OK);
    let bytes = neighbour.bytes().await.expect("body");
    assert_eq!(Some(bytes.as_ref()), registry.tarball("stored", "1.1.0"));
}

/// `path` as an argument (temporary paths are UTF-8).
fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Every regular file below `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A scoped package whose `latest` is blocked: npm installs the allowed
/// version `latest` now names, in both packument forms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_package_with_blocked_latest() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("@acme/widget")
            .version(FakeVersion::new("1.0.0"))
            .version(FakeVersion::new("1.1.0"))
            .version(FakeVersion::new("2.0.0")),
    ]);
    let gatehouse = gatehouse(&registry, deny(&["@acme/widget@2.0.0"]), Mode::Deprecate);
    let packument = format!("{}/npm/@acme%2fwidget", gatehouse.url);

    let full = Gatehouse::client()
        .get(&packument)
        .send()
        .await
        .expect("request");
    assert_eq!(full.status(), StatusCode::OK);
    let full: Value = full.json().await.expect("json");
    assert_eq!(
        full["dist-tags"]["latest"], "1.1.0",
        "{}",
        full["dist-tags"]
    );
    let deprecation = full["versions"]["2.0.0"]["deprecated"]
        .as_str()
        .unwrap_or_default();
    assert!(deprecation.contains("deny-list"), "{deprecation:?}");
    assert!(
        full["versions"]["1.1.0"]["dist"]["tarball"]
            .as_str()
            .is_some_and(|url| url.starts_with(&gatehouse.url)),
        "tarballs are fetched through gatehouse"
    );

    let abbreviated = Gatehouse::client()
        .get(&packument)
        .header(
            "accept",
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
        )
        .send()
        .await
        .expect("request");
    assert_eq!(abbreviated.status(), StatusCode::OK);
    let header = |name: &str| {
        abbreviated
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        header("content-type").starts_with("application/vnd.npm.install-v1+json"),
        "{}",
        header("content-type")
    );
    assert!(
        header("vary").eq_ignore_ascii_case("accept"),
        "{}",
        header("vary")
    );
    let abbreviated: Value = abbreviated.json().await.expect("json");
    assert_eq!(abbreviated["dist-tags"]["latest"], "1.1.0");
    assert!(
        abbreviated["time"]["1.1.0"].is_string(),
        "the abbreviated form keeps `time`: {abbreviated}"
    );
    assert!(abbreviated.get("readme").is_none(), "and is abbreviated");
    let deprecation = abbreviated["versions"]["2.0.0"]["deprecated"]
        .as_str()
        .unwrap_or_default();
    assert!(deprecation.contains("deny-list"), "{deprecation:?}");

    let Some(npm) = npm() else {
        return;
    };
    let project = Project::new(&gatehouse);
    let ran = project.npm(&npm, &["install", "@acme/widget"]).await;
    assert!(ran.success, "{}", ran.output);
    assert_eq!(
        project.locked_version("@acme/widget").as_deref(),
        Some("1.1.0")
    );
    assert_eq!(
        project.installed_version("@acme/widget").as_deref(),
        Some("1.1.0")
    );
    let index = std::fs::read_to_string(project.app().join("node_modules/@acme/widget/index.js"))
        .expect("installed files");
    assert!(index.contains("genuine"), "{index}");
}

/// pnpm resolves a range around the blocked version too; the lockfile records
/// the allowed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pnpm_range_skips_the_blocked_version() {
    let Some(pnpm) = pnpm() else {
        return;
    };
    let registry = FakeNpm::start(vec![four_versions("ranged")]);
    let gatehouse = gatehouse(&registry, deny(&["ranged@1.2.0"]), Mode::Deprecate);
    let project = Project::new(&gatehouse);
    let ran = project.pnpm(&pnpm, &["add", "ranged@^1.0.0"]).await;
    assert!(ran.success, "{}", ran.output);
    assert_eq!(
        project.installed_version("ranged").as_deref(),
        Some("1.1.0")
    );
    let lockfile: serde_yaml::Value = serde_yaml::from_slice(
        &std::fs::read(project.app().join("pnpm-lock.yaml")).expect("pnpm-lock.yaml"),
    )
    .expect("pnpm-lock.yaml is YAML");
    let locked = &lockfile["importers"]["."]["dependencies"]["ranged"]["version"];
    assert_eq!(locked.as_str(), Some("1.1.0"), "{lockfile:?}");
}

/// pnpm refuses an exact pin of a blocked version in both modes; with
/// `deprecate` it prints the rule and reason (twice: the deprecation warning
/// and the tarball's 403). With `remove` it only says "no matching version":
/// pnpm ignores `policyRestrictions`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pnpm_exact_pin_of_a_blocked_version_fails() {
    let Some(pnpm) = pnpm() else {
        return;
    };
    let registry = FakeNpm::start(vec![four_versions("pinned")]);
    for mode in [Mode::Deprecate, Mode::Remove] {
        let gatehouse = gatehouse(&registry, deny(&["pinned@1.2.0"]), mode);
        let project = Project::new(&gatehouse);
        let ran = project.pnpm(&pnpm, &["add", "pinned@1.2.0"]).await;
        match mode {
            Mode::Deprecate => assert_blocked_with_reason(&ran, "pinned@1.2.0"),
            Mode::Remove => assert!(!ran.success, "{}", ran.output),
        }
        assert_eq!(project.installed_version("pinned"), None, "{mode:?}");
    }
}

/// With client auth on, npm is refused until its `.npmrc` carries an
/// `_authToken` for gatehouse; then it installs (packument and tarball).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_installs_with_its_auth_token_when_clients_must_authenticate() {
    let Some(npm) = npm() else {
        return;
    };
    let token = "npm-client-token";
    let registry = FakeNpm::start(vec![four_versions("tokened")]);
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        adapters: vec!["npm"],
        gate_policy: deny(&["tokened@2.0.0"]),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: format!(
            "clients:\n  required: true\n  tokens:\n    - name: ci-bot\n      sha256: {}\n",
            gatehouse::auth::hash_token(token)
        ),
    });
    let project = Project::new(&gatehouse);
    let anonymous = project.npm(&npm, &["install", "tokened@^1.0.0"]).await;
    assert!(!anonymous.success, "{}", anonymous.output);
    assert!(anonymous.output.contains("401"), "{}", anonymous.output);

    let npmrc = project.app().join(".npmrc");
    let mut text = std::fs::read_to_string(&npmrc).expect(".npmrc");
    let authority = gatehouse.url.trim_start_matches("http:");
    text.push_str(&format!("{authority}/npm/:_authToken={token}\n"));
    std::fs::write(&npmrc, text).expect(".npmrc");
    let ran = project.npm(&npm, &["install", "tokened@^1.0.0"]).await;
    assert!(ran.success, "{}", ran.output);
    assert_eq!(project.locked_version("tokened").as_deref(), Some("1.2.0"));
    let served = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?user=ci-bot&event=serve")
        .await;
    assert_eq!(
        served["records"].as_array().map(Vec::len),
        Some(1),
        "{served}"
    );
}

/// A lockfile's SBOM carries a VEX entry per advisory the policies named:
/// `exploitable` with the affected component where gatehouse blocks,
/// `in_triage` where it only warns, and none for a version outside every
/// advisory's range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockfile_sbom_says_what_gatehouse_made_of_each_advisory() {
    let registry = FakeNpm::start(vec![
        four_versions("audited"),
        four_versions("steady"),
        four_versions("fine"),
    ]);
    let setup = Setup {
        policies: vec!["vulnerability"],
        adapters: vec!["npm"],
        gate_policy: "policies:\n  default:\n    vulnerability: {block_severity: high, warn_severity: low, on_stale: allow}\n".into(),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: String::new(),
    };
    let gatehouse = Gatehouse::start_prepared(setup, |layout| {
        for (id, severity, name, fixed) in [
            ("GHSA-vex0-t000-0001", "HIGH", "audited", "1.2.0"),
            ("GHSA-vex0-t000-0002", "LOW", "steady", "2.0.0"),
            ("GHSA-vex0-t000-0003", "HIGH", "fine", "1.1.0"),
        ] {
            let record = layout.join(format!("{id}.json"));
            let text = serde_json::json!({
                "id": id, "modified": "2025-01-01T00:00:00Z",
                "database_specific": {"severity": severity},
                "affected": [{"package": {"ecosystem": "npm", "name": name},
                  "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
            });
            std::fs::write(&record, text.to_string()).expect("record");
            let import = gatehouse_command(layout, &["osv", "import", path_str(&record)]);
            assert!(
                import.status.success(),
                "{}",
                String::from_utf8_lossy(&import.stderr)
            );
        }
    });
    let lockfile = r#"{"name": "app", "version": "1.0.0", "lockfileVersion": 3, "packages": {
        "": {"name": "app", "version": "1.0.0"},
        "node_modules/audited": {"version": "1.1.0"},
        "node_modules/steady": {"version": "1.0.0"},
        "node_modules/fine": {"version": "2.0.0"}}}"#;
    let response = Gatehouse::client()
        .post(format!(
            "{}/api/v1/sbom?lockfile=package-lock.json",
            gatehouse.url
        ))
        .body(lockfile)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("a body");
    assert_valid_cyclonedx(&text);
    let bom: Value = serde_json::from_str(&text).expect("JSON");
    let vulnerability = |id: &str| {
        bom["vulnerabilities"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["id"] == id)
            .cloned()
    };
    let blocked = vulnerability("GHSA-vex0-t000-0001").expect("the blocking advisory");
    assert_eq!(blocked["analysis"]["state"], "exploitable", "{bom}");
    assert_eq!(
        blocked["affects"],
        serde_json::json!([{"ref": "pkg:npm/audited@1.1.0"}]),
        "{bom}"
    );
    let warned = vulnerability("GHSA-vex0-t000-0002").expect("the warning advisory");
    assert_eq!(warned["analysis"]["state"], "in_triage", "{bom}");
    assert_eq!(
        warned["affects"],
        serde_json::json!([{"ref": "pkg:npm/steady@1.0.0"}]),
        "{bom}"
    );
    assert!(vulnerability("GHSA-vex0-t000-0003").is_none(), "{bom}");
    let decision = |name: &str| {
        bom["components"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name)
            .and_then(|c| c["properties"].as_array())
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "gatehouse:decision")
            .map(|p| p["value"].clone())
    };
    assert_eq!(decision("audited"), Some("block".into()), "{bom}");
    assert_eq!(decision("steady"), Some("warn".into()), "{bom}");
    assert_eq!(decision("fine"), Some("allow".into()), "{bom}");
}

/// `npm audit` is answered from the OSV mirror: an installed version inside an
/// advisory's range is reported with the advisory's id, title and range; a
/// fixed version is not. npm posts the bulk request gzipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_audit_reports_the_mirror_advisories() {
    let registry = FakeNpm::start(vec![four_versions("audited")]);
    let setup = Setup {
        policies: vec!["deny-list"],
        adapters: vec!["npm"],
        gate_policy: deny(&[]),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: String::new(),
    };
    let gatehouse = Gatehouse::start_prepared(setup, |layout| {
        let record = layout.join("GHSA-aud1-t000-0001.json");
        std::fs::write(
            &record,
            r#"{"id": "GHSA-aud1-t000-0001", "modified": "2025-01-01T00:00:00Z",
                "summary": "Prototype pollution in audited",
                "database_specific": {"severity": "HIGH"},
                "affected": [{"package": {"ecosystem": "npm", "name": "audited"},
                  "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]}]}"#,
        )
        .expect("record");
        let import = gatehouse_command(layout, &["osv", "import", path_str(&record)]);
        assert!(
            import.status.success(),
            "{}",
            String::from_utf8_lossy(&import.stderr)
        );
    });

    // The endpoint itself, gzipped as npm sends it.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gzip,
        br#"{"audited": ["1.1.0", "2.0.0"], "unknown-pkg": ["1.0.0"]}"#,
    )
    .expect("gzip");
    let response = Gatehouse::client()
        .post(format!(
            "{}/npm/-/npm/v1/security/advisories/bulk",
            gatehouse.url
        ))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip.finish().expect("gzip"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.expect("JSON");
    assert_eq!(
        report["audited"][0]["id"], "GHSA-aud1-t000-0001",
        "{report}"
    );
    assert_eq!(
        report["audited"][0]["vulnerable_versions"], "<1.2.0",
        "{report}"
    );
    assert_eq!(report["audited"][0]["severity"], "high", "{report}");
    assert!(report.get("unknown-pkg").is_none(), "{report}");
    let fixed_only = Gatehouse::client()
        .post(format!(
            "{}/npm/-/npm/v1/security/advisories/bulk",
            gatehouse.url
        ))
        .body(r#"{"audited": ["2.0.0"]}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(fixed_only.text().await.expect("body"), "{}");
    let garbage = Gatehouse::client()
        .post(format!(
            "{}/npm/-/npm/v1/security/advisories/bulk",
            gatehouse.url
        ))
        .header("content-encoding", "gzip")
        .body("not gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);

    // The real npm, on a lockfile holding an affected version.
    let Some(npm) = npm() else {
        return;
    };
    let project = Project::new(&gatehouse);
    let ran = project.npm(&npm, &["install", "audited@1.1.0"]).await;
    assert!(ran.success, "{}", ran.output);
    let audit = project.run(&npm, &["audit", "--json"]).await;
    assert!(
        !audit.success,
        "npm audit fails on a vulnerable tree: {}",
        audit.output
    );
    assert!(
        audit.output.contains("Prototype pollution in audited")
            && audit.output.contains("<1.2.0")
            && audit.output.contains("\"severity\": \"high\""),
        "{}",
        audit.output
    );
    let fixed = project.npm(&npm, &["install", "audited@2.0.0"]).await;
    assert!(fixed.success, "{}", fixed.output);
    let clean = project.run(&npm, &["audit"]).await;
    assert!(clean.success, "{}", clean.output);
    assert!(
        clean.output.contains("found 0 vulnerabilities"),
        "{}",
        clean.output
    );
}

/// Policies get the part of each version's document they declared they read:
/// install-scripts reads `raw.scripts`, so the command it quotes reaches the
/// tarball's 403 through the adapter's trimmed `raw`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_reading_raw_keys_gets_them() {
    let registry = FakeNpm::start(vec![
        FakePackage::new("scripted")
            .version(FakeVersion::new("1.0.0"))
            .version(FakeVersion::new("1.1.0").script("postinstall", "node steal-tokens.js")),
    ]);
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["install-scripts"],
        adapters: vec!["npm"],
        gate_policy: "policies:\n  default:\n    install-scripts: {action: block}\n".into(),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: String::new(),
    });
    let response = Gatehouse::client()
        .get(format!(
            "{}/npm/scripted/-/scripted-1.1.0.tgz",
            gatehouse.url
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("a JSON error");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("install-scripts")
            && message.contains("postinstall: `node steal-tokens.js`"),
        "{body}"
    );
    let allowed = Gatehouse::client()
        .get(format!(
            "{}/npm/scripted/-/scripted-1.0.0.tgz",
            gatehouse.url
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(allowed.status(), StatusCode::OK);
}

/// One `npm install` from a 300-version packument whose every version is
/// warned about (a license on the warn list) writes one metadata audit record
/// with the count per rule, not one per version; the installed version's
/// tarball gets a record of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_install_audits_one_metadata_record_per_packument() {
    let Some(npm) = npm() else {
        return;
    };
    let mut package = FakePackage::new("many");
    for minor in 0..300 {
        package =
            package.version(FakeVersion::new(&format!("1.{minor}.0")).license("GPL-3.0-only"));
    }
    let registry = FakeNpm::start(vec![package]);
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["license"],
        adapters: vec!["npm"],
        gate_policy: "policies:\n  default:\n    license: {warn: [GPL-3.0]}\n".into(),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: String::new(),
    });
    let project = Project::new(&gatehouse);
    let ran = project.npm(&npm, &["install", "many@1.299.0"]).await;
    assert!(ran.success, "{}", ran.output);

    let metadata = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?event=metadata&package=many")
        .await;
    let records = metadata["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{metadata}");
    assert_eq!(records[0]["action"], "warn", "{metadata}");
    assert_eq!(records[0]["rule"], "license", "{metadata}");
    let reason = records[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("300 versions allowed, 300 with warnings (license: 300)"),
        "{reason}"
    );
    let own = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?event=artifact&package=many")
        .await;
    let own = own["records"].as_array().expect("records");
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["version"], "1.299.0");
    assert_eq!(own[0]["action"], "warn");
}

/// Manifest confusion: the packument shows no install script, the
/// tarball's own `package.json` declares a `postinstall`. npm runs what the
/// tarball says, so the artifact check sends the tarball's facts through
/// install-scripts, and npm prints a refusal that says the registry
/// metadata hid the script. The version without hidden scripts installs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postinstall_the_packument_hid_is_blocked_at_the_tarball() {
    let Some(npm) = npm() else {
        return;
    };
    let registry = FakeNpm::start(vec![
        FakePackage::new("confused")
            .version(FakeVersion::new("1.0.0"))
            .version(FakeVersion::new("1.1.0").hidden_script("postinstall", "node steal.js"))
            .tag("latest", "1.0.0"),
    ]);
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["install-scripts"],
        adapters: vec!["npm"],
        gate_policy: "policies:\n  default:\n    install-scripts: {action: block}\n".into(),
        upstreams: vec![("npm".into(), registry.url())],
        extra_config: String::new(),
    });
    let project = Project::new(&gatehouse);
    let ran = project.npm(&npm, &["install", "confused@1.1.0"]).await;
    assert!(
        !ran.success,
        "the hidden postinstall is refused:\n{}",
        ran.output
    );
    assert!(
        ran.output.contains("install-scripts")
            && ran.output.contains("postinstall")
            && ran.output.contains("registry metadata hid"),
        "npm prints the rule and that the registry metadata hid the script:\n{}",
        ran.output
    );
    assert_eq!(project.installed_version("confused"), None);
    let clean = project.npm(&npm, &["install", "confused@1.0.0"]).await;
    assert!(clean.success, "{}", clean.output);
    assert_eq!(
        project.installed_version("confused").as_deref(),
        Some("1.0.0")
    );
}

/// A project's `package-lock.json` of a few hundred packages (real npm
/// against the fake registry) gives one valid CycloneDX document: one
/// component per package, each with gatehouse's decision, the one the deny
/// list now names marked `block` with its rule and reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_lockfile_gives_one_sbom_with_every_decision() {
    let Some(npm) = npm() else {
        return;
    };
    const PACKAGES: usize = 200;
    let registry = FakeNpm::start(
        (0..PACKAGES)
            .map(|i| FakePackage::new(&format!("dep-{i:03}")).version(FakeVersion::new("1.0.0")))
            .collect(),
    );
    let open = gatehouse(&registry, deny(&[]), Mode::Deprecate);
    let project = Project::new(&open);
    let specs: Vec<String> = (0..PACKAGES).map(|i| format!("dep-{i:03}@1.0.0")).collect();
    let mut args = vec!["install"];
    args.extend(specs.iter().map(String::as_str));
    let ran = project.npm(&npm, &args).await;
    assert!(ran.success, "{}", ran.output);
    let lockfile = std::fs::read(project.app().join("package-lock.json")).expect("a lockfile");

    let strict = gatehouse(&registry, deny(&["dep-007@1.0.0"]), Mode::Deprecate);
    let response = Gatehouse::client()
        .post(format!(
            "{}/api/v1/sbom?lockfile=package-lock.json",
            strict.url
        ))
        .body(lockfile)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("a body");
    assert_valid_cyclonedx(&text);
    let bom: Value = serde_json::from_str(&text).expect("JSON");
    let components = bom["components"].as_array().expect("components");
    assert_eq!(components.len(), PACKAGES);
    let property = |component: &Value, name: &str| -> Vec<String> {
        component["properties"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["name"] == format!("gatehouse:{name}"))
            .filter_map(|p| p["value"].as_str().map(str::to_owned))
            .collect()
    };
    for component in components {
        let expected = if component["name"] == "dep-007" {
            "block"
        } else {
            "allow"
        };
        assert_eq!(property(component, "decision"), [expected], "{component}");
    }
    let blocked = components
        .iter()
        .find(|c| c["name"] == "dep-007")
        .expect("dep-007");
    assert_eq!(property(blocked, "rule"), ["deny-list"]);
    assert!(
        property(blocked, "reason")[0].contains("deny-list: dep-007@1.0.0 is on the deny list"),
        "{blocked}"
    );
}
