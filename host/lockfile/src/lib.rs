//! Lockfiles for the pre-flight (`gatehouse check --lockfile`,
//! `POST /api/v1/decide?lockfile=NAME`): the registry packages they pin.
//!
//! Read: `package-lock.json` (v2, v3), `pnpm-lock.yaml` (v5 to v9),
//! `requirements*.txt` (every requirement pinned with `==`), `uv.lock`,
//! `Cargo.lock`, `go.sum`. Packages that do not come from a registry (the
//! project itself, workspace members, links, paths, git and URL sources) are
//! left out: no registry serves them, so no proxy decision applies.

use std::collections::BTreeMap;

/// Why a lockfile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    #[error(
        "{0:?} is not a lockfile gatehouse reads: package-lock.json, pnpm-lock.yaml, requirements.txt, uv.lock, Cargo.lock or go.sum"
    )]
    UnknownKind(String),
    #[error("{file}: {problem}")]
    Malformed { file: String, problem: String },
}

/// The lockfile kinds, each known by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PackageLock,
    PnpmLock,
    Requirements,
    UvLock,
    CargoLock,
    GoSum,
}

impl Kind {
    /// The kind a file name (or a path ending in one) says.
    pub fn from_file_name(name: &str) -> Result<Self, LockfileError> {
        let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
        Ok(match file {
            "package-lock.json" | "npm-shrinkwrap.json" => Kind::PackageLock,
            "pnpm-lock.yaml" => Kind::PnpmLock,
            "uv.lock" => Kind::UvLock,
            "Cargo.lock" => Kind::CargoLock,
            "go.sum" => Kind::GoSum,
            _ if file.starts_with("requirements") && file.ends_with(".txt") => Kind::Requirements,
            _ => return Err(LockfileError::UnknownKind(name.to_owned())),
        })
    }
}

/// One registry package a lockfile pins, in OSV's ecosystem spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub ecosystem: &'static str,
    pub name: String,
    pub version: String,
}

/// The registry packages `text` (a lockfile named `file`) pins, each once.
pub fn read(file: &str, text: &str) -> Result<Vec<Pin>, LockfileError> {
    let malformed = |problem: String| LockfileError::Malformed {
        file: file.to_owned(),
        problem,
    };
    let pins = match Kind::from_file_name(file)? {
        Kind::PackageLock => package_lock(text),
        Kind::PnpmLock => pnpm_lock(text),
        Kind::Requirements => requirements(text),
        Kind::UvLock => uv_lock(text),
        Kind::CargoLock => cargo_lock(text),
        Kind::GoSum => Ok(go_sum(text)),
    }
    .map_err(malformed)?;
    let mut seen = std::collections::BTreeSet::new();
    Ok(pins
        .into_iter()
        .filter(|pin| seen.insert(pin.clone()))
        .map(|(ecosystem, name, version)| Pin {
            ecosystem,
            name,
            version,
        })
        .collect())
}

/// What each reader yields: ecosystem, name, version.
type Pinned = (&'static str, String, String);

fn package_lock(text: &str) -> Result<Vec<Pinned>, String> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(rename = "lockfileVersion")]
        version: Option<u32>,
        #[serde(default)]
        packages: BTreeMap<String, Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        name: Option<String>,
        version: Option<String>,
        #[serde(default)]
        link: bool,
    }
    let lock: Lock = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if lock.packages.is_empty() && lock.version.unwrap_or(1) < 2 {
        return Err("lockfileVersion 1 has no `packages`; npm 7 or later writes v2/v3".into());
    }
    Ok(lock
        .packages
        .into_iter()
        .filter(|(_, entry)| !entry.link)
        .filter_map(|(path, entry)| {
            // Keys are install paths; only those under node_modules/ come from a registry.
            let installed = path.rsplit_once("node_modules/")?.1.to_owned();
            let version = entry.version.filter(|v| is_registry_version(v))?;
            Some(("npm", entry.name.unwrap_or(installed), version))
        })
        .collect())
}

