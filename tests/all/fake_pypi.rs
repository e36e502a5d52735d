//! A fake Python package index on 127.0.0.1 for end-to-end tests.
//!
//! It builds real, minimal distributions (wheels with `.dist-info/METADATA`,
//! `WHEEL` and `RECORD`; sdists with `PKG-INFO`) and serves the simple API in
//! both forms: JSON (PEP 691, with PEP 700 `size`/`upload-time`/`versions`)
//! when the client's Accept names it, HTML (PEP 503, relative hrefs with
//! `#sha256=` fragments) otherwise. Every file declares `core-metadata` and
//! its `.metadata` file is served (PEP 658/714). Knobs make a file's bytes or
//! its metadata disagree with the declared hash, and turn the JSON form off.
//!
//! ```ignore
//! let index = FakePypi::start(vec![
//!     FakeProject::new("demo-pkg")
//!         .release(FakeRelease::new("1.0").uploaded("2024-01-01T00:00:00Z"))
//!         .release(FakeRelease::new("2.0").tampered()),
//! ]);
//! // point the adapter's upstream at index.url() (".../simple")
//! assert_eq!(index.hits("/simple/demo-pkg/"), 1);
//! ```

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::fake_http::{FakeHttp, Listener, Reply, Request};

/// One version of a fake project and how it is published.
#[derive(Debug, Clone)]
pub struct FakeRelease {
    version: String,
    uploaded: String,
    yanked: Option<String>,
    requires_python: Option<String>,
    requires_dist: Vec<String>,
    wheel: bool,
    sdist: bool,
    tampered: bool,
    tampered_metadata: bool,
    /// The project its core metadata names, when not its own.
    metadata_name: Option<String>,
}

impl FakeRelease {
    /// A release with a wheel and an sdist, uploaded on 2024-01-01.
    pub fn new(version: &str) -> Self {
        FakeRelease {
            version: version.into(),
            uploaded: "2024-01-01T00:00:00.000000Z".into(),
            yanked: None,
            requires_python: None,
            requires_dist: Vec::new(),
            wheel: true,
            sdist: true,
            tampered: false,
            tampered_metadata: false,
            metadata_name: None,
        }
    }

    /// The PEP 700 `upload-time` of every file (ISO 8601, UTC, `Z`).
    pub fn uploaded(mut self, upload_time: &str) -> Self {
        self.uploaded = upload_time.into();
        self
    }

    /// Yanked (PEP 592); an empty reason means yanked without one.
    pub fn yanked(mut self, reason: &str) -> Self {
        self.yanked = Some(reason.into());
        self
    }

    pub fn requires_python(mut self, specifier: &str) -> Self {
        self.requires_python = Some(specifier.into());
        self
    }

    /// Adds a `Requires-Dist` line, e.g. `six>=1.0`.
    pub fn requires(mut self, requirement: &str) -> Self {
        self.requires_dist.push(requirement.into());
        self
    }

    pub fn wheel_only(mut self) -> Self {
        self.sdist = false;
        self
    }

    pub fn sdist_only(mut self) -> Self {
        self.wheel = false;
        self
    }

    /// Serves files whose bytes differ from the declared sha256 (same size).
    pub fn tampered(mut self) -> Self {
        self.tampered = true;
        self
    }

    /// Serves `.metadata` files that differ from the declared hash.
    pub fn tampered_metadata(mut self) -> Self {
        self.tampered_metadata = true;
        self
    }

    /// Files whose core metadata (METADATA, PKG-INFO, `.metadata`) names
    /// another project, their hashes declared honestly.
    pub fn metadata_naming(mut self, project: &str) -> Self {
        self.metadata_name = Some(project.into());
        self
    }
}

/// A project: a name as its author spelled it, and its releases.
#[derive(Debug, Clone)]
pub struct FakeProject {
    name: String,
    releases: Vec<FakeRelease>,
}

