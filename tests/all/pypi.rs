//! PyPI through gatehouse, end to end with the real pip and uv.
//!
//! Each test serves its own fake index, starts `gatehouse serve` in front of
//! it with the pypi adapter, and runs the real client against
//! `/pypi/simple/` with a throwaway virtualenv and caches, shut off from the
//! user's pip and uv configuration and environment.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use url::Url;

use crate::fake_pypi::{FakeProject, FakePypi, FakeRelease};
use crate::support::{
    Gatehouse, Ran, Setup, default_policy_set, gatehouse_command, real_client, run_client,
};

/// Prints the installed version of the distribution named by `argv[1]`;
/// exits 1 when none is installed.
const INSTALLED_VERSION: &str = "\
import importlib.metadata as m, sys
try:
    print(m.version(sys.argv[1]))
except m.PackageNotFoundError:
    sys.exit(1)
";

/// The deny-list entry of the resolution tests (a PEP 440 specifier after `@`).
const DENY_1_5: &str = "demo-pkg@==1.5";

/// The pypi adapter's `blocked_files` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The default: blocked files stay listed, yanked with the reason.
    Yank,
    /// Blocked files are left out of the page.
    Hide,
}

/// A Python package installer, run as `python3 -m {module}`.
#[derive(Debug, Clone, Copy)]
enum Installer {
    Pip,
    Uv,
}

impl Installer {
    fn module(self) -> &'static str {
        match self {
            Installer::Pip => "pip",
            Installer::Uv => "uv",
        }
    }

    /// The python3 that runs `python3 -m {module}` here, if one does.
    fn python3(self) -> Option<PathBuf> {
        let module = self.module();
        let install = format!("install it: python3 -m pip install {module}");
        real_client("python3", &["-m", module, "--version"], &install)
    }
}

/// A gate policy whose deny list names `entries`.
fn deny(entries: &[&str]) -> String {
    let quoted: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
    format!(
        "policies:\n  default:\n    deny-list:\n      packages: [{}]\n",
        quoted.join(", ")
    )
}

/// `gatehouse serve` with the pypi adapter and `policies` in front of `index`.
fn gatehouse(
    index: &FakePypi,
    policies: Vec<&'static str>,
    gate_policy: String,
    mode: Mode,
) -> Gatehouse {
    Gatehouse::start(setup(index, policies, gate_policy, mode))
}

/// The layout [`gatehouse`] starts.
fn setup(index: &FakePypi, policies: Vec<&'static str>, gate_policy: String, mode: Mode) -> Setup {
    // `Setup` writes the upstream last, so these lines continue its block.
    let extra_config = match mode {
        Mode::Yank => String::new(),
        Mode::Hide => "    settings:\n      blocked_files: hide\n".into(),
    };
    Setup {
        policies,
        adapters: vec!["pypi"],
        gate_policy,
        upstreams: vec![("pypi".into(), index.url())],
        extra_config,
    }
}

/// A throwaway virtualenv and client caches, pointed at one gatehouse.
struct Client {
    dir: tempfile::TempDir,
    python3: PathBuf,
    index: String,
}