/// A plain version, not a `file:`, `git+…` or URL reference.
fn is_registry_version(version: &str) -> bool {
    version.starts_with(|c: char| c.is_ascii_digit()) && !version.contains(':')
}

fn pnpm_lock(text: &str) -> Result<Vec<Pinned>, String> {
    let lock: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let version = match &lock["lockfileVersion"] {
        serde_yaml::Value::String(text) => text.clone(),
        serde_yaml::Value::Number(number) => number.to_string(),
        _ => return Err("no lockfileVersion".into()),
    };
    let v5 = version.starts_with('5');
    let Some(packages) = lock["packages"].as_mapping() else {
        return Ok(Vec::new());
    };
    Ok(packages
        .keys()
        .filter_map(|key| {
            // `/name/1.0.0_peer@2` (v5), `/name@1.0.0(peer@2)` (v6),
            // `name@1.0.0(peer@2)` (v9); scoped names start with `@`.
            let key = key.as_str()?.trim_start_matches('/');
            let key = key.split('(').next()?;
            let (name, version) = if v5 {
                let (name, version) = key.rsplit_once('/')?;
                (name, version.split('_').next()?)
            } else {
                let at = key.rfind('@').filter(|&at| at > 0)?;
                (&key[..at], &key[at + 1..])
            };
            is_registry_version(version).then(|| ("npm", name.to_owned(), version.to_owned()))
        })
        .collect())
}

fn requirements(text: &str) -> Result<Vec<Pinned>, String> {
    let mut pins = Vec::new();
    let mut unpinned = Vec::new();
    for line in text.replace("\\\n", " ").lines() {
        let line = line.split(" #").next().unwrap_or_default().trim();
        // Options (-r, -e, --index-url ...), comments and direct references
        // (`name @ url`) name nothing an index serves.
        if line.is_empty() || line.starts_with(['#', '-']) || line.contains(" @ ") {
            continue;
        }
        let requirement = line.split(';').next().unwrap_or_default();
        let requirement = requirement.split(" --").next().unwrap_or_default();
        match requirement.split_once("==") {
            Some((name, version)) if !version.contains('*') && !version.contains(',') => {
                let name = name.split('[').next().unwrap_or_default().trim();
                let version = version.trim_start_matches('=').trim();
                pins.push(("PyPI", name.to_owned(), version.to_owned()));
            }
            _ => unpinned.push(line.to_owned()),
        }
    }
    if unpinned.is_empty() {
        Ok(pins)
    } else {
        Err(format!(
            "not pinned with == (pin them, e.g. with pip freeze or pip-compile): {}",
            unpinned.join(", ")
        ))
    }
}

#[derive(serde::Deserialize)]
struct TomlLock<S> {
    #[serde(default = "Vec::new")]
    package: Vec<TomlPackage<S>>,
}

#[derive(serde::Deserialize)]
struct TomlPackage<S> {
    name: String,
    version: Option<String>,
    source: Option<S>,
}

fn uv_lock(text: &str) -> Result<Vec<Pinned>, String> {
    #[derive(serde::Deserialize)]
    struct Source {
        registry: Option<String>,
    }
    let lock: TomlLock<Source> = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(lock
        .package
        .into_iter()
        .filter(|p| p.source.as_ref().is_some_and(|s| s.registry.is_some()))
        .filter_map(|p| Some(("PyPI", p.name, p.version?)))
        .collect())
}

fn cargo_lock(text: &str) -> Result<Vec<Pinned>, String> {
    let lock: TomlLock<String> = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(lock
        .package
        .into_iter()
        .filter(|p| {
            p.source
                .as_deref()
                .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"))
        })
        .filter_map(|p| Some(("crates.io", p.name, p.version?)))
        .collect())
}