impl FakeProject {
    pub fn new(name: &str) -> Self {
        FakeProject {
            name: name.into(),
            releases: Vec::new(),
        }
    }

    pub fn release(mut self, release: FakeRelease) -> Self {
        self.releases.push(release);
        self
    }
}

/// A built distribution file as the index lists it.
#[derive(Debug, Clone)]
struct Listed {
    filename: String,
    sha256: String,
    size: usize,
    metadata_sha256: String,
    upload_time: String,
    yanked: Option<String>,
    requires_python: Option<String>,
}

#[derive(Debug)]
struct State {
    /// Normalised name → (display name, files, versions).
    projects: HashMap<String, (String, Vec<Listed>, Vec<String>)>,
    /// Path → bytes as served (tampered ones included).
    served: HashMap<String, Vec<u8>>,
    /// Filename → the genuine bytes.
    genuine: HashMap<String, Vec<u8>>,
    json: bool,
}

/// A running fake index; it stops when dropped.
#[derive(Debug)]
pub struct FakePypi {
    server: FakeHttp,
    state: Arc<State>,
}

impl FakePypi {
    /// Serves `projects` in HTML and JSON.
    pub fn start(projects: Vec<FakeProject>) -> Self {
        Self::serve(projects, true)
    }

    /// Serves `projects` in HTML only, whatever the client asks for.
    pub fn start_html_only(projects: Vec<FakeProject>) -> Self {
        Self::serve(projects, false)
    }

    fn serve(projects: Vec<FakeProject>, json: bool) -> Self {
        let mut state = State {
            projects: HashMap::new(),
            served: HashMap::new(),
            genuine: HashMap::new(),
            json,
        };
        for project in &projects {
            let mut listed = Vec::new();
            for release in &project.releases {
                for (filename, bytes, metadata) in build_release(&project.name, release) {
                    listed.push(Listed {
                        filename: filename.clone(),
                        sha256: sha256_hex(&bytes),
                        size: bytes.len(),
                        metadata_sha256: sha256_hex(&metadata),
                        upload_time: release.uploaded.clone(),
                        yanked: release.yanked.clone(),
                        requires_python: release.requires_python.clone(),
                    });
                    let served = if release.tampered {
                        flip_last_byte(&bytes)
                    } else {
                        bytes.clone()
                    };
                    let served_metadata = if release.tampered_metadata {
                        flip_last_byte(&metadata)
                    } else {
                        metadata
                    };
                    state.served.insert(format!("/files/{filename}"), served);
                    state
                        .served
                        .insert(format!("/files/{filename}.metadata"), served_metadata);
                    state.genuine.insert(filename, bytes);
                }
            }
            let versions = project.releases.iter().map(|r| r.version.clone()).collect();
            state.projects.insert(
                normalise(&project.name),
                (project.name.clone(), listed, versions),
            );
        }

        let listener = Listener::bind();
        let origin = format!("http://{}", listener.addr());
        let state = Arc::new(state);
        let answering = state.clone();
        let server = listener.serve(move |request| answer(&answering, &origin, request));
        FakePypi { server, state }
    }

    /// The simple index base URL, e.g. `http://127.0.0.1:PORT/simple` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}/simple", self.server.addr())
    }

    /// How many requests reached `path` (e.g. `/simple/demo-pkg/`, `/files/x.whl`).
    pub fn hits(&self, path: &str) -> usize {
        self.server.hits(path)
    }

    /// The sha256 the index declares for `filename`.
    pub fn sha256(&self, filename: &str) -> Option<String> {
        self.state
            .genuine
            .get(filename)
            .map(|bytes| sha256_hex(bytes))
    }

    /// The genuine bytes of `filename` (what a verified download must equal).
    pub fn bytes(&self, filename: &str) -> Option<Vec<u8>> {
        self.state.genuine.get(filename).cloned()
    }

    /// Every filename of `project` (any spelling), in upload order.
    pub fn filenames(&self, project: &str) -> Vec<String> {
        self.state
            .projects
            .get(&normalise(project))
            .map(|(_, files, _)| files.iter().map(|f| f.filename.clone()).collect())
            .unwrap_or_default()
    }
}

