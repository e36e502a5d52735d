//! `gatehouse policy new` and `gatehouse policy build`: a policy author's
//! project from one of the SDK templates, and the one command that turns it
//! into a component.
//!
//! The templates are the folders `sdk/<lang>/template/`, embedded file by file
//! (never their build outputs). Each implements the example rule of
//! `sdk/example/RULE.md` under the placeholder name `gatehouse-example`, which
//! `new` replaces with the policy's name. Inside the repository a template
//! reads the WIT and the fixtures from their places there; a new project gets
//! copies of both, and its paths are pointed at them.

// A one-shot command (policy new/build).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// The name every template uses for its policy.
const PLACEHOLDER: &str = "gatehouse-example";

/// A language a policy can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Python,
    C,
}

/// One file of a template: its path inside the project and its text.
type TemplateFile = (&'static str, &'static str);

macro_rules! template {
    ($lang:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../../sdk/", $lang, "/template/", $file)))),+]
    };
}

impl Lang {
    fn files(self) -> &'static [TemplateFile] {
        match self {
            Lang::Rust => template!("rust": "Cargo.toml", "src/lib.rs", "tests/fixtures.rs"),
            Lang::Js => template!("js":
                ".gitignore", "package.json", "tsconfig.json", "src/policy.js", "src/gatehouse.js",
                "test/gatehouse.test.js", "types/policy.d.ts",
                "types/interfaces/gatehouse-plugin-audit.d.ts",
                "types/interfaces/gatehouse-plugin-log.d.ts",
                "types/interfaces/gatehouse-plugin-osv.d.ts",
                "types/interfaces/gatehouse-plugin-store.d.ts",
                "types/interfaces/gatehouse-plugin-types.d.ts",
            ),
            Lang::Python => template!("python":
                ".gitignore", "build.sh", "requirements.txt", "rule.py", "gatehouse.py",
                "gatehouse_testing.py", "test_rule.py",
            ),
            Lang::C => {
                template!("c": ".gitignore", "Makefile", "policy.c", "gatehouse.c", "gatehouse.h")
            }
        }
    }

    /// The language of the project in `dir`, from the file its tool reads.
    fn of_project(dir: &Path) -> anyhow::Result<Lang> {
        let markers = [
            ("Cargo.toml", Lang::Rust),
            ("package.json", Lang::Js),
            ("rule.py", Lang::Python),
            ("Makefile", Lang::C),
        ];
        markers
            .into_iter()
            .find(|(file, _)| dir.join(file).is_file())
            .map(|(_, lang)| lang)
            .with_context(|| {
                format!(
                    "{} is not a policy project (no Cargo.toml, package.json, rule.py or Makefile); `gatehouse policy new NAME --lang LANG` makes one",
                    dir.display()
                )
            })
    }
}

/// Writes the template for `lang` into `parent/name`, which must not exist.
pub fn new(name: &str, lang: Lang, parent: &Path) -> anyhow::Result<PathBuf> {
    validate_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists; nothing was written", dir.display());
    }
    for (path, text) in lang.files() {
        let text = match (lang, *path) {
            (Lang::Rust, "Cargo.toml") => standalone_manifest(text),
            _ => text
                .replace(REPO_FIXTURES, "fixtures")
                .replace(REPO_WIT, "wit"),
        };
        write(&dir.join(path), &rename(&text, name))?;
    }
    for (file, text) in EXAMPLE_FIXTURES {
        write(&dir.join("fixtures").join(file), text)?;
    }
    // The Rust SDK brings its own bindings; the other toolchains read the WIT.
    if lang != Lang::Rust {
        for (file, text) in WIT {
            write(&dir.join("wit").join(file), text)?;
        }
    }
    Ok(dir)
}

/// How the templates name, inside the repository, the shared fixtures and the WIT.
const REPO_FIXTURES: &str = "../../example/fixtures";
const REPO_WIT: &str = "../../../wit";

/// The WIT package, for toolchains that generate bindings from it.
const WIT: &[TemplateFile] = &[
    (
        "capabilities.wit",
        include_str!("../../wit/capabilities.wit"),
    ),
    ("manifest.wit", include_str!("../../wit/manifest.wit")),
    ("types.wit", include_str!("../../wit/types.wit")),
    ("worlds.wit", include_str!("../../wit/worlds.wit")),
];

