//! A fake Go module proxy and checksum database on 127.0.0.1 for end-to-end
//! tests.
//!
//! Each version is a real module: a `go.mod`, one Go file, and a zip in the
//! module zip layout (`{module}@{version}/...`). The proxy serves the GOPROXY
//! protocol (`@v/list`, `.info`, `.mod`, `.zip`, `@latest`) with case-encoded
//! paths; the checksum database serves `/lookup/{module}@{version}` with the
//! `h1:` hashes of the genuine files (unsigned: the adapter reads the record
//! lines only). A tampered version's zip differs from what the database records.
//!
//! ```ignore
//! let fake = FakeGo::start(vec![
//!     FakeModule::new("example.test/demo").version("v1.0.0").tampered("v1.0.1"),
//! ]);
//! // upstream url: fake.proxy_url(); adapter settings: sumdb = fake.sumdb_url()
//! assert_eq!(fake.hits("/example.test/demo/@v/v1.0.0.zip"), 1);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read, Write};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::fake_http::{FakeHttp, Files, Listener};

/// Every version is published at this time.
pub const PUBLISHED: &str = "2024-01-02T03:04:05Z";

/// A module and its versions, oldest first (the last is `@latest`).
#[derive(Debug, Clone)]
pub struct FakeModule {
    path: String,
    /// (version, tampered)
    versions: Vec<(String, bool)>,
}

impl FakeModule {
    pub fn new(path: &str) -> Self {
        FakeModule {
            path: path.into(),
            versions: Vec::new(),
        }
    }

    pub fn version(mut self, version: &str) -> Self {
        self.versions.push((version.into(), false));
        self
    }

    /// A version whose served zip differs from the one the database records.
    pub fn tampered(mut self, version: &str) -> Self {
        self.versions.push((version.into(), true));
        self
    }
}

/// A running proxy and checksum database; both stop when dropped.
#[derive(Debug)]
pub struct FakeGo {
    proxy: FakeHttp,
    sumdb: FakeHttp,
    /// (module, version) → the genuine zip.
    zips: HashMap<(String, String), Vec<u8>>,
}

impl FakeGo {
    pub fn start(modules: Vec<FakeModule>) -> Self {
        let mut proxy = Files::new();
        let mut sumdb = Files::new();
        let mut zips = HashMap::new();
        for module in &modules {
            let escaped = escape(&module.path);
            let mut list = String::new();
            for (version, tampered) in &module.versions {
                let go_mod = format!("module {}\n\ngo 1.19\n", module.path).into_bytes();
                let zip = module_zip(&module.path, version, &go_mod, "");
                let served = if *tampered {
                    module_zip(
                        &module.path,
                        version,
                        &go_mod,
                        "\nfunc init() { panic(\"tampered\") }\n",
                    )
                } else {
                    zip.clone()
                };
                let info = format!(r#"{{"Version":"{version}","Time":"{PUBLISHED}"}}"#);
                let at = format!("/{escaped}/@v/{}", escape(version));
                let lookup = format!(
                    "1\n{m} {version} {}\n{m} {version}/go.mod {}\n\n- sum.fake.test unsigned\n",
                    hash_zip(&zip),
                    hash_go_mod(&go_mod),
                    m = module.path,
                );
                let info = info.into_bytes();
                proxy.insert(format!("{at}.info"), ("application/json", info.clone()));
                proxy.insert(format!("{at}.mod"), ("text/plain", go_mod));
                proxy.insert(format!("{at}.zip"), ("application/zip", served));
                proxy.insert(format!("/{escaped}/@latest"), ("application/json", info));
                sumdb.insert(
                    format!("/lookup/{escaped}@{}", escape(version)),
                    ("text/plain", lookup.into_bytes()),
                );
                list.push_str(&format!("{version}\n"));
                zips.insert((module.path.clone(), version.clone()), zip);
            }
            proxy.insert(
                format!("/{escaped}/@v/list"),
                ("text/plain", list.into_bytes()),
            );
        }
        FakeGo {
            proxy: Listener::bind().serve_files(proxy),
            sumdb: Listener::bind().serve_files(sumdb),
            zips,
        }
    }

    /// The module proxy's base URL (no trailing slash).
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.proxy.addr())
    }

    /// The checksum database's base URL, on its own origin.
    pub fn sumdb_url(&self) -> String {
        format!("http://{}", self.sumdb.addr())
    }

    /// The genuine zip of `module` at `version`.
    pub fn zip(&self, module: &str, version: &str) -> Vec<u8> {
        self.zips[&(module.to_owned(), version.to_owned())].clone()
    }

    /// The `h1:` hash the database records for the zip of `module` at `version`.
    pub fn zip_hash(&self, module: &str, version: &str) -> String {
        hash_zip(&self.zip(module, version))
    }

    /// How many requests reached the proxy's `path` (case-encoded).
    pub fn hits(&self, path: &str) -> usize {
        self.proxy.hits(path)
    }
}

/// The proxy protocol's case encoding: `!` + lower case for each capital.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                format!("!{}", c.to_ascii_lowercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `{module}@{version}/go.mod` and one Go file (with `extra` code appended),
/// deflated, in the module zip layout.
fn module_zip(module: &str, version: &str, go_mod: &[u8], extra: &str) -> Vec<u8> {
    let package = module
        .rsplit('/')
        .next()
        .unwrap_or("demo")
        .to_ascii_lowercase();
    let source = format!(
        "package {package}\n\n// Version is the module version.\nconst Version = {version:?}\n{extra}"
    );
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in [
        ("go.mod", go_mod),
        (&format!("{package}.go"), source.as_bytes()),
    ] {
        writer
            .start_file(format!("{module}@{version}/{name}"), options)
            .expect("zip entry");
        writer.write_all(bytes).expect("zip write");
    }
    writer.finish().expect("zip finish").into_inner()
}

/// Go's `dirhash.Hash1` over the zip's entries.
fn hash_zip(bytes: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    let mut files = BTreeMap::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).expect("entry");
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read entry");
        let name = entry.name().expect("UTF-8 name").into_owned();
        files.insert(name, content);
    }
    hash1(&files)
}

fn hash_go_mod(go_mod: &[u8]) -> String {
    hash1(&BTreeMap::from([("go.mod".to_owned(), go_mod.to_vec())]))
}

fn hash1(files: &BTreeMap<String, Vec<u8>>) -> String {
    let lines: String = files
        .iter()
        .map(|(name, content)| format!("{:x}  {name}\n", Sha256::digest(content)))
        .collect();
    let summary = Sha256::digest(lines.as_bytes());
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary)
    )
}