/// PEP 503 normalisation.
fn normalise(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(['-', '_', '.']).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&part.to_ascii_lowercase());
    }
    out
}

/// The name as wheel and sdist filenames write it (`Foo.Bar` → `foo_bar`).
fn filename_name(name: &str) -> String {
    normalise(name).replace('-', "_")
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn flip_last_byte(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if let Some(last) = out.last_mut() {
        *last ^= 0xff;
    }
    out
}

fn metadata_text(name: &str, release: &FakeRelease) -> Vec<u8> {
    let name = release.metadata_name.as_deref().unwrap_or(name);
    let mut text = format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {}\nSummary: a fake package for gatehouse tests\n",
        release.version
    );
    if let Some(spec) = &release.requires_python {
        text.push_str(&format!("Requires-Python: {spec}\n"));
    }
    for requirement in &release.requires_dist {
        text.push_str(&format!("Requires-Dist: {requirement}\n"));
    }
    text.into_bytes()
}

/// (filename, bytes, core metadata) for each file of `release`.
fn build_release(name: &str, release: &FakeRelease) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let stem = format!("{}-{}", filename_name(name), release.version);
    let metadata = metadata_text(name, release);
    let mut files = Vec::new();
    if release.wheel {
        let filename = format!("{stem}-py3-none-any.whl");
        files.push((
            filename,
            build_wheel(name, release, &metadata),
            metadata.clone(),
        ));
    }
    if release.sdist {
        let filename = format!("{stem}.tar.gz");
        files.push((
            filename,
            build_sdist(&stem, name, &metadata),
            metadata.clone(),
        ));
    }
    files
}

/// A pure-Python wheel: one module, `.dist-info/{METADATA,WHEEL,RECORD}`.
fn build_wheel(name: &str, release: &FakeRelease, metadata: &[u8]) -> Vec<u8> {
    let module = filename_name(name);
    let dist_info = format!("{module}-{}.dist-info", release.version);
    let entries: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{module}/__init__.py"),
            format!("__version__ = \"{}\"\n", release.version).into_bytes(),
        ),
        (format!("{dist_info}/METADATA"), metadata.to_vec()),
        (
            format!("{dist_info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: gatehouse-fake-pypi\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ];
    let mut record = String::new();
    for (path, bytes) in &entries {
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record.push_str(&format!("{path},sha256={digest},{}\n", bytes.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));

    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let record_entry = (format!("{dist_info}/RECORD"), record.into_bytes());
    for (path, bytes) in entries.iter().chain([&record_entry]) {
        writer
            .start_file(path.as_str(), options)
            .expect("zip entry");
        writer.write_all(bytes).expect("zip write");
    }
    writer.finish().expect("zip finish").into_inner()
}

/// A gzipped tarball `{stem}/PKG-INFO` + `{stem}/pyproject.toml`, mtimes zero.
fn build_sdist(stem: &str, name: &str, metadata: &[u8]) -> Vec<u8> {
    let pyproject = format!(
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\nname = \"{name}\"\ndynamic = [\"version\"]\n"
    );
    let gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, bytes) in [
        (format!("{stem}/PKG-INFO"), metadata.to_vec()),
        (format!("{stem}/pyproject.toml"), pyproject.into_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, path, bytes.as_slice())
            .expect("tar entry");
    }
    tar.into_inner()
        .expect("tar finish")
        .finish()
        .expect("gzip finish")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn project_html(display: &str, files: &[Listed]) -> String {
    let mut links = String::new();
    for file in files {
        links.push_str(&format!(
            "<a href=\"../../files/{0}#sha256={1}\" data-core-metadata=\"sha256={2}\" data-dist-info-metadata=\"sha256={2}\"",
            file.filename, file.sha256, file.metadata_sha256
        ));
        if let Some(spec) = &file.requires_python {
            links.push_str(&format!(" data-requires-python=\"{}\"", escape(spec)));
        }
        if let Some(reason) = &file.yanked {
            links.push_str(&format!(" data-yanked=\"{}\"", escape(reason)));
        }
        links.push_str(&format!(">{}</a><br/>\n", file.filename));
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\">\
         <title>Links for {display}</title></head>\n<body><h1>Links for {display}</h1>\n{links}</body></html>\n"
    )
}

fn project_json(origin: &str, normalised: &str, files: &[Listed], versions: &[String]) -> String {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|file| {
            let mut value = serde_json::json!({
                "filename": file.filename,
                "url": format!("{origin}/files/{}", file.filename),
                "hashes": {"sha256": file.sha256},
                "core-metadata": {"sha256": file.metadata_sha256},
                "yanked": match &file.yanked {
                    None => serde_json::json!(false),
                    Some(reason) if reason.is_empty() => serde_json::json!(true),
                    Some(reason) => serde_json::json!(reason),
                },
                "size": file.size,
                "upload-time": file.upload_time,
            });
            if let Some(spec) = &file.requires_python {
                value["requires-python"] = serde_json::json!(spec);
            }
            value
        })
        .collect();
    serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": normalised,
        "files": files,
        "versions": versions,
    })
    .to_string()
}

