//! Policies in every SDK language: `gatehouse policy new` writes each
//! template, `gatehouse policy build` builds it with that language's own
//! toolchain (installed from the package registries by `.ci/run`), the
//! component passes the shared example fixtures in the production engine, and
//! dropped into a running host's policies directory it changes `decide`
//! answers within its compile time plus a second, while requests keep being
//! answered; after a restart it loads from the compile cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{
    DecideHammer, Gatehouse, Setup, eventually, real_client, replace_file, run_client,
};

/// The toolchain a language's build needs: checks that each tool runs and
/// returns the variables that tell the build where the tools are; `None` when
/// one is missing outside CI.
fn toolchain(lang: &str) -> Option<Vec<(&'static str, PathBuf)>> {
    let c_install = "see sdk/c/README.md";
    Some(match lang {
        "rust" => vec![],
        "js" => {
            real_client("npm", &["--version"], "install Node.js")?;
            vec![]
        }
        "python" => vec![(
            "COMPONENTIZE_PY",
            real_client(
                "componentize-py",
                &["--version"],
                "pip install -r sdk/python/template/requirements.txt",
            )?,
        )],
        "c" => {
            real_client("make", &["--version"], c_install)?;
            real_client("gatehouse-wasi-adapter", &["--help"], c_install)?;
            vec![
                ("CLANG", real_client("clang", &["--version"], c_install)?),
                (
                    "WIT_BINDGEN",
                    real_client("wit-bindgen", &["--version"], c_install)?,
                ),
                (
                    "WASM_TOOLS",
                    real_client("wasm-tools", &["--version"], c_install)?,
                ),
            ]
        }
        other => panic!("no toolchain known for {other}"),
    })
}

/// `gatehouse policy ...` in `dir`, with `env` added.
async fn policy_command(dir: &Path, args: &[&str], env: &[(&str, PathBuf)]) -> crate::support::Ran {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .arg("policy")
        .args(args)
        .current_dir(dir)
        .env("GATEHOUSE_LOG", "error");
    for (name, value) in env {
        command.env(name, value);
    }
    run_client(command, &format!("gatehouse policy {}", args.join(" "))).await
}

/// What `GET /api/v1/admin/components` says of `name`.
async fn component_status(gatehouse: &Gatehouse, name: &str) -> Option<serde_json::Value> {
    let components = gatehouse.admin_json("/api/v1/admin/components").await;
    components["components"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
}

async fn template_works_end_to_end(lang: &str) {
    let Some(env) = toolchain(lang) else {
        return;
    };
    let name = format!("demo-{lang}");
    let work = tempfile::tempdir().expect("tempdir");
    let created = policy_command(work.path(), &["new", &name, "--lang", lang], &env).await;
    assert!(created.success, "{}", created.output);
    let project = work.path().join(&name);
    let built = policy_command(&project, &["build"], &env).await;
    assert!(built.success, "{}", built.output);
    let wasm = project.join(format!("{name}.wasm"));
    let tested = policy_command(
        &project,
        &["test", path_str(&wasm), "--fixtures", "fixtures"],
        &env,
    )
    .await;
    assert!(
        tested.success && tested.output.contains("6 passed, 0 failed"),
        "{}",
        tested.output
    );

    // The settings first (a configured policy with no component yet fails closed).
    let mut gatehouse = Gatehouse::start(Setup {
        gate_policy: format!(
            "policies:\n  default:\n    {name}: {{blocked_names: [\"evil-*\"]}}\n"
        ),
        ..Setup::default()
    });
    assert_eq!(
        gatehouse.decide("npm", "good-thing", "1.0.0").await,
        "block"
    );

    // Requests keep being answered while the component compiles.
    let hammer = DecideHammer::start(&gatehouse, "good-thing", "1.0.0");
    let bytes = std::fs::read(&wasm).expect("built component");
    let dropped = Instant::now();
    replace_file(&gatehouse.path(&format!("policies/{name}.wasm")), &bytes);
    let served_before = hammer.served();
    let took = eventually(Duration::from_secs(120), || async {
        gatehouse.decide("npm", "good-thing", "1.0.0").await == "allow"
            && gatehouse.decide("npm", "evil-thing", "1.0.0").await == "block"
    })
    .await
    .expect("the dropped component takes effect");
    let (served, failed) = hammer.stop().await;
    let served_meanwhile = served - served_before;
    let status = component_status(&gatehouse, &name).await.expect("listed");
    let compile =
        Duration::from_secs_f64(status["compile_ms"].as_f64().expect("compile_ms") / 1000.0);
    println!(
        "{lang}: {} bytes; block {took:?} after the drop (compile {compile:?}); {served_meanwhile} decides answered meanwhile",
        bytes.len()
    );
    assert_eq!(status["from_cache"], false, "{status}");
    assert!(
        took <= compile + Duration::from_secs(1),
        "{lang}: took {took:?}, compile {compile:?}"
    );
    assert!(dropped.elapsed() >= took);
    assert_eq!(failed, 0, "no request failed");
    assert!(
        served_meanwhile > 0,
        "requests were answered during the load"
    );
    let answer = gatehouse
        .get_json("/api/v1/decide?ecosystem=npm&name=evil-thing&version=1.0.0")
        .await;
    assert!(
        answer
            .to_string()
            .contains("matches the blocked name pattern"),
        "{answer}"
    );

    // A restart loads it from the compile cache, in a fraction of the compile.
    gatehouse.restart();
    assert_eq!(
        gatehouse.decide("npm", "evil-thing", "1.0.0").await,
        "block"
    );
    let status = component_status(&gatehouse, &name).await.expect("listed");
    let reload =
        Duration::from_secs_f64(status["compile_ms"].as_f64().expect("compile_ms") / 1000.0);
    println!("{lang}: cached load after restart {reload:?}");
    assert_eq!(status["from_cache"], true, "{status}");
    assert!(
        reload < compile,
        "{lang}: cached {reload:?}, compile {compile:?}"
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_template_works_end_to_end() {
    template_works_end_to_end("rust").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_template_works_end_to_end() {
    template_works_end_to_end("js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_template_works_end_to_end() {
    template_works_end_to_end("python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_template_works_end_to_end() {
    template_works_end_to_end("c").await;
}
