//! Go modules through gatehouse, end to end with the real go command.
//!
//! Each test serves its own fake module proxy and checksum database, starts
//! `gatehouse serve` in front of them with the go adapter (checking against
//! the database) and the deny-list policy, and runs `go` with
//! `GOPROXY={gatehouse}/go` in a temporary module whose GOPATH, module cache,
//! build cache and home are its own, shut off from the user's Go environment.

use std::path::PathBuf;

use crate::fake_go::{FakeGo, FakeModule};
use crate::support::{Gatehouse, Ran, Setup, component, real_client, run_client};

const DEMO: &str = "example.test/demo";

/// v1.0.0, v1.0.1 (tampered), v1.1.0 and v1.2.0 (latest) of `example.test/demo`,
/// and v1.0.0 of `example.test/CamelCase` (served case-encoded).
fn fake() -> FakeGo {
    FakeGo::start(vec![
        FakeModule::new(DEMO)
            .version("v1.0.0")
            .tampered("v1.0.1")
            .version("v1.1.0")
            .version("v1.2.0"),
        FakeModule::new("example.test/CamelCase").version("v1.0.0"),
    ])
}

/// `gatehouse serve` with the go adapter at `/go`, checking against the
/// fake's checksum database, and the deny-list policy naming `denied`.
fn gatehouse(fake: &FakeGo, denied: &[&str]) -> Gatehouse {
    let quoted: Vec<String> = denied.iter().map(|e| format!("{e:?}")).collect();
    let gate_policy = format!(
        "policies:\n  default:\n    deny-list:\n      packages: [{}]\n",
        quoted.join(", ")
    );
    // `Setup` writes the upstream last, so these lines continue its block; the
    // database's origin must be listed for the host to let the adapter reach it.
    let sumdb = fake.sumdb_url();
    let extra_config =
        format!("    origins: [\"{sumdb}\"]\n    settings:\n      sumdb: \"{sumdb}\"\n");
    Gatehouse::start_prepared(
        Setup {
            policies: vec!["deny-list"],
            gate_policy,
            upstreams: vec![("go".into(), fake.proxy_url())],
            extra_config,
            ..Setup::default()
        },
        // The crate is `goproxy`; the file name makes the route `/go`.
        |root| {
            std::fs::copy(component("goproxy"), root.join("adapters/go.wasm"))
                .expect("copy adapter");
        },
    )
}

/// The real go command (see [`real_client`]).
fn real_go() -> Option<PathBuf> {
    real_client("go", &["version"], "apt-get install golang-go")
}

/// A temporary module `app/` and the go command's own directories beside it.
struct Workspace {
    dir: tempfile::TempDir,
    go: PathBuf,
    proxy: String,
}

impl Workspace {
    fn new(go: PathBuf, gatehouse: &Gatehouse) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["app", "home", "gopath", "modcache", "gocache"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(
            dir.path().join("app/go.mod"),
            "module gatehouse.test/app\n\ngo 1.19\n",
        )
        .expect("go.mod");
        Workspace {
            dir,
            go,
            proxy: format!("{}/go", gatehouse.url),
        }
    }

    fn app(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    fn modcache(&self) -> PathBuf {
        self.dir.path().join("modcache")
    }

    /// Runs `go args` in the module with only this workspace's settings.
    async fn go(&self, args: &[&str]) -> Ran {
        let root = self.dir.path();
        let mut command = tokio::process::Command::new(&self.go);
        command.args(args).current_dir(self.app());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("GO") {
                command.env_remove(&name);
            }
        }
        command
            .env("HOME", root.join("home"))
            .env("GOENV", "off")
            .env("GOPATH", root.join("gopath"))
            .env("GOMODCACHE", self.modcache())
            .env("GOCACHE", root.join("gocache"))
            .env("GOPROXY", &self.proxy)
            // The adapter checks the checksum database; the client is told not to.
            .env("GOSUMDB", "off")
            .env("GONOSUMDB", "*")
            .env("GOFLAGS", "-mod=mod -modcacherw")
            .env("GO111MODULE", "on")
            .env("GOWORK", "off")
            .env("GOTOOLCHAIN", "local");
        run_client(command, &format!("go {}", args.join(" "))).await
    }