fn wants_json(accept: &str) -> bool {
    accept
        .split(',')
        .map(|range| range.split(';').next().unwrap_or("").trim())
        .any(|media| media == "application/vnd.pypi.simple.v1+json")
}

fn route(state: &State, origin: &str, path: &str, accept: &str) -> Reply {
    let json = state.json && wants_json(accept);
    let html_type = "text/html; charset=utf-8";
    let json_type = "application/vnd.pypi.simple.v1+json";
    if path == "/simple/" {
        let mut names: Vec<&String> = state
            .projects
            .values()
            .map(|(display, _, _)| display)
            .collect();
        names.sort();
        let body = if json {
            let projects: Vec<_> = names
                .iter()
                .map(|n| serde_json::json!({"name": n}))
                .collect();
            serde_json::json!({"meta": {"api-version": "1.1"}, "projects": projects}).to_string()
        } else {
            let links: String = names
                .iter()
                .map(|n| format!("<a href=\"{}/\">{n}</a>\n", normalise(n)))
                .collect();
            format!("<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
        };
        let content_type = if json { json_type } else { html_type };
        return Reply::ok(content_type, body.into_bytes());
    }
    let project = path
        .strip_prefix("/simple/")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|name| state.projects.get_key_value(name));
    if let Some((name, (display, files, versions))) = project {
        let (content_type, body) = if json {
            (json_type, project_json(origin, name, files, versions))
        } else {
            (html_type, project_html(display, files))
        };
        return Reply::ok(content_type, body.into_bytes());
    }
    if let Some(bytes) = state.served.get(path) {
        let content_type = if path.ends_with(".metadata") {
            "text/plain; charset=utf-8"
        } else {
            "application/octet-stream"
        };
        return Reply::ok(content_type, bytes.clone());
    }
    Reply::not_found()
}

/// [`route`]'s reply with an ETag of its body, answering a matching
/// `If-None-Match` with 304.
fn answer(state: &State, origin: &str, request: &Request) -> Reply {
    let accept = request.header("accept").unwrap_or_default();
    let mut reply = route(state, origin, &request.path, accept);
    let etag = format!("\"{}\"", &sha256_hex(&reply.body)[..16]);
    if reply.status == 200 && request.header("if-none-match") == Some(etag.as_str()) {
        reply.status = 304;
        reply.body.clear();
    }
    reply.headers = vec![("etag", etag), ("vary", "Accept".into())];
    reply
}