/// Modules whose source zip is hashed (`module version h1:…`); lines for a
/// `go.mod` alone (`version/go.mod`) are versions the build never downloads.
fn go_sum(text: &str) -> Vec<Pinned> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (module, version) = (fields.next()?, fields.next()?);
            (!version.ends_with("/go.mod")).then(|| ("Go", module.to_owned(), version.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(file: &str, text: &str) -> Vec<String> {
        read(file, text)
            .expect("reads")
            .into_iter()
            .map(|q| format!("{} {}@{}", q.ecosystem, q.name, q.version))
            .collect()
    }

    #[test]
    fn package_lock_lists_registry_packages_by_their_real_name() {
        let text = r#"{"lockfileVersion": 3, "packages": {
            "": {"name": "app", "version": "1.0.0"},
            "node_modules/a": {"version": "1.0.0"},
            "node_modules/a/node_modules/@s/b": {"version": "2.0.0"},
            "node_modules/alias": {"name": "real", "version": "3.0.0"},
            "node_modules/local": {"resolved": "packages/local", "link": true},
            "node_modules/git": {"version": "git+ssh://x/y.git#abc"},
            "packages/local": {"version": "0.1.0"}}}"#;
        assert_eq!(
            pins("package-lock.json", text),
            ["npm a@1.0.0", "npm @s/b@2.0.0", "npm real@3.0.0"]
        );
    }

    #[test]
    fn pnpm_keys_of_every_lockfile_version() {
        let v9 = "lockfileVersion: '9.0'\npackages:\n  a@1.0.0:\n    resolution: {}\n  '@s/b@2.0.0(react@18.0.0)':\n    resolution: {}\n";
        assert_eq!(
            pins("pnpm-lock.yaml", v9),
            ["npm a@1.0.0", "npm @s/b@2.0.0"]
        );
        let v6 = "lockfileVersion: '6.0'\npackages:\n  /a@1.0.0:\n    resolution: {}\n";
        assert_eq!(pins("pnpm-lock.yaml", v6), ["npm a@1.0.0"]);
        let v5 =
            "lockfileVersion: 5.4\npackages:\n  /@s/b/2.0.0_react@18.0.0:\n    resolution: {}\n";
        assert_eq!(pins("pnpm-lock.yaml", v5), ["npm @s/b@2.0.0"]);
    }

    #[test]
    fn requirements_must_be_pinned() {
        let text = "# tools\n-r base.txt\nsix==1.16.0 \\\n    --hash=sha256:abc\nRequests[socks] == 2.31.0 ; python_version > '3.7'\nlocal @ file:///x\n";
        assert_eq!(
            pins("requirements-dev.txt", text),
            ["PyPI six@1.16.0", "PyPI Requests@2.31.0"]
        );
        let error = read("requirements.txt", "six>=1\n").expect_err("unpinned");
        assert!(error.to_string().contains("six>=1"), "{error}");
    }

    #[test]
    fn toml_locks_keep_registry_sources_only() {
        let cargo = "version = 4\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.9\"\nsource = \"registry+https://example.invalid/index\"\n\n[[package]]\nname = \"g\"\nversion = \"0.1.0\"\nsource = \"git+https://example.invalid/g#abc\"\n";
        assert_eq!(pins("Cargo.lock", cargo), ["crates.io itoa@1.0.9"]);
        let uv = "version = 1\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { virtual = \".\" }\n\n[[package]]\nname = \"six\"\nversion = \"1.16.0\"\nsource = { registry = \"http://127.0.0.1/simple\" }\n";
        assert_eq!(pins("uv.lock", uv), ["PyPI six@1.16.0"]);
    }

    #[test]
    fn go_sum_lists_downloaded_modules_once() {
        let text = "example.com/a v1.0.0 h1:x=\nexample.com/a v1.0.0/go.mod h1:y=\nexample.com/b v0.1.0/go.mod h1:z=\n";
        assert_eq!(pins("go.sum", text), ["Go example.com/a@v1.0.0"]);
    }

    #[test]
    fn unknown_files_are_named() {
        assert!(matches!(
            read("yarn.lock", ""),
            Err(LockfileError::UnknownKind(_))
        ));
    }
}