impl Client {
    async fn new(python3: &Path, gatehouse: &Gatehouse) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // Both installers are run from outside the venv (`--python`), so it
        // needs no pip of its own; that saves seconds per test.
        let mut venv = tokio::process::Command::new(python3);
        venv.args(["-m", "venv", "--without-pip"])
            .arg(dir.path().join("venv"));
        let created = run_client(venv, "python3 -m venv").await;
        assert!(created.success, "creating a virtualenv failed");
        Client {
            dir,
            python3: python3.to_owned(),
            index: format!("{}/pypi/simple/", gatehouse.url),
        }
    }

    fn python(&self) -> PathBuf {
        self.dir.path().join("venv").join("bin").join("python")
    }

    /// `python3 -m {installer}`, blind to the user's configuration and caches.
    fn command(&self, installer: Installer) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.python3);
        command.args(["-m", installer.module()]);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("PIP_") || name.starts_with("UV_") {
                command.env_remove(name.as_ref());
            }
        }
        command
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("UV_NO_CONFIG", "1")
            .env("UV_CACHE_DIR", self.dir.path().join("uv-cache"))
            .env("UV_PYTHON_DOWNLOADS", "never");
        command
    }

    /// Installs into the virtualenv: `args` are requirements and options.
    async fn install(&self, installer: Installer, args: &[&str]) -> Ran {
        let mut command = self.command(installer);
        match installer {
            Installer::Pip => command.arg("--python").arg(self.python()).args([
                "install",
                "--no-cache-dir",
                "--disable-pip-version-check",
            ]),
            Installer::Uv => command
                .args(["pip", "install", "--python"])
                .arg(self.python()),
        };
        command.args(["--index-url", &self.index]).args(args);
        let what = format!("{} install {}", installer.module(), args.join(" "));
        run_client(command, &what).await
    }

    /// `pip download --no-deps requirement` into `dest`.
    async fn download(&self, requirement: &str, dest: &Path) -> Ran {
        let mut command = self.command(Installer::Pip);
        command
            .args(["download", "--no-deps", "--no-cache-dir"])
            .args(["--disable-pip-version-check", "--index-url", &self.index])
            .arg("--dest")
            .arg(dest)
            .arg(requirement);
        run_client(command, &format!("pip download {requirement}")).await
    }

    /// The version of `project` installed in the virtualenv, if any.
    async fn installed(&self, project: &str) -> Option<String> {
        let mut command = tokio::process::Command::new(self.python());
        command.args(["-c", INSTALLED_VERSION]).arg(project);
        let ran = run_client(command, &format!("installed version of {project}")).await;
        ran.success.then(|| ran.output.trim().to_owned())
    }
}

/// demo-pkg 1.0, 1.2, 1.5 and 2.0, each as a wheel and an sdist, uploaded
/// on the first of January, February, March and April 2024.
fn demo_pkg() -> FakeProject {
    [("1.0", "01"), ("1.2", "02"), ("1.5", "03"), ("2.0", "04")]
        .into_iter()
        .fold(FakeProject::new("demo-pkg"), |project, (version, month)| {
            let uploaded = format!("2024-{month}-01T00:00:00Z");
            project.release(FakeRelease::new(version).uploaded(&uploaded))
        })
}

/// The paths of `version`'s files (and their `.metadata`) on the fake index.
fn upstream_paths(index: &FakePypi, project: &str, version: &str) -> Vec<String> {
    let marker = format!("-{version}-");
    let sdist_suffix = format!("-{version}.tar.gz");
    index
        .filenames(project)
        .into_iter()
        .filter(|f| f.contains(&marker) || f.ends_with(&sdist_suffix))
        .flat_map(|f| [format!("/files/{f}"), format!("/files/{f}.metadata")])
        .collect()
}

/// A range install passes over the blocked 1.5 for 1.2; pinning 1.5 fails
/// with the rule and its reason in the client's output, and nothing of 1.5
/// is ever fetched from upstream. uv also resolves by upload time, which only
/// the JSON form (the one both clients ask for) carries.
async fn resolves_around_a_blocked_version(installer: Installer) {
    let Some(python3) = installer.python3() else {
        return;
    };
    let index = FakePypi::start(vec![demo_pkg()]);
    let gatehouse = gatehouse(&index, vec!["deny-list"], deny(&[DENY_1_5]), Mode::Yank);
    let client = Client::new(&python3, &gatehouse).await;

    let pinned = client.install(installer, &["demo-pkg==1.5"]).await;
    assert!(!pinned.success, "installing the blocked 1.5 must fail");
    for words in ["deny-list", "is on the deny list", DENY_1_5] {
        assert!(
            pinned.output.contains(words),
            "the output names the rule and reason ({words:?}):\n{}",
            pinned.output
        );
    }
    assert_eq!(client.installed("demo-pkg").await, None);

    let ranged = client.install(installer, &["demo-pkg<2"]).await;
    assert!(ranged.success, "installing demo-pkg<2 works");
    assert_eq!(
        client.installed("demo-pkg").await.as_deref(),
        Some("1.2"),
        "the highest version in range that is not blocked"
    );

    for path in upstream_paths(&index, "demo-pkg", "1.5") {
        assert_eq!(index.hits(&path), 0, "{path} is never fetched");
    }
    let fetched: usize = upstream_paths(&index, "demo-pkg", "1.2")
        .iter()
        .map(|path| index.hits(path))
        .sum();
    assert!(fetched > 0, "1.2 came through gatehouse from upstream");

    if let Installer::Uv = installer {
        // Upload times exist only in the JSON form (PEP 700), so a cut-off
        // between 1.0 and 1.2 picks 1.0 only when uv read that form.
        let dated = Client::new(&python3, &gatehouse).await;
        let args = ["demo-pkg<2", "--exclude-newer", "2024-01-15T00:00:00Z"];
        let ran = dated.install(installer, &args).await;
        assert!(ran.success, "an install with --exclude-newer works");
        assert_eq!(dated.installed("demo-pkg").await.as_deref(), Some("1.0"));
    }
}

