//! A fake Cargo sparse registry on 127.0.0.1 for end-to-end tests.
//!
//! It builds real `.crate` files (gzipped tars of `{name}-{version}/Cargo.toml`
//! and `src/lib.rs`), serves `index/config.json` with a `dl` template that
//! uses markers, and one index file per crate with the right `cksum`s and
//! `pubtime`s. A knob makes a version's served bytes disagree with its cksum.
//!
//! ```ignore
//! let registry = FakeCargo::start(vec![
//!     FakeCrate::new("demo").version("1.0.0").tampered_version("1.1.0"),
//! ]);
//! // point the adapter's upstream at registry.url() (".../index")
//! assert_eq!(registry.hits(&registry.crate_path("demo", "1.1.0")), 0);
//! ```

use std::collections::HashMap;

use sha2::{Digest as _, Sha256};

use crate::fake_http::{FakeHttp, Files, Listener};

/// A crate and its versions, oldest first.
#[derive(Debug, Clone)]
pub struct FakeCrate {
    name: String,
    /// (version, served bytes tampered).
    versions: Vec<(String, bool)>,
}

impl FakeCrate {
    pub fn new(name: &str) -> Self {
        FakeCrate {
            name: name.into(),
            versions: Vec::new(),
        }
    }

    pub fn version(mut self, version: &str) -> Self {
        self.versions.push((version.into(), false));
        self
    }

    /// A version whose served `.crate` does not match the index's cksum.
    pub fn tampered_version(mut self, version: &str) -> Self {
        self.versions.push((version.into(), true));
        self
    }
}

/// A running fake registry; it stops when dropped.
#[derive(Debug)]
pub struct FakeCargo {
    server: FakeHttp,
    /// `{name}-{version}` → the genuine `.crate` bytes.
    genuine: HashMap<String, Vec<u8>>,
}

impl FakeCargo {
    pub fn start(crates: Vec<FakeCrate>) -> Self {
        let listener = Listener::bind();
        let addr = listener.addr();
        let config = serde_json::json!({
            "dl": format!("http://{addr}/crates/{{lowerprefix}}/{{crate}}/{{crate}}-{{version}}.crate"),
            "api": format!("http://{addr}"),
        });
        let mut files = Files::from([(
            "/index/config.json".to_owned(),
            ("application/json", config.to_string().into_bytes()),
        )]);
        let mut genuine = HashMap::new();
        for krate in &crates {
            let mut index = String::new();
            for (month, (version, tampered)) in (1..).zip(&krate.versions) {
                let bytes = build_crate(&krate.name, version);
                let line = serde_json::json!({
                    "name": krate.name,
                    "vers": version,
                    "deps": [],
                    "cksum": hex(&Sha256::digest(&bytes)),
                    "features": {},
                    "yanked": false,
                    "links": null,
                    "v": 2,
                    "pubtime": format!("2024-{month:02}-01T00:00:00Z"),
                });
                index.push_str(&format!("{line}\n"));
                let served = if *tampered {
                    let mut flipped = bytes.clone();
                    *flipped.last_mut().expect("a crate has bytes") ^= 0xff;
                    flipped
                } else {
                    bytes.clone()
                };
                files.insert(
                    crate_path(&krate.name, version),
                    ("application/x-tar", served),
                );
                genuine.insert(format!("{}-{version}", krate.name), bytes);
            }
            files.insert(index_path(&krate.name), ("text/plain", index.into_bytes()));
        }
        FakeCargo {
            server: listener.serve_files(files),
            genuine,
        }
    }

    /// The sparse index base URL, `http://127.0.0.1:PORT/index` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}/index", self.server.addr())
    }

    /// How many requests `path` has had.
    pub fn hits(&self, path: &str) -> usize {
        self.server.hits(path)
    }

    /// The genuine `.crate` of `name` at `version`.
    pub fn crate_bytes(&self, name: &str, version: &str) -> Vec<u8> {
        self.genuine[&format!("{name}-{version}")].clone()
    }
}

/// Where the fake serves a `.crate` (what its `dl` template expands to).
pub fn crate_path(name: &str, version: &str) -> String {
    let prefix = index_prefix(&name.to_ascii_lowercase());
    format!("/crates/{prefix}/{name}/{name}-{version}.crate")
}

/// Where the fake serves the index file of `name`.
pub fn index_path(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    format!("/index/{}/{lower}", index_prefix(&lower))
}

/// The index layout: `1`, `2`, `3/{c}`, `{ab}/{cd}`.
fn index_prefix(name: &str) -> String {
    match name.len() {
        1 => "1".to_owned(),
        2 => "2".to_owned(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A minimal, real `.crate`: a gzipped tar of a manifest and an empty library.
fn build_crate(name: &str, version: &str) -> Vec<u8> {
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\nlicense = \"MIT\"\ndescription = \"a fake crate\"\n"
    );
    let lib = format!("//! {name} {version}\npub const VERSION: &str = \"{version}\";\n");
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);
    for (path, text) in [("Cargo.toml", manifest), ("src/lib.rs", lib)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_704_067_200);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("{name}-{version}/{path}"),
            text.as_bytes(),
        )
        .expect("tar entry");
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .expect("finishing the crate")
}
