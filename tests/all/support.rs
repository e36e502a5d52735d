//! Test support: start `gatehouse serve` in a temporary layout, find built
//! components, talk to the server, and find and run the real clients.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where the build put the components (defaults and test policies).
pub fn component(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("GATEHOUSE_COMPONENTS_DIR"));
    let path = dir.join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The admin token every test layout accepts (named `tests`).
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A running `gatehouse serve` in its own temporary directory.
pub struct Gatehouse {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
}

/// What goes into a test's layout.
#[derive(Default)]
pub struct Setup {
    pub policies: Vec<&'static str>,
    pub adapters: Vec<&'static str>,
    pub gate_policy: String,
    /// `name: url` upstream lines.
    pub upstreams: Vec<(String, String)>,
    /// Extra YAML appended to gatehouse.yaml.
    pub extra_config: String,
}

impl Gatehouse {
    pub fn start(setup: Setup) -> Self {
        Self::start_prepared(setup, |_| {})
    }

    /// Like [`Gatehouse::start`], running `prepare` on the finished layout
    /// before the server starts (e.g. to import an OSV bundle into its data dir).
    pub fn start_prepared(setup: Setup, prepare: impl FnOnce(&Path)) -> Self {
        Self::start_custom(setup, prepare, |_, _| {})
    }

    /// Like [`Gatehouse::start_prepared`], with `customize` shaping the
    /// server's command (given the layout), e.g. where its log goes.
    pub fn start_custom(
        setup: Setup,
        prepare: impl FnOnce(&Path),
        customize: impl FnOnce(&Path, &mut Command),
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for sub in ["adapters", "policies"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        for name in &setup.policies {
            std::fs::copy(
                component(name),
                root.join("policies").join(format!("{name}.wasm")),
            )
            .expect("copy policy");
        }
        for name in &setup.adapters {
            std::fs::copy(
                component(name),
                root.join("adapters").join(format!("{name}.wasm")),
            )
            .expect("copy adapter");
        }
        std::fs::write(root.join("gate-policy.yaml"), &setup.gate_policy).expect("gate policy");
        let mut config = format!(
            "listen: 127.0.0.1:0\ndata_dir: .\nadapters_dir: adapters\npolicies_dir: policies\ngate_policy: gate-policy.yaml\nadmin:\n  tokens:\n    - name: tests\n      sha256: {}\nupstreams:\n",
            gatehouse::auth::hash_token(ADMIN_TOKEN)
        );
        for (name, url) in &setup.upstreams {
            config.push_str(&format!("  {name}:\n    url: {url}\n"));
        }
        if setup.upstreams.is_empty() {
            config.push_str("  {}\n");
        }
        config.push_str(&setup.extra_config);
        if !setup.extra_config.contains("osv:") {
            // The suite never reaches OSV's public bucket: no sync unless a test sets `osv:`.
            if !config.ends_with('\n') {
                config.push('\n');
            }
            config.push_str("osv:\n  sync: false\n");
        }
        std::fs::write(root.join("gatehouse.yaml"), config).expect("config");
        prepare(root);
        let (child, url) = launch(root, customize);
        Gatehouse { child, url, dir }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server and starts it again on the same layout (a new port).
    pub fn restart(&mut self) {
        self.restart_after(|_| {});
    }

    /// Kills the server (SIGKILL), runs `between` on the layout, and starts
    /// it again (a new port).
    pub fn restart_after(&mut self, between: impl FnOnce(&Path)) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        between(self.dir.path());
        (self.child, self.url) = launch(self.dir.path(), |_, _| {});
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the server.
    pub fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "signal {signal} to gatehouse");
    }