#[tokio::test]
async fn pip_passes_over_a_blocked_version_and_names_it_when_pinned() {
    resolves_around_a_blocked_version(Installer::Pip).await;
}

#[tokio::test]
async fn uv_passes_over_a_blocked_version_and_names_it_when_pinned() {
    resolves_around_a_blocked_version(Installer::Uv).await;
}

/// Where the artifact store keeps a file whose sha256 is `hex`.
/// With client auth on, the installer is refused until its index URL carries
/// `user:token@`; then it installs, and the audit names the user.
async fn authenticates_with_a_token_in_the_index_url(installer: Installer) {
    let Some(python3) = installer.python3() else {
        return;
    };
    let token = "pypi-client-token";
    let index = FakePypi::start(vec![demo_pkg()]);
    let mut layout = setup(&index, vec!["deny-list"], deny(&[]), Mode::Yank);
    layout.extra_config = format!(
        "clients:\n  required: true\n  tokens:\n    - name: builder\n      sha256: {}\n",
        gatehouse::auth::hash_token(token)
    );
    let gatehouse = Gatehouse::start(layout);
    let mut client = Client::new(&python3, &gatehouse).await;
    let anonymous = client.install(installer, &["demo-pkg==1.2"]).await;
    assert!(!anonymous.success, "an anonymous install must fail");
    assert!(anonymous.output.contains("401"), "{}", anonymous.output);

    client.index = client
        .index
        .replacen("http://", &format!("http://builder:{token}@"), 1);
    let ran = client.install(installer, &["demo-pkg==1.2"]).await;
    assert!(ran.success, "an install with the token works");
    assert_eq!(client.installed("demo-pkg").await.as_deref(), Some("1.2"));
    // The wheel and its `.metadata` were served to the token's user.
    let served = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?user=builder&event=serve")
        .await;
    let records = served["records"].as_array().expect("records");
    assert!(
        records.iter().any(|r| r["reason"]
            .as_str()
            .is_some_and(|url| url.ends_with(".whl"))),
        "{served}"
    );
}

#[tokio::test]
async fn pip_authenticates_with_a_token_in_the_index_url() {
    authenticates_with_a_token_in_the_index_url(Installer::Pip).await;
}

#[tokio::test]
async fn uv_authenticates_with_a_token_in_the_index_url() {
    authenticates_with_a_token_in_the_index_url(Installer::Uv).await;
}

fn stored_artifact(gatehouse: &Gatehouse, hex: &str) -> PathBuf {
    gatehouse.path(&format!("artifacts/sha256/{}/{hex}", &hex[..2]))
}

