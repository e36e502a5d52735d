//! Cargo through gatehouse, end to end with the real `cargo`.
//!
//! Each test serves its own fake sparse registry, starts `gatehouse serve` in
//! front of it with the cargo adapter (the `cargo-registry` crate, served at
//! `/cargo/`), and runs `cargo` in a throwaway project whose private
//! `CARGO_HOME` replaces the default registry source with the proxy.

use std::path::PathBuf;

use crate::fake_cargo::{FakeCargo, FakeCrate, crate_path};
use crate::support::{
    Gatehouse, Ran, Setup, component, default_policy_set, real_client, run_client,
};

/// The real cargo (see [`real_client`]).
fn real_cargo() -> Option<PathBuf> {
    real_client(
        "cargo",
        &["--version"],
        "install a Rust toolchain with rustup",
    )
}

/// demo 1.0.0, 1.1.0 and 1.2.0, published in January, February and March 2024.
fn demo() -> FakeCrate {
    FakeCrate::new("demo")
        .version("1.0.0")
        .version("1.1.0")
        .version("1.2.0")
}

/// `gatehouse serve` with the cargo adapter and a deny list of `entries` in front of `registry`.
fn gatehouse(registry: &FakeCargo, entries: &[&str]) -> Gatehouse {
    gatehouse_with(registry, entries, String::new())
}

/// [`gatehouse`] with `extra_config` appended to its config.
fn gatehouse_with(registry: &FakeCargo, entries: &[&str], extra_config: String) -> Gatehouse {
    let quoted: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
    let setup = Setup {
        policies: vec!["deny-list"],
        adapters: Vec::new(),
        gate_policy: format!(
            "policies:\n  default:\n    deny-list:\n      packages: [{}]\n",
            quoted.join(", ")
        ),
        upstreams: vec![("cargo".into(), registry.url())],
        extra_config,
    };
    // The host routes by file name; the crate is named apart from cargo itself.
    Gatehouse::start_prepared(setup, |root| {
        std::fs::copy(
            component("cargo-registry"),
            root.join("adapters").join("cargo.wasm"),
        )
        .expect("copy the cargo adapter");
    })
}

/// A throwaway library project with its own `CARGO_HOME`.
struct Project {
    dir: tempfile::TempDir,
    cargo: PathBuf,
}

impl Project {
    /// A project depending on `demo = "{requirement}"`.
    fn new(cargo: PathBuf, dependency: &str, requirement: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{dependency} = \"{requirement}\"\n"
        );
        std::fs::write(dir.path().join("Cargo.toml"), manifest).expect("manifest");
        std::fs::create_dir_all(dir.path().join("src")).expect("src");
        std::fs::write(dir.path().join("src").join("lib.rs"), "").expect("lib.rs");
        std::fs::create_dir_all(dir.path().join("cargo-home")).expect("cargo home");
        Project { dir, cargo }
    }

    fn cargo_home(&self) -> PathBuf {
        self.dir.path().join("cargo-home")
    }

    /// Replaces the default registry with `gatehouse` (no retries, so every
    /// request the test counts is one cargo made once).
    fn use_gatehouse(&self, gatehouse: &Gatehouse) {
        let config = format!(
            "[source.crates-io]\nreplace-with = \"gatehouse\"\n\n[source.gatehouse]\nregistry = \"sparse+{}/cargo/index/\"\n\n[net]\noffline = false\nretry = 0\n",
            gatehouse.url
        );
        std::fs::write(self.cargo_home().join("config.toml"), config).expect("config.toml");
    }

    /// Like [`Project::use_gatehouse`], through a named registry that holds
    /// `token` (source replacement needs a registry to carry credentials).
    fn use_gatehouse_with_token(&self, gatehouse: &Gatehouse, token: &str) {
        let config = format!(
            "[source.crates-io]\nreplace-with = \"gatehouse\"\n\n[registries.gatehouse]\nindex = \"sparse+{}/cargo/index/\"\ntoken = \"{token}\"\n\n[registry]\nglobal-credential-providers = [\"cargo:token\"]\n\n[net]\noffline = false\nretry = 0\n",
            gatehouse.url
        );
        std::fs::write(self.cargo_home().join("config.toml"), config).expect("config.toml");
    }

    /// `cargo {args}` in the project, blind to the user's cargo settings.
    async fn cargo(&self, args: &[&str]) -> Ran {
        let mut command = tokio::process::Command::new(&self.cargo);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO") || name.starts_with("RUSTFLAGS") {
                command.env_remove(name.as_ref());
            }
        }
        command
            .env("CARGO_HOME", self.cargo_home())
            .env("CARGO_TERM_COLOR", "never")
            .current_dir(self.dir.path())
            .args(args);
        run_client(command, &format!("cargo {}", args.join(" "))).await
    }

    /// The version of `name` that Cargo.lock pins.
    fn locked(&self, name: &str) -> Option<String> {
        let lock = std::fs::read_to_string(self.dir.path().join("Cargo.lock")).ok()?;
        let wanted = format!("name = \"{name}\"");
        lock.split("[[package]]")
            .find(|block| block.lines().any(|line| line.trim() == wanted))?
            .lines()
            .find_map(|line| line.trim().strip_prefix("version = \""))
            .map(|rest| rest.trim_end_matches('"').to_owned())
    }

    /// The `.crate` cargo downloaded into its cache, if it did.
    fn cached_crate(&self, file: &str) -> Option<Vec<u8>> {
        let cache = self.cargo_home().join("registry").join("cache");
        std::fs::read_dir(cache)
            .ok()?
            .flatten()
            .find_map(|source| std::fs::read(source.path().join(file)).ok())
    }
}