    /// Waits up to `limit` for the server to exit; its status if it did.
    pub async fn exited(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// What `serve` has logged so far (its stderr, kept in the layout).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path(SERVE_LOG)).unwrap_or_default()
    }

    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = Self::client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request");
        response.json().await.expect("json")
    }

    /// An admin API call with the test layout's admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        Self::client()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// `GET` an admin path; its JSON body.
    pub async fn admin_json(&self, path: &str) -> serde_json::Value {
        let response = self
            .admin(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {path}: {status}: {body}");
        serde_json::from_str(&body).expect("json")
    }

    /// The audit records about `package` whose action is `action`.
    pub async fn audited(&self, package: &str, action: &str) -> Vec<serde_json::Value> {
        let page = self
            .admin_json(&format!(
                "/api/v1/admin/proxy/audit?package={package}&action={action}"
            ))
            .await;
        page["records"].as_array().cloned().unwrap_or_default()
    }

    /// The artifact SBOM of `name` at `version`, checked against the
    /// CycloneDX 1.6 schema.
    pub async fn sbom(&self, ecosystem: &str, name: &str, version: &str) -> serde_json::Value {
        let response = Self::client()
            .get(format!(
                "{}/api/v1/sbom/{ecosystem}/{name}/{version}",
                self.url
            ))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "{ecosystem} {name} {version}"
        );
        let text = response.text().await.expect("a body");
        assert_valid_cyclonedx(&text);
        serde_json::from_str(&text).expect("JSON")
    }

    /// The action `decide` returns for one version.
    pub async fn decide(&self, ecosystem: &str, name: &str, version: &str) -> String {
        let answer = self
            .get_json(&format!(
                "/api/v1/decide?ecosystem={ecosystem}&name={name}&version={version}"
            ))
            .await;
        answer["action"].as_str().unwrap_or("?").to_owned()
    }
}

/// Where [`launch`] writes the server's stderr (printed when a test fails).
const SERVE_LOG: &str = "serve.log";

/// Starts `gatehouse serve` on the layout in `dir`, its command shaped by
/// `customize`; returns it and its base URL.
fn launch(dir: &Path, customize: impl FnOnce(&Path, &mut Command)) -> (Child, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(SERVE_LOG))
        .expect("serve log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .args(["serve", "--config"])
        .arg(dir.join("gatehouse.yaml"))
        .env(
            "GATEHOUSE_LOG",
            std::env::var("GATEHOUSE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(log);
    customize(dir, &mut command);
    let mut child = command.spawn().expect("starting gatehouse");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reading the listen line");
    let url = line
        .trim()
        .strip_prefix("gatehouse listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    (child, url)
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- gatehouse serve log ---\n{}", self.log());
        }
    }
}

/// Polls `check` until it holds or `limit` passes; returns the time it took.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// Writes `bytes` to `path` the way a deploy tool would: temp file, then rename.
pub fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-upload");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// How long one client command may take on a busy machine.
pub const CLIENT_LIMIT: Duration = Duration::from_secs(300);

/// The real client `program`: `$GATEHOUSE_{PROGRAM}` or the one on PATH, when
/// `program probe` succeeds. Missing, it skips the test with a message naming
/// `install`, or fails it when `CI` is set.
pub fn real_client(program: &str, probe: &[&str], install: &str) -> Option<PathBuf> {
    let variable = format!("GATEHOUSE_{}", program.to_ascii_uppercase());
    let candidate =
        std::env::var_os(&variable).map_or_else(|| PathBuf::from(program), PathBuf::from);
    let works = Command::new(&candidate)
        .args(probe)
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|output| output.status.success());
    if works {
        return Some(candidate);
    }
    let problem = format!(
        "`{program} {}` does not run here ({install}, or set {variable})",
        probe.join(" ")
    );
    assert!(std::env::var_os("CI").is_none(), "{problem}");
    eprintln!("skipping: {problem}");
    None
}

/// What a client command printed and how it ended.
pub struct Ran {
    pub success: bool,
    /// stdout then stderr.
    pub output: String,
    pub took: Duration,
}