/// A file whose bytes do not match the index's hash is refused, is not kept
/// anywhere, and a second attempt fetches it from upstream again; a genuine
/// file next to it is served and stored.
#[tokio::test]
async fn pip_download_of_a_tampered_file_fails_and_nothing_is_cached() {
    let Some(python3) = Installer::Pip.python3() else {
        return;
    };
    let index = FakePypi::start(vec![
        FakeProject::new("demo-pkg")
            .release(FakeRelease::new("1.0").wheel_only())
            .release(FakeRelease::new("2.0").wheel_only().tampered()),
    ]);
    let gatehouse = gatehouse(&index, vec!["deny-list"], deny(&[]), Mode::Yank);
    let client = Client::new(&python3, &gatehouse).await;
    let dest = client.dir.path().join("downloads");

    let genuine_file = "demo_pkg-1.0-py3-none-any.whl";
    let genuine = client.download("demo-pkg==1.0", &dest).await;
    assert!(genuine.success, "the genuine file downloads");
    assert_eq!(
        std::fs::read(dest.join(genuine_file)).ok(),
        index.bytes(genuine_file),
        "the client got the genuine bytes"
    );
    let genuine_sha = index.sha256(genuine_file).expect("declared");
    assert!(
        stored_artifact(&gatehouse, &genuine_sha).is_file(),
        "a verified file is kept in the artifact store"
    );

    let tampered_file = "demo_pkg-2.0-py3-none-any.whl";
    let tampered_sha = index.sha256(tampered_file).expect("declared");
    let upstream_path = format!("/files/{tampered_file}");
    let mut hits = 0;
    for attempt in 1..=2 {
        let ran = client.download("demo-pkg==2.0", &dest).await;
        assert!(
            !ran.success,
            "attempt {attempt}: the tampered file is refused"
        );
        assert!(
            ran.output.contains("sha256 mismatch"),
            "attempt {attempt}: the output says why:\n{}",
            ran.output
        );
        assert!(
            !dest.join(tampered_file).exists(),
            "nothing reached the client"
        );
        assert!(
            !stored_artifact(&gatehouse, &tampered_sha).exists(),
            "attempt {attempt}: nothing was stored"
        );
        let tmp = std::fs::read_dir(gatehouse.path("artifacts/tmp")).expect("artifacts/tmp");
        assert_eq!(
            tmp.count(),
            0,
            "attempt {attempt}: no partial download is left"
        );
        let now = index.hits(&upstream_path);
        assert!(
            now > hits,
            "attempt {attempt} fetched the file from upstream again"
        );
        hits = now;
    }
}

/// One listed file, as either form of a project page shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Listed {
    filename: String,
    /// Absolute, without the fragment.
    url: String,
    sha256: Option<String>,
    /// PEP 592: `Some("")` when yanked without a reason.
    yanked: Option<String>,
}

/// The files of a PEP 691 JSON page.
fn json_files(page: &Value) -> Vec<Listed> {
    let files = page["files"].as_array().expect("a files array");
    let mut listed: Vec<Listed> = files
        .iter()
        .map(|file| Listed {
            filename: file["filename"].as_str().expect("filename").to_owned(),
            url: file["url"].as_str().expect("url").to_owned(),
            sha256: file["hashes"]["sha256"].as_str().map(str::to_owned),
            yanked: match &file["yanked"] {
                Value::Bool(false) | Value::Null => None,
                Value::Bool(true) => Some(String::new()),
                Value::String(reason) => Some(reason.clone()),
                other => panic!("yanked is neither a bool nor a reason: {other}"),
            },
        })
        .collect();
    listed.sort();
    listed
}

/// The files of a PEP 503 HTML page, read from the anchors gatehouse writes
/// (double-quoted attributes, entity-escaped values).
fn html_files(page: &str, page_url: &Url) -> Vec<Listed> {
    let unescape = |text: &str| {
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&amp;", "&")
    };
    let mut listed: Vec<Listed> = page
        .split("<a ")
        .skip(1)
        .map(|anchor| {
            let (tag, rest) = anchor.split_once('>').expect("a closed start tag");
            let tag = format!(" {tag}");
            let attribute = |name: &str| {
                let (_, value) = tag.split_once(&format!(" {name}=\""))?;
                value.split_once('"').map(|(value, _)| unescape(value))
            };
            let href = attribute("href").expect("an href");
            let mut url = page_url.join(&href).expect("a valid href");
            let sha256 = url
                .fragment()
                .and_then(|f| f.strip_prefix("sha256="))
                .map(str::to_owned);
            url.set_fragment(None);
            let (text, _) = rest.split_once("</a>").expect("a closed anchor");
            Listed {
                filename: unescape(text),
                url: url.into(),
                sha256,
                yanked: attribute("data-yanked"),
            }
        })
        .collect();
    listed.sort();
    listed
}

