//! A fake npm registry on 127.0.0.1 for end-to-end tests.
//!
//! It serves full packuments (`/{name}`, scoped names as `@scope%2fname` or
//! `@scope/name`) and real gzipped tarballs it builds itself
//! (`/{name}/-/{bare}-{version}.tgz`), with `dist.integrity` (SRI sha512) and
//! `dist.shasum` computed over the genuine bytes. Knobs: publish times, scripts,
//! dependencies, deprecation, a version whose served bytes are tampered with,
//! an outage switch and a hold on tarballs (slow downloads). It counts requests per path.
//!
//! ```ignore
//! let registry = FakeNpm::start(vec![
//!     FakePackage::new("left-pad")
//!         .version(FakeVersion::new("1.0.0").published(1_600_000_000))
//!         .version(FakeVersion::new("1.1.0").tampered()),
//!     FakePackage::new("@scope/pkg").version(FakeVersion::new("2.0.0")),
//! ]);
//! // point gatehouse's npm upstream at registry.url() ...
//! assert_eq!(registry.hits("/left-pad/-/left-pad-1.0.0.tgz"), 1);
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha512};
use tokio::sync::oneshot;

/// One version of a [`FakePackage`].
#[derive(Debug, Clone)]
pub struct FakeVersion {
    version: String,
    /// Seconds since the Unix epoch; `None` picks a time in 2020 by position.
    published: Option<i64>,
    dependencies: Vec<(String, String)>,
    scripts: Vec<(String, String)>,
    /// Scripts in the tarball's `package.json` that the packument leaves out.
    hidden_scripts: Vec<(String, String)>,
    deprecated: Option<String>,
    license: String,
    tampered: bool,
    /// Tarball bytes to serve instead of the ones built (declared honestly).
    tarball: Option<Vec<u8>>,
}

impl FakeVersion {
    pub fn new(version: &str) -> Self {
        FakeVersion {
            version: version.into(),
            published: None,
            dependencies: Vec::new(),
            scripts: Vec::new(),
            hidden_scripts: Vec::new(),
            deprecated: None,
            license: "MIT".into(),
            tampered: false,
            tarball: None,
        }
    }

    /// Publish time, seconds since the Unix epoch.
    pub fn published(mut self, unix_seconds: i64) -> Self {
        self.published = Some(unix_seconds);
        self
    }

    pub fn dependency(mut self, name: &str, requirement: &str) -> Self {
        self.dependencies.push((name.into(), requirement.into()));
        self
    }

    /// A `scripts` entry, e.g. `("postinstall", "node setup.js")`.
    pub fn script(mut self, hook: &str, command: &str) -> Self {
        self.scripts.push((hook.into(), command.into()));
        self
    }

    /// A `scripts` entry only the tarball's `package.json` has: the
    /// packument hides it ("manifest confusion").
    pub fn hidden_script(mut self, hook: &str, command: &str) -> Self {
        self.hidden_scripts.push((hook.into(), command.into()));
        self
    }

    pub fn deprecated(mut self, message: &str) -> Self {
        self.deprecated = Some(message.into());
        self
    }

    pub fn license(mut self, license: &str) -> Self {
        self.license = license.into();
        self
    }

    /// Serve `bytes` as the tarball, with `integrity` and `shasum` over them
    /// (a hostile archive, honestly declared).
    pub fn tarball(mut self, bytes: Vec<u8>) -> Self {
        self.tarball = Some(bytes);
        self
    }

    /// Serve other bytes than the ones `integrity` and `shasum` describe.
    pub fn tampered(mut self) -> Self {
        self.tampered = true;
        self
    }
}

/// A package the fake registry serves.
#[derive(Debug, Clone)]
pub struct FakePackage {
    name: String,
    versions: Vec<FakeVersion>,
    dist_tags: Vec<(String, String)>,
}

impl FakePackage {
    /// `name` as npm writes it, `pkg` or `@scope/pkg`.
    pub fn new(name: &str) -> Self {
        FakePackage {
            name: name.into(),
            versions: Vec::new(),
            dist_tags: Vec::new(),
        }
    }

    /// Adds a version; without explicit tags, `latest` names the last one added.
    pub fn version(mut self, version: FakeVersion) -> Self {
        self.versions.push(version);
        self
    }