/// A range resolves to the newest allowed version when the newest is
/// blocked, and cargo downloads it byte for byte; nothing of the blocked
/// version is fetched from upstream.
#[tokio::test]
async fn a_range_resolves_past_a_blocked_version_and_downloads() {
    let Some(cargo) = real_cargo() else {
        return;
    };
    let registry = FakeCargo::start(vec![demo()]);
    let gatehouse = gatehouse(&registry, &["demo@=1.2.0"]);
    let project = Project::new(cargo, "demo", "1");
    project.use_gatehouse(&gatehouse);

    let ran = project.cargo(&["generate-lockfile"]).await;
    assert!(ran.success, "resolving demo = \"1\" failed");
    assert_eq!(project.locked("demo").as_deref(), Some("1.1.0"));

    let ran = project.cargo(&["fetch", "--locked"]).await;
    assert!(ran.success, "cargo fetch failed");
    assert_eq!(
        project.cached_crate("demo-1.1.0.crate"),
        Some(registry.crate_bytes("demo", "1.1.0")),
        "cargo got the upstream bytes"
    );
    assert_eq!(registry.hits(&crate_path("demo", "1.2.0")), 0);
    // The crate's own Cargo.toml named its license; the index does not.
    let sbom = gatehouse.sbom("cargo", "demo", "1.1.0").await;
    assert_eq!(
        sbom["metadata"]["component"]["licenses"][0]["expression"],
        "MIT"
    );
}

/// An exact pin of a blocked version does not resolve (cargo sees it
/// yanked), and a lockfile that already pins it still resolves but fails at
/// the download with the rule and the reason in cargo's output.
#[tokio::test]
async fn a_pinned_blocked_version_fails_with_the_reason() {
    let Some(cargo) = real_cargo() else {
        return;
    };
    let registry = FakeCargo::start(vec![demo()]);
    let project = Project::new(cargo, "demo", "=1.2.0");

    let open = gatehouse(&registry, &[]);
    project.use_gatehouse(&open);
    let ran = project.cargo(&["generate-lockfile"]).await;
    assert!(ran.success, "resolving while nothing is blocked failed");
    assert_eq!(project.locked("demo").as_deref(), Some("1.2.0"));
    drop(open);

    let guarded = gatehouse(&registry, &["demo@=1.2.0"]);
    project.use_gatehouse(&guarded);
    let ran = project.cargo(&["fetch", "--locked"]).await;
    assert!(!ran.success, "a blocked version was downloaded");
    assert!(ran.output.contains("403"), "no 403 in: {}", ran.output);
    assert!(
        ran.output.contains("deny-list") && ran.output.contains("is on the deny list"),
        "the rule and reason are missing from: {}",
        ran.output
    );
    assert_eq!(registry.hits(&crate_path("demo", "1.2.0")), 0);

    std::fs::remove_file(project.dir.path().join("Cargo.lock")).expect("remove the lockfile");
    let ran = project.cargo(&["generate-lockfile"]).await;
    assert!(!ran.success, "an exact pin of a blocked version resolved");
    assert!(
        ran.output.contains("yanked"),
        "cargo's words: {}",
        ran.output
    );
}