/// The shared fixture suite every template passes, copied into each project.
const EXAMPLE_FIXTURES: &[TemplateFile] = &[
    (
        "advisories.json",
        include_str!("../../sdk/example/fixtures/advisories.json"),
    ),
    (
        "allow.json",
        include_str!("../../sdk/example/fixtures/allow.json"),
    ),
    (
        "blocked-name.json",
        include_str!("../../sdk/example/fixtures/blocked-name.json"),
    ),
    (
        "empty-settings.json",
        include_str!("../../sdk/example/fixtures/empty-settings.json"),
    ),
    (
        "misspelt-setting.json",
        include_str!("../../sdk/example/fixtures/misspelt-setting.json"),
    ),
    (
        "too-young.json",
        include_str!("../../sdk/example/fixtures/too-young.json"),
    ),
];

/// Builds the project in `dir` into `dir/NAME.wasm` and returns that path.
pub fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let name = dir
        .canonicalize()
        .with_context(|| format!("reading {}", dir.display()))?
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .context("the project folder has no name")?;
    let output = dir.join(format!("{name}.wasm"));
    match Lang::of_project(dir)? {
        Lang::Rust => {
            run(Command::new(cargo())
                .args(["build", "--release", "--target", "wasm32-wasip2"])
                .current_dir(dir))?;
            let built = dir
                .join("target/wasm32-wasip2/release")
                .join(format!("{}.wasm", name.replace('-', "_")));
            std::fs::copy(&built, &output)
                .with_context(|| format!("copying {}", built.display()))?;
        }
        Lang::Js => {
            if !dir.join("node_modules").is_dir() {
                run(Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund"])
                    .current_dir(dir))?;
            }
            run(Command::new("npm").args(["run", "build"]).current_dir(dir))?;
        }
        Lang::Python => run(Command::new("sh").arg("build.sh").current_dir(dir))?,
        Lang::C => run(Command::new("make").current_dir(dir))?,
    }
    if !output.is_file() {
        bail!("the build ran but wrote no {}", output.display());
    }
    Ok(output)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", command.get_program());
    }
    Ok(())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Policy names become file names and package names in every language.
fn validate_name(name: &str) -> anyhow::Result<()> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        bail!(
            "`{name}` is not a policy name: use lower-case letters, digits and `-`, starting with a letter (at most 64)"
        );
    }
    Ok(())
}

/// The placeholder replaced by `name`, in both its spellings (`-` and `_`).
fn rename(text: &str, name: &str) -> String {
    text.replace(PLACEHOLDER, name)
        .replace(&PLACEHOLDER.replace('-', "_"), &name.replace('-', "_"))
}

/// The template's manifest, which inherits from this workspace, made to stand
/// alone: the SDK by path to this checkout (it is not on a registry, so a Rust
/// project builds where this binary was built), the workspace's values written out.
fn standalone_manifest(manifest: &str) -> String {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/rust");
    let sdk = sdk.canonicalize().unwrap_or(sdk);
    let mut out = String::new();
    for line in manifest.lines() {
        let written = match line.split_once(".workspace = true") {
            Some(("edition", _)) => "edition = \"2024\"".to_owned(),
            Some(("rust-version" | "publish", _)) => continue,
            Some(("license", _)) => "license = \"Apache-2.0\"".to_owned(),
            Some(("gatehouse-sdk", _)) => format!(
                "gatehouse-sdk = {{ path = {:?} }}",
                sdk.display().to_string()
            ),
            Some(("serde", _)) => "serde = { version = \"1\", features = [\"derive\"] }".to_owned(),
            _ if line == "[lints]" || line == "workspace = true" => continue,
            _ => line.to_owned(),
        };
        out.push_str(&written);
        out.push('\n');
    }
    out.push_str(
        "\n# Its own workspace, whatever folder it sits in.\n[workspace]\n\n\
         # Components sit on the request path: small and fast.\n[profile.release]\n\
         opt-level = 3\nlto = true\ncodegen-units = 1\nstrip = true\npanic = \"abort\"\n",
    );
    out
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