    pub fn tag(mut self, tag: &str, version: &str) -> Self {
        self.dist_tags.push((tag.into(), version.into()));
        self
    }

    fn bare_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

/// What the server answers, by request path.
#[derive(Debug, Default)]
struct Routes {
    /// Packument paths (every spelling) to the document.
    documents: HashMap<String, Bytes>,
    /// Tarball paths to the bytes served.
    tarballs: HashMap<String, Bytes>,
    /// `(name, version)` to the genuine tarball bytes.
    genuine: HashMap<(String, String), Vec<u8>>,
}

#[derive(Debug, Default)]
struct State {
    hits: HashMap<String, usize>,
    /// Every request answers this status while set.
    failing: Option<u16>,
    /// Tarball answers wait while set (a slow download).
    holding: bool,
}

/// A running fake registry; it stops when dropped.
#[derive(Debug)]
pub struct FakeNpm {
    addr: SocketAddr,
    routes: Arc<Routes>,
    state: Arc<Mutex<State>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeNpm {
    /// Builds every document and tarball, then serves them on 127.0.0.1 from a
    /// thread of its own (usable from sync and async tests alike).
    pub fn start(packages: Vec<FakePackage>) -> FakeNpm {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds a local port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("has an address");
        let routes = Arc::new(build_routes(&format!("http://{addr}"), &packages));
        let state = Arc::new(Mutex::new(State::default()));
        let (shutdown, stopped) = oneshot::channel();
        let thread = {
            let (routes, state) = (routes.clone(), state.clone());
            std::thread::spawn(move || serve(listener, routes, state, stopped))
        };
        FakeNpm {
            addr,
            routes,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The registry's base URL, `http://127.0.0.1:{port}` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests reached `path` (the path as sent, without the query).
    pub fn hits(&self, path: &str) -> usize {
        let state = self.state.lock().expect("state lock");
        state.hits.get(path).copied().unwrap_or(0)
    }

    /// The genuine tarball of `name@version` (what the digests describe).
    pub fn tarball(&self, name: &str, version: &str) -> Option<&[u8]> {
        self.routes
            .genuine
            .get(&(name.to_owned(), version.to_owned()))
            .map(Vec::as_slice)
    }

    /// Holds every tarball answer until called with `false`.
    pub fn hold_tarballs(&self, hold: bool) {
        self.state.lock().expect("state lock").holding = hold;
    }

    /// Makes every request answer `status` (e.g. 503) until called with `None`.
    pub fn set_failing(&self, status: Option<u16>) {
        self.state.lock().expect("state lock").failing = status;
    }
}

impl Drop for FakeNpm {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    listener: std::net::TcpListener,
    routes: Arc<Routes>,
    state: Arc<Mutex<State>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        loop {
            let (stream, _) = tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => continue,
                },
            };
            let (routes, state) = (routes.clone(), state.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let answer = answer(&routes, &state, &request);
                    let state = state.clone();
                    async move {
                        let tarball = answer
                            .headers()
                            .get("content-type")
                            .is_some_and(|t| t == "application/octet-stream");
                        while tarball && state.lock().expect("state lock").holding {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Ok::<_, Infallible>(answer)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn answer(
    routes: &Routes,
    state: &Mutex<State>,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let failing = {
        let mut state = state.lock().expect("state lock");
        *state.hits.entry(path.clone()).or_default() += 1;
        state.failing
    };
    let respond = |status: StatusCode, content_type: &str, body: Bytes| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(body))
            .expect("a valid response")
    };
    if let Some(status) = failing {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return respond(
            status,
            "application/json",
            Bytes::from_static(b"{\"error\":\"down\"}"),
        );
    }
    if let Some(document) = routes.documents.get(&path) {
        return respond(StatusCode::OK, "application/json", document.clone());
    }
    if let Some(tarball) = routes.tarballs.get(&path) {
        return respond(StatusCode::OK, "application/octet-stream", tarball.clone());
    }
    respond(
        StatusCode::NOT_FOUND,
        "application/json",
        Bytes::from_static(b"{\"error\":\"Not found\"}"),
    )
}

fn build_routes(base: &str, packages: &[FakePackage]) -> Routes {
    let mut routes = Routes::default();
    for package in packages {
        let name = &package.name;
        let mut versions = Map::new();
        let mut time = Map::new();
        let mut latest_published = 0;
        for (index, version) in package.versions.iter().enumerate() {
            let published = version
                .published
                .unwrap_or(1_577_836_800 + 86_400 * index as i64);
            latest_published = latest_published.max(published);
            time.insert(version.version.clone(), json!(rfc3339(published)));
            let manifest = manifest(package, version);
            let mut packed = manifest.clone();
            for (hook, command) in &version.hidden_scripts {
                packed["scripts"][hook] = json!(command);
            }
            let genuine = version
                .tarball
                .clone()
                .unwrap_or_else(|| tarball(&packed, "module.exports = 'genuine';\n"));
            let served = if version.tampered {
                tarball(&packed, "module.exports = 'tampered';\n")
            } else {
                genuine.clone()
            };
            let filename = format!("{}-{}.tgz", package.bare_name(), version.version);
            let mut full = manifest;
            full["_id"] = json!(format!("{name}@{}", version.version));
            full["dist"] = json!({
                "integrity": format!("sha512-{}", STANDARD.encode(Sha512::digest(&genuine))),
                "shasum": hex::encode(Sha1::digest(&genuine)),
                "tarball": format!("{base}/{name}/-/{filename}"),
                "fileCount": 2,
                "unpackedSize": genuine.len(),
            });
            if let Some(message) = &version.deprecated {
                full["deprecated"] = json!(message);
            }
            versions.insert(version.version.clone(), full);
            routes
                .tarballs
                .insert(format!("/{name}/-/{filename}"), Bytes::from(served));
            routes
                .genuine
                .insert((name.clone(), version.version.clone()), genuine);
        }
        time.insert("created".into(), json!(rfc3339(1_577_836_800)));
        time.insert("modified".into(), json!(rfc3339(latest_published)));
        let mut dist_tags: Map<String, Value> = package
            .dist_tags
            .iter()
            .map(|(tag, version)| (tag.clone(), json!(version)))
            .collect();
        if dist_tags.is_empty()
            && let Some(last) = package.versions.last()
        {
            dist_tags.insert("latest".into(), json!(last.version));
        }
        let document = Bytes::from(
            serde_json::to_vec(&json!({
                "_id": name,
                "name": name,
                "description": format!("{name}, served by the fake registry"),
                "dist-tags": dist_tags,
                "versions": versions,
                "time": time,
                "license": "MIT",
                "readme": format!("# {name}\n"),
            }))
            .expect("a document serialises"),
        );
        for path in packument_paths(name) {
            routes.documents.insert(path, document.clone());
        }
    }
    routes
}

/// A version's `package.json`, as published.
fn manifest(package: &FakePackage, version: &FakeVersion) -> Value {
    let pairs = |pairs: &[(String, String)]| -> Map<String, Value> {
        pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
    };
    json!({
        "name": package.name,
        "version": version.version,
        "description": format!("{} {}", package.name, version.version),
        "main": "index.js",
        "license": version.license,
        "scripts": pairs(&version.scripts),
        "dependencies": pairs(&version.dependencies),
    })
}

/// A gzipped tarball with `package/package.json` and `package/index.js`.
fn tarball(manifest: &Value, index_js: &str) -> Vec<u8> {
    let package_json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(gzip);
    for (path, contents) in [
        ("package/package.json", package_json.as_slice()),
        ("package/index.js", index_js.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(499_162_500); // npm's fixed tarball mtime (1985-10-26)
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(&mut header, path, contents)
            .expect("an in-memory tar entry");
    }
    archive
        .into_inner()
        .and_then(|gzip| gzip.finish())
        .expect("an in-memory tarball")
}

/// The paths clients use for `name`'s packument.
fn packument_paths(name: &str) -> Vec<String> {
    match name.split_once('/') {
        Some((scope, bare)) => ["%2f", "%2F", "/"]
            .iter()
            .map(|slash| format!("/{scope}{slash}{bare}"))
            .collect(),
        None => vec![format!("/{name}")],
    }
}

fn rfc3339(unix_seconds: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix_seconds).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}