/// Both forms of demo-pkg's page through `gatehouse`.
async fn both_forms(gatehouse: &Gatehouse) -> (Vec<Listed>, Vec<Listed>) {
    let page_url = format!("{}/pypi/simple/demo-pkg/", gatehouse.url);
    let get = |accept: &'static str| {
        let request = Gatehouse::client().get(&page_url).header("accept", accept);
        async move {
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), 200, "{accept}");
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (content_type, response.text().await.expect("body"))
        }
    };
    let (html_type, html) = get("text/html").await;
    assert!(html_type.starts_with("text/html"), "{html_type}");
    let (json_type, json) = get("application/vnd.pypi.simple.v1+json").await;
    assert_eq!(json_type, "application/vnd.pypi.simple.v1+json");
    let page_url = Url::parse(&page_url).expect("url");
    let json: Value = serde_json::from_str(&json).expect("a JSON page");
    (html_files(&html, &page_url), json_files(&json))
}

/// The HTML and JSON forms of one project list the same surviving files with
/// the same yank markers, whichever form upstream speaks and whichever way
/// blocked files are shown.
#[tokio::test]
async fn html_and_json_forms_list_the_same_files() {
    let project = || {
        FakeProject::new("Demo_Pkg")
            .release(FakeRelease::new("1.0"))
            .release(FakeRelease::new("1.5"))
            .release(FakeRelease::new("2.0").yanked("broken <build> & \"worse\""))
            .release(FakeRelease::new("2.1").yanked(""))
    };
    let cases = [
        (FakePypi::start(vec![project()]), Mode::Yank),
        (FakePypi::start_html_only(vec![project()]), Mode::Hide),
    ];
    for (index, mode) in &cases {
        let gatehouse = gatehouse(index, vec!["deny-list"], deny(&[DENY_1_5]), *mode);
        let (html, json) = both_forms(&gatehouse).await;
        assert_eq!(html, json, "{mode:?}: both forms list the same files");

        let files_base = format!("{}/pypi/files/demo-pkg/", gatehouse.url);
        let mut expected_names = index.filenames("demo-pkg");
        if *mode == Mode::Hide {
            expected_names.retain(|f| !f.contains("-1.5"));
        }
        expected_names.sort();
        let names: Vec<&str> = json.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(names, expected_names, "{mode:?}: the surviving files");
        for file in &json {
            assert_eq!(file.url, format!("{files_base}{}", file.filename));
            assert_eq!(
                file.sha256,
                index.sha256(&file.filename),
                "{}",
                file.filename
            );
            let yanked = file.yanked.as_deref();
            if file.filename.contains("-1.5") {
                let reason = yanked.expect("the blocked version is yanked");
                assert!(
                    reason.contains("deny-list") && reason.contains(DENY_1_5),
                    "{reason}"
                );
            } else if file.filename.contains("-2.0") {
                assert_eq!(yanked, Some("broken <build> & \"worse\""));
            } else if file.filename.contains("-2.1") {
                assert_eq!(yanked, Some(""));
            } else {
                assert_eq!(yanked, None, "{}", file.filename);
            }
        }
    }
}

/// The OSV bundle every checkout has beside the project (../shared).
fn pypi_bundle() -> PathBuf {
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/osv/PyPI/all.zip");
    assert!(bundle.is_file(), "{} is missing", bundle.display());
    bundle
}