/// A `.crate` whose bytes do not match the index's cksum is refused with 502
/// and never cached: every request goes back upstream and is refused again.
#[tokio::test]
async fn a_tampered_crate_is_refused_and_not_cached() {
    let Some(cargo) = real_cargo() else {
        return;
    };
    let registry = FakeCargo::start(vec![FakeCrate::new("bad").tampered_version("1.0.0")]);
    let gatehouse = gatehouse(&registry, &[]);
    let project = Project::new(cargo, "bad", "1");
    project.use_gatehouse(&gatehouse);

    let ran = project.cargo(&["fetch"]).await;
    assert!(!ran.success, "a tampered crate was downloaded");
    assert!(ran.output.contains("502"), "no 502 in: {}", ran.output);
    assert!(project.cached_crate("bad-1.0.0.crate").is_none());

    let url = format!("{}/cargo/api/v1/crates/bad/1.0.0/download", gatehouse.url);
    let upstream = crate_path("bad", "1.0.0");
    for _ in 0..2 {
        let before = registry.hits(&upstream);
        let response = Gatehouse::client().get(&url).send().await.expect("request");
        assert_eq!(response.status(), 502);
        assert_eq!(
            registry.hits(&upstream),
            before + 1,
            "refused bytes were cached"
        );
    }
}

/// The protocol's edges through the real server: config.json points back at
/// the proxy, index files carry the gate's yanks under an ETag of their own, and
/// unknown crates and versions are 404s.
#[tokio::test]
async fn index_files_and_config_through_the_server() {
    let registry = FakeCargo::start(vec![demo()]);
    let gatehouse = gatehouse(&registry, &["demo@=1.2.0"]);
    let config = gatehouse.get_json("/cargo/index/config.json").await;
    assert_eq!(
        config["dl"],
        format!("{}/cargo/api/v1/crates", gatehouse.url)
    );

    let client = Gatehouse::client();
    let response = client
        .get(format!("{}/cargo/index/de/mo/demo", gatehouse.url))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("etag"));
    let body = response.text().await.expect("body");
    let yanked: Vec<bool> = body
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
        .map(|entry| entry["yanked"].as_bool().expect("yanked"))
        .collect();
    assert_eq!(yanked, [false, false, true]);

    for path in [
        "/cargo/index/no/pe/nope",
        "/cargo/api/v1/crates/demo/9.9.9/download",
    ] {
        let response = client
            .get(format!("{}{path}", gatehouse.url))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{path}");
    }
}

/// With client auth on, cargo is refused without a token, and with one it
/// resolves and downloads: gatehouse's `config.json` says `auth-required`,
/// so cargo sends the token with every request, the download included.
#[tokio::test]
async fn cargo_sends_its_registry_token_when_clients_must_authenticate() {
    let Some(cargo) = real_cargo() else {
        return;
    };
    let token = "cargo-client-token";
    let registry = FakeCargo::start(vec![demo()]);
    let gatehouse = gatehouse_with(
        &registry,
        &[],
        format!(
            "clients:\n  required: true\n  tokens:\n    - name: builder\n      sha256: {}\n",
            gatehouse::auth::hash_token(token)
        ),
    );
    let project = Project::new(cargo, "demo", "1");
    project.use_gatehouse(&gatehouse);
    let anonymous = project.cargo(&["generate-lockfile"]).await;
    assert!(!anonymous.success, "an anonymous cargo must be refused");

    project.use_gatehouse_with_token(&gatehouse, token);
    let ran = project.cargo(&["fetch"]).await;
    assert!(ran.success, "cargo fetch with the token failed");
    assert_eq!(project.locked("demo").as_deref(), Some("1.2.0"));
    let served = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?user=builder&event=serve")
        .await;
    assert_eq!(
        served["records"].as_array().map(Vec::len),
        Some(1),
        "{served}"
    );
}

/// With the default policy set, a cargo fetch raises no license alarm: the
/// sparse index carries no license, and a missing one is not a warning.
#[tokio::test]
async fn the_default_policies_raise_no_license_alarm_on_a_cargo_fetch() {
    let Some(cargo) = real_cargo() else {
        return;
    };
    let registry = FakeCargo::start(vec![demo()]);
    let (policies, gate_policy) = default_policy_set();
    let setup = Setup {
        policies,
        adapters: Vec::new(),
        gate_policy,
        upstreams: vec![("cargo".into(), registry.url())],
        extra_config: String::new(),
    };
    let gatehouse = Gatehouse::start_prepared(setup, |root| {
        std::fs::copy(
            component("cargo-registry"),
            root.join("adapters").join("cargo.wasm"),
        )
        .expect("copy the cargo adapter");
    });
    let project = Project::new(cargo, "demo", "1");
    project.use_gatehouse(&gatehouse);
    let ran = project.cargo(&["fetch"]).await;
    assert!(ran.success, "{}", ran.output);
    assert_eq!(
        gatehouse.audited("demo", "warn").await,
        Vec::<serde_json::Value>::new()
    );
    assert!(!gatehouse.audited("demo", "allow").await.is_empty());
}