/// Runs `command` to completion within [`CLIENT_LIMIT`], with no stdin,
/// printing what it said under the heading `what`.
pub async fn run_client(mut command: tokio::process::Command, what: &str) -> Ran {
    command.stdin(Stdio::null()).kill_on_drop(true);
    let started = Instant::now();
    let output = tokio::time::timeout(CLIENT_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} took over {CLIENT_LIMIT:?}"))
        .unwrap_or_else(|error| panic!("{what} did not start: {error}"));
    let ran = Ran {
        success: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        took: started.elapsed(),
    };
    println!(
        "$ {what} ({:?}, {})\n{}",
        ran.took,
        if ran.success { "ok" } else { "failed" },
        ran.output
    );
    ran
}

/// `gatehouse {args} --config {layout}/gatehouse.yaml`.
pub fn gatehouse_command(layout: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .arg("--config")
        .arg(layout.join("gatehouse.yaml"))
        .env("GATEHOUSE_LOG", "error")
        .output()
        .expect("gatehouse runs")
}

/// A client calling `decide` for one version over and over until stopped,
/// counting the answers it got and the requests that failed.
pub struct DecideHammer {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl DecideHammer {
    /// Starts hammering `decide` for npm `name@version` on `gatehouse`.
    pub fn start(gatehouse: &Gatehouse, name: &str, version: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let url = format!(
            "{}/api/v1/decide?ecosystem=npm&name={name}&version={version}",
            gatehouse.url
        );
        let task = {
            let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
            tokio::spawn(async move {
                let client = Gatehouse::client();
                while !stop.load(Ordering::Relaxed) {
                    let answered = match client.get(&url).send().await {
                        Ok(response) if response.status().is_success() => response
                            .json::<serde_json::Value>()
                            .await
                            .is_ok_and(|v| v["action"].is_string()),
                        _ => false,
                    };
                    let counter = if answered { &served } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                    // Leave the machine to the work under test.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        DecideHammer {
            stop,
            served,
            failed,
            task,
        }
    }

    /// Answers so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }

    /// Stops; returns (answered, failed) over the whole run.
    pub async fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("hammer");
        (
            self.served.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// A gate-policy file denying `entries` (`name`, `name@version`) by the
/// `deny-list` policy, for every ecosystem.
pub fn deny_list(entries: &[&str]) -> String {
    let quoted: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
    format!(
        "policies:\n  default:\n    deny-list:\n      packages: [{}]\n",
        quoted.join(", ")
    )
}

/// The default policy set as `gatehouse init` writes it: every default
/// policy, and the default gate-policy file.
pub fn default_policy_set() -> (Vec<&'static str>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let init = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("init")
        .arg(dir.path())
        .output()
        .expect("gatehouse init runs");
    assert!(init.status.success(), "gatehouse init failed");
    let gate_policy =
        std::fs::read_to_string(dir.path().join("gate-policy.yaml")).expect("gate-policy.yaml");
    let policies = vec![
        "malicious",
        "vulnerability",
        "license",
        "min-age",
        "install-scripts",
        "typosquat",
        "review",
        "deny-list",
    ];
    for policy in &policies {
        assert!(
            dir.path().join(format!("policies/{policy}.wasm")).is_file(),
            "{policy} is not a default policy"
        );
    }
    (policies, gate_policy)
}

/// Validates `document` against the CycloneDX 1.6 JSON schema with
/// `cyclonedx-python-lib`'s strict validator. Without the library it skips
/// (with a message), or fails when `CI` is set.
pub fn assert_valid_cyclonedx(document: &str) {
    const VALIDATE: &str = "import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sys.stdin.read())
if error is not None:
    print(error)
    sys.exit(1)
";
    let Some(python3) = real_client(
        "python3",
        &["-c", "import cyclonedx.validation.json, jsonschema"],
        "python3 -m pip install 'cyclonedx-python-lib[json-validation]'",
    ) else {
        return;
    };
    let mut child = Command::new(python3)
        .args(["-c", VALIDATE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), document.as_bytes())
        .expect("the document is written");
    let output = child.wait_with_output().expect("python3 ends");
    assert!(
        output.status.success(),
        "not valid CycloneDX 1.6: {}{}\n{document}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