/// The real advisory database drives the vulnerability policy: PYSEC-2018-35
/// affects aiohttp-session up to 2.6.0 and is fixed in 2.7.0. pip is refused
/// 2.6.0 with the advisory named and resolves to 2.7.0; `gatehouse check`
/// agrees with the same configuration.
#[tokio::test]
async fn the_osv_mirror_blocks_an_affected_version() {
    let Some(python3) = Installer::Pip.python3() else {
        return;
    };
    let index = FakePypi::start(vec![
        FakeProject::new("aiohttp-session")
            .release(FakeRelease::new("2.6.0"))
            .release(FakeRelease::new("2.7.0")),
    ]);
    let gate_policy = "policies:\n  default:\n    vulnerability: {block_severity: low}\n";
    let setup = setup(
        &index,
        vec!["deny-list", "vulnerability"],
        gate_policy.into(),
        Mode::Yank,
    );
    let gatehouse = Gatehouse::start_prepared(setup, |layout| {
        let started = Instant::now();
        let import = gatehouse_command(
            layout,
            &[
                "osv",
                "import",
                pypi_bundle().to_str().expect("a UTF-8 path"),
            ],
        );
        let said = String::from_utf8_lossy(&import.stdout);
        println!("osv import ({:?}): {said}", started.elapsed());
        assert!(import.status.success(), "osv import failed: {said}");
        assert!(
            layout.join("osv.sqlite").is_file(),
            "the mirror is in the data dir"
        );
    });
    let client = Client::new(&python3, &gatehouse).await;

    let affected = client
        .install(Installer::Pip, &["aiohttp-session==2.6.0"])
        .await;
    assert!(!affected.success, "2.6.0 is refused");
    assert!(
        affected.output.contains("PYSEC-2018-35") && affected.output.contains("vulnerability"),
        "the output names the rule and the advisory:\n{}",
        affected.output
    );
    assert_eq!(client.installed("aiohttp-session").await, None);

    let latest = client.install(Installer::Pip, &["aiohttp-session"]).await;
    assert!(latest.success, "installing aiohttp-session works");
    assert_eq!(
        client.installed("aiohttp-session").await.as_deref(),
        Some("2.7.0")
    );

    let layout = gatehouse.dir.path();
    let check = |version: &str| {
        let output = gatehouse_command(layout, &["check", "PyPI", "aiohttp-session", version]);
        let said = String::from_utf8_lossy(&output.stdout).into_owned();
        println!("gatehouse check aiohttp-session {version}: {said}");
        (output.status.code(), said)
    };
    let (code, said) = check("2.6.0");
    assert_eq!(code, Some(1), "2.6.0 is blocked: {said}");
    assert!(said.contains("PYSEC-2018-35"), "{said}");
    let (code, said) = check("2.7.0");
    assert_eq!(code, Some(0), "2.7.0 is allowed: {said}");
}

/// With the default policy set, a pip install raises no license alarm: the
/// simple index carries no license, and a missing one is not a warning.
#[tokio::test]
async fn the_default_policies_raise_no_license_alarm_on_a_pip_install() {
    let Some(python3) = Installer::Pip.python3() else {
        return;
    };
    let index = FakePypi::start(vec![demo_pkg()]);
    let (policies, gate_policy) = default_policy_set();
    let gatehouse = gatehouse(&index, policies, gate_policy, Mode::Yank);
    let client = Client::new(&python3, &gatehouse).await;
    let ran = client.install(Installer::Pip, &["demo-pkg"]).await;
    assert!(ran.success, "{}", ran.output);
    assert_eq!(
        gatehouse.audited("demo-pkg", "warn").await,
        Vec::<Value>::new()
    );
    assert!(!gatehouse.audited("demo-pkg", "allow").await.is_empty());
    // The installed wheel got an SBOM, found by any spelling of the name.
    let installed = client.installed("demo-pkg").await.expect("installed");
    let sbom = gatehouse.sbom("pypi", "Demo_Pkg", &installed).await;
    assert_eq!(
        sbom["metadata"]["component"]["purl"],
        format!("pkg:pypi/demo-pkg@{installed}")
    );
}

/// A wheel (and sdist, and `.metadata` file) whose core metadata names
/// another project than the one requested is refused by the artifact check
/// with both names, in pip's own output.
#[tokio::test]
async fn a_distribution_whose_metadata_names_another_project_is_blocked() {
    let Some(python3) = Installer::Pip.python3() else {
        return;
    };
    let index = FakePypi::start(vec![
        FakeProject::new("honest-pkg").release(FakeRelease::new("1.0").metadata_naming("evil-pkg")),
    ]);
    let gatehouse = gatehouse(&index, vec!["deny-list"], deny(&[]), Mode::Yank);
    let client = Client::new(&python3, &gatehouse).await;
    let ran = client.install(Installer::Pip, &["honest-pkg==1.0"]).await;
    assert!(!ran.success, "{}", ran.output);
    assert!(
        ran.output.contains("artifact-manifest")
            && ran.output.contains("evil-pkg")
            && ran.output.contains("honest-pkg"),
        "pip prints the rule and both names:\n{}",
        ran.output
    );
    assert_eq!(client.installed("honest-pkg").await, None);
}