    /// The zip `go` stored in its download cache for `escaped_module@version`.
    fn cached_zip(&self, escaped_module: &str, version: &str) -> Option<Vec<u8>> {
        let path = self
            .modcache()
            .join("cache/download")
            .join(escaped_module)
            .join(format!("@v/{version}.zip"));
        std::fs::read(path).ok()
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.app().join(name)).unwrap_or_default()
    }
}

/// `go mod download` gets an allowed version byte for byte, case-encoded
/// module paths included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_mod_download_serves_verified_zips_byte_for_byte() {
    let Some(go) = real_go() else { return };
    let fake = fake();
    let gatehouse = gatehouse(&fake, &[]);
    let workspace = Workspace::new(go, &gatehouse);

    let ran = workspace
        .go(&[
            "mod",
            "download",
            "-json",
            "example.test/demo@v1.1.0",
            "example.test/CamelCase@v1.0.0",
        ])
        .await;
    assert!(ran.success, "go mod download must succeed:\n{}", ran.output);
    assert_eq!(
        workspace.cached_zip(DEMO, "v1.1.0"),
        Some(fake.zip(DEMO, "v1.1.0")),
        "the zip reaches go byte for byte"
    );
    assert_eq!(
        workspace.cached_zip("example.test/!camel!case", "v1.0.0"),
        Some(fake.zip("example.test/CamelCase", "v1.0.0")),
    );
    assert_eq!(fake.hits("/example.test/!camel!case/@v/v1.0.0.zip"), 1);
}

/// With the newest version blocked, `@latest` resolves to the highest allowed
/// one, and the `h1:` go computes itself is the one the database records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_get_latest_skips_the_blocked_newest_version() {
    let Some(go) = real_go() else { return };
    let fake = fake();
    let gatehouse = gatehouse(&fake, &["example.test/demo@v1.2.0"]);
    let workspace = Workspace::new(go, &gatehouse);

    let ran = workspace.go(&["get", "example.test/demo@latest"]).await;
    assert!(ran.success, "go get @latest must succeed:\n{}", ran.output);
    let go_mod = workspace.file("go.mod");
    assert!(
        go_mod.contains("example.test/demo v1.1.0"),
        "go.mod:\n{go_mod}"
    );
    let go_sum = workspace.file("go.sum");
    let line = format!("example.test/demo v1.1.0 {}", fake.zip_hash(DEMO, "v1.1.0"));
    assert!(go_sum.contains(&line), "go.sum has {line:?}:\n{go_sum}");
    assert_eq!(fake.hits("/example.test/demo/@v/v1.2.0.zip"), 0);
}

/// Asking for the blocked version fails, and go prints the rule and reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_get_of_a_blocked_version_fails_with_the_reason() {
    let Some(go) = real_go() else { return };
    let fake = fake();
    let gatehouse = gatehouse(&fake, &["example.test/demo@v1.2.0"]);
    let workspace = Workspace::new(go, &gatehouse);

    let ran = workspace.go(&["get", "example.test/demo@v1.2.0"]).await;
    assert!(
        !ran.success,
        "go get of a blocked version must fail:\n{}",
        ran.output
    );
    let reason = "deny-list: example.test/demo@v1.2.0 is on the deny list";
    assert!(
        ran.output.contains(reason),
        "go prints {reason:?}:\n{}",
        ran.output
    );
    assert!(!workspace.file("go.mod").contains("example.test/demo"));
    assert_eq!(fake.hits("/example.test/demo/@v/v1.2.0.zip"), 0);
}

/// A zip whose contents differ from the database's record never reaches go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_zip_is_refused() {
    let Some(go) = real_go() else { return };
    let fake = fake();
    let gatehouse = gatehouse(&fake, &[]);
    let workspace = Workspace::new(go, &gatehouse);

    let ran = workspace
        .go(&["mod", "download", "example.test/demo@v1.0.1"])
        .await;
    assert!(
        !ran.success,
        "downloading a tampered zip must fail:\n{}",
        ran.output
    );
    assert!(
        ran.output.contains("does not match the checksum database"),
        "go prints why:\n{}",
        ran.output
    );
    assert_eq!(workspace.cached_zip(DEMO, "v1.0.1"), None);

    let response = Gatehouse::client()
        .get(format!(
            "{}/go/example.test/demo/@v/v1.0.1.zip",
            gatehouse.url
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::BAD_GATEWAY);
}
