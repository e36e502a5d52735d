//! Container images through gatehouse, end to end with the real `skopeo`
//! against the reference distribution registry (Debian's `docker-registry`).
//!
//! Each test starts its own registry on 127.0.0.1 behind a byte-counting
//! relay, fills it with `skopeo copy` from OCI layouts the test writes
//! (a tiny single-layer image), and starts `gatehouse serve` with the OCI
//! adapter and the registry as upstream `up` (`format: oci`), so images are
//! pulled as `127.0.0.1:PORT/up/REPOSITORY:TAG`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::support::{
    Gatehouse, Ran, Setup, deny_list, eventually, gatehouse_command, real_client, run_client,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// skopeo and the registry, or `None` (the test skips; CI fails).
fn tools() -> Option<(PathBuf, PathBuf)> {
    let skopeo = real_client("skopeo", &["--version"], "apt-get install skopeo")?;
    let registry = real_client(
        "docker-registry",
        &["--version"],
        "apt-get install docker-registry",
    )?;
    Some((skopeo, registry))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The reference registry on 127.0.0.1, storing under a temporary directory.
struct Registry {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Registry {
    async fn start(program: &Path) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // A free port, given back for the registry to take.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        let path = dir.path().join("config.yml");
        std::fs::write(&path, config).expect("registry config");
        let child = Command::new(program)
            .arg("serve")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let registry = Registry { child, addr, dir };
        let url = format!("http://{addr}/v2/");
        let up = eventually(Duration::from_secs(60), || async {
            reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(up.is_some(), "the registry did not start on {addr}");
        registry
    }

    /// Where the registry keeps the bytes of blob `hex`.
    fn blob_file(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A listener on 127.0.0.1, its address, and a counter for what it serves.
async fn listen() -> (tokio::net::TcpListener, SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr, Arc::new(AtomicU64::new(0)))
}

/// A TCP relay in front of the registry that counts the bytes sent to it:
/// gatehouse asked upstream nothing while the count stands still.
struct Relay {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Self {
        let (listener, addr, sent) = listen().await;
        let counted = sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let ask = async {
                        let mut buffer = vec![0; 64 << 10];
                        loop {
                            let n =
                                match tokio::io::AsyncReadExt::read(&mut client_read, &mut buffer)
                                    .await
                                {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                            counted.fetch_add(n as u64, Ordering::SeqCst);
                            if tokio::io::AsyncWriteExt::write_all(&mut server_write, &buffer[..n])
                                .await
                                .is_err()
                            {
                                break;
                            }
                        }
                        let _ = tokio::io::AsyncWriteExt::shutdown(&mut server_write).await;
                    };
                    let answer = tokio::io::copy(&mut server_read, &mut client_write);
                    let _ = tokio::join!(ask, answer);
                });
            }
        });
        Relay { addr, sent }
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// The account the token realm accepts.
const ACCOUNT: (&str, &str) = ("puller", "s3cret");

/// A token realm in front of the registry, as private registries have:
/// `/v2/...` answers a bearer challenge unless it carries the token that
/// `/token` hands out for [`ACCOUNT`]; then it is the registry's answer.
struct TokenRealm {
    addr: SocketAddr,
    issued: Arc<AtomicU64>,
}

impl TokenRealm {
    const TOKEN: &str = "token-for-puller";

    async fn start(registry: SocketAddr) -> Self {
        let (listener, addr, issued) = listen().await;
        let counted = issued.clone();
        tokio::spawn(async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<http_body_util::Empty<bytes::Bytes>>();
            while let Ok((stream, _)) = listener.accept().await {
                let (client, counted) = (client.clone(), counted.clone());
                let service = hyper::service::service_fn(move |request| {
                    let (client, counted) = (client.clone(), counted.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            Self::answer(&client, registry, addr, &counted, request).await,
                        )
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        TokenRealm { addr, issued }
    }

    async fn answer(
        client: &hyper_util::client::legacy::Client<
            hyper_util::client::legacy::connect::HttpConnector,
            http_body_util::Empty<bytes::Bytes>,
        >,
        registry: SocketAddr,
        realm: SocketAddr,
        issued: &AtomicU64,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
        use base64::Engine as _;
        let authorization = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let reply = |status: u16, body: String| {
            let mut response = hyper::Response::new(http_body_util::Full::from(body));
            *response.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
            response
        };
        if request.uri().path() == "/token" {
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", ACCOUNT.0, ACCOUNT.1));
            if authorization != format!("Basic {basic}") {
                return reply(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.into());
            }
            issued.fetch_add(1, Ordering::SeqCst);
            return reply(
                200,
                serde_json::json!({"token": Self::TOKEN, "expires_in": 300}).to_string(),
            );
        }
        if authorization != format!("Bearer {}", Self::TOKEN) {
            let mut refused = reply(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.into());
            let challenge = format!(
                r#"Bearer realm="http://{realm}/token",service="test-registry",scope="repository:clean:pull""#
            );
            refused
                .headers_mut()
                .insert("www-authenticate", challenge.parse().expect("header"));
            return refused;
        }
        let target = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let mut forwarded = hyper::Request::builder()
            .uri(format!("http://{registry}{target}"))
            .body(http_body_util::Empty::new())
            .expect("request");
        for (name, value) in request.headers() {
            if name != "authorization" && name != "host" {
                forwarded.headers_mut().append(name, value.clone());
            }
        }
        let answered = client
            .request(forwarded)
            .await
            .expect("the registry answers");
        let (parts, body) = answered.into_parts();
        let body = http_body_util::BodyExt::collect(body)
            .await
            .expect("a body")
            .to_bytes();
        hyper::Response::from_parts(parts, http_body_util::Full::new(body))
    }
}

/// An image as the test wrote it: its manifest and blobs.
struct Image {
    manifest: Vec<u8>,
    config: Vec<u8>,
    layer: Vec<u8>,
}

impl Image {
    /// A single-layer linux/amd64 image holding `files`, created at
    /// `created` (RFC 3339) with `labels`.
    fn new(files: &[(&str, &[u8])], created: &str, labels: serde_json::Value) -> Self {
        Image::for_platform(files, created, labels, "amd64")
    }

    /// [`Image::new`] for linux/`architecture`.
    fn for_platform(
        files: &[(&str, &[u8])],
        created: &str,
        labels: serde_json::Value,
        architecture: &str,
    ) -> Self {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, contents) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(1_700_000_000);
            header.set_cksum();
            tar.append_data(&mut header, path, *contents)
                .expect("tar entry");
        }
        let tar = tar.into_inner().expect("tar");
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gzip, &tar).expect("gzip");
        let layer = gzip.finish().expect("gzip");
        let config = serde_json::json!({
            "created": created,
            "architecture": architecture,
            "os": "linux",
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&tar))]},
            "history": [{"created": created, "created_by": "gatehouse tests"}],
        })
        .to_string()
        .into_bytes();
        let descriptor = |media_type: &str, bytes: &[u8]| {
            serde_json::json!({
                "mediaType": media_type,
                "digest": format!("sha256:{}", sha256_hex(bytes)),
                "size": bytes.len(),
            })
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer)],
        })
        .to_string()
        .into_bytes();
        Image {
            manifest,
            config,
            layer,
        }
    }

    /// A small image with one text file, created in 2024, MIT-licensed.
    fn clean() -> Self {
        Image::new(
            &[("etc/motd", b"hello from a tiny image\n")],
            "2024-01-02T03:04:05Z",
            serde_json::json!({"org.opencontainers.image.licenses": "MIT"}),
        )
    }

    fn blobs(&self) -> [&[u8]; 3] {
        [&self.manifest, &self.config, &self.layer]
    }
}

/// What can be written as an OCI layout and pushed.
trait Pushable {
    /// Every blob, the top document among them.
    fn blobs(&self) -> Vec<&[u8]>;
    /// The top document: its media type and bytes.
    fn top(&self) -> (&'static str, &[u8]);

    /// Writes it as an OCI layout in `dir`, tagged `tag`.
    fn write_layout(&self, dir: &Path, tag: &str) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).expect("layout");
        for blob in self.blobs() {
            std::fs::write(blobs.join(sha256_hex(blob)), blob).expect("blob");
        }
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
        let (media_type, top) = self.top();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": media_type,
                "digest": format!("sha256:{}", sha256_hex(top)),
                "size": top.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        });
        std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
    }
}

impl Pushable for Image {
    fn blobs(&self) -> Vec<&[u8]> {
        Image::blobs(self).to_vec()
    }

    fn top(&self) -> (&'static str, &[u8]) {
        (OCI_MANIFEST, &self.manifest)
    }
}

/// An image index: one image per platform.
struct Index {
    images: Vec<Image>,
    index: Vec<u8>,
}

impl Index {
    /// The index of `images`, each on linux/its architecture.
    fn new(images: Vec<(Image, &str)>) -> Self {
        let manifests: Vec<serde_json::Value> = images
            .iter()
            .map(|(image, architecture)| {
                serde_json::json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": format!("sha256:{}", sha256_hex(&image.manifest)),
                    "size": image.manifest.len(),
                    "platform": {"os": "linux", "architecture": architecture},
                })
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        })
        .to_string()
        .into_bytes();
        Index {
            images: images.into_iter().map(|(image, _)| image).collect(),
            index,
        }
    }
}

impl Pushable for Index {
    fn blobs(&self) -> Vec<&[u8]> {
        let mut blobs: Vec<&[u8]> = self.images.iter().flat_map(Image::blobs).collect();
        blobs.push(&self.index);
        blobs
    }

    fn top(&self) -> (&'static str, &[u8]) {
        ("application/vnd.oci.image.index.v1+json", &self.index)
    }
}

/// skopeo with its own policy (accept anything) and no retries.
struct Skopeo {
    program: PathBuf,
    dir: tempfile::TempDir,
}

impl Skopeo {
    fn new(program: PathBuf) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .expect("policy.json");
        Skopeo { program, dir }
    }

    async fn copy(&self, from: &str, to: &str) -> Ran {
        self.copy_with(&[], from, to).await
    }

    /// `skopeo copy` with `options` (`--all`).
    async fn copy_with(&self, options: &[&str], from: &str, to: &str) -> Ran {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("--policy")
            .arg(self.dir.path().join("policy.json"))
            .args([
                "copy",
                "--retry-times=0",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .args(options)
            .args([from, to])
            .env("REGISTRY_AUTH_FILE", self.dir.path().join("auth.json"))
            .env("HOME", self.dir.path());
        run_client(command, &format!("skopeo copy {from} {to}")).await
    }

    /// Pushes `image` (an image or an index, every platform) to `registry`
    /// as `reference` (`name:tag`).
    async fn push(&self, image: &impl Pushable, registry: &Registry, reference: &str) {
        let layout = self
            .dir
            .path()
            .join(format!("push-{}", reference.replace(':', "-")));
        let tag = reference.split_once(':').map_or("latest", |(_, tag)| tag);
        image.write_layout(&layout, tag);
        let ran = self
            .copy_with(
                &["--all"],
                &format!("oci:{}:{tag}", layout.display()),
                &format!("docker://{}/{reference}", registry.addr),
            )
            .await;
        assert!(ran.success, "pushing {reference} to the registry failed");
    }
}

/// `gatehouse serve` with the OCI adapter in front of `upstream` (named
/// `up`, `format: oci`) and a deny list of `entries`.
fn gatehouse(upstream: SocketAddr, entries: &[&str]) -> Gatehouse {
    gatehouse_with(upstream, vec!["deny-list"], deny_list(entries))
}

/// [`gatehouse`] with `policies` set by `gate_policy`.
fn gatehouse_with(
    upstream: SocketAddr,
    policies: Vec<&'static str>,
    gate_policy: String,
) -> Gatehouse {
    Gatehouse::start(Setup {
        policies,
        adapters: vec!["oci"],
        gate_policy,
        // The entry's second key follows its url.
        upstreams: vec![("up".into(), format!("http://{upstream}\n    format: oci"))],
        extra_config: String::new(),
    })
}

/// A registry filled with the clean image under `tags` of repository
/// `clean`, and skopeo.
struct Scene {
    registry: Registry,
    skopeo: Skopeo,
    image: Image,
    out: tempfile::TempDir,
}

impl Scene {
    /// `None` when the tools are missing (the test skips; CI fails).
    async fn start(tags: &[&str]) -> Option<Self> {
        let (skopeo, registry) = tools()?;
        let scene = Scene {
            registry: Registry::start(&registry).await,
            skopeo: Skopeo::new(skopeo),
            image: Image::clean(),
            out: tempfile::tempdir().expect("tempdir"),
        };
        for tag in tags {
            scene
                .skopeo
                .push(&scene.image, &scene.registry, &format!("clean:{tag}"))
                .await;
        }
        Some(scene)
    }

    /// Pulls `reference` (`repository:tag`) through `gatehouse` into the
    /// layout `name`.
    async fn pull(&self, gatehouse: &Gatehouse, reference: &str, name: &str) -> (Ran, PathBuf) {
        let layout = self.out.path().join(name);
        let tag = reference.split_once(':').map_or("latest", |(_, tag)| tag);
        let ran = self
            .skopeo
            .copy(
                &through(gatehouse, reference),
                &format!("oci:{}:{tag}", layout.display()),
            )
            .await;
        (ran, layout)
    }
}

/// Asserts the pull in `ran` of `what` failed, its output saying each of `said`.
fn assert_refused(ran: &Ran, what: &str, said: &[&str]) {
    assert!(!ran.success, "{what} was pulled");
    for said in said {
        assert!(
            ran.output.contains(said),
            "{said:?} is missing from: {}",
            ran.output
        );
    }
}

/// Where gatehouse serves image `reference` of upstream `up`.
fn through(gatehouse: &Gatehouse, reference: &str) -> String {
    format!(
        "docker://{}/up/{reference}",
        gatehouse.url.trim_start_matches("http://")
    )
}

/// The blob `hex` of the OCI layout in `dir`.
fn layout_blob(dir: &Path, blob: &[u8]) -> Vec<u8> {
    std::fs::read(dir.join("blobs/sha256").join(sha256_hex(blob))).unwrap_or_default()
}

/// skopeo pulls an image through gatehouse byte for byte; a second pull is
/// answered without asking upstream anything. The version check, a push
/// and an unknown upstream are answered as the distribution spec says.
#[tokio::test]
async fn skopeo_pulls_an_image_byte_for_byte_and_again_from_the_cache() {
    let Some(scene) = Scene::start(&["1"]).await else {
        return;
    };
    let relay = Relay::start(scene.registry.addr).await;
    let gatehouse = gatehouse(relay.addr, &[]);

    let check = Gatehouse::client()
        .get(format!("{}/v2/", gatehouse.url))
        .send()
        .await
        .expect("version check");
    assert_eq!(check.status(), 200);
    assert_eq!(
        check.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );

    let (ran, first) = scene.pull(&gatehouse, "clean:1", "first").await;
    assert!(ran.success, "pulling through gatehouse failed");
    for blob in scene.image.blobs() {
        assert_eq!(
            layout_blob(&first, blob),
            blob,
            "a blob differs from upstream's"
        );
    }

    let asked = relay.sent();
    let (ran, second) = scene.pull(&gatehouse, "clean:1", "second").await;
    assert!(ran.success, "the second pull failed");
    assert_eq!(relay.sent(), asked, "the second pull asked upstream");
    assert_eq!(layout_blob(&second, &scene.image.layer), scene.image.layer);

    // HEAD answers a manifest's length, type and digest without its body.
    let head = Gatehouse::client()
        .head(format!("{}/v2/up/clean/manifests/1", gatehouse.url))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], OCI_MANIFEST);
    assert_eq!(
        head.headers()["content-length"],
        scene.image.manifest.len().to_string().as_str()
    );
    assert_eq!(
        head.headers()["docker-content-digest"],
        format!("sha256:{}", sha256_hex(&scene.image.manifest)).as_str()
    );
    for (method, path, status, code) in [
        ("POST", "/v2/up/clean/blobs/uploads/", 405, "UNSUPPORTED"),
        (
            "GET",
            "/v2/elsewhere/clean/manifests/1",
            404,
            "NAME_UNKNOWN",
        ),
    ] {
        let answer = Gatehouse::client()
            .request(
                method.parse().expect("a method"),
                format!("{}{path}", gatehouse.url),
            )
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), status, "{method} {path}");
        let body: serde_json::Value = answer.json().await.expect("JSON");
        assert_eq!(body["errors"][0]["code"], code, "{method} {path}: {body}");
    }
}

/// A deny-listed tag is refused at its manifest with the rule and the
/// reason in skopeo's output; another tag of the repository passes.
#[tokio::test]
async fn a_deny_listed_tag_is_refused_with_rule_and_reason() {
    let Some(scene) = Scene::start(&["1", "2"]).await else {
        return;
    };
    let gatehouse = gatehouse(scene.registry.addr, &["clean@2"]);

    let (ran, _) = scene.pull(&gatehouse, "clean:2", "blocked").await;
    assert!(!ran.success, "a deny-listed tag was pulled");
    assert!(
        ran.output.contains("denied")
            && ran.output.contains("deny-list")
            && ran.output.contains("is on the deny list"),
        "the rule and reason are missing from: {}",
        ran.output
    );

    let (ran, _) = scene.pull(&gatehouse, "clean:1", "allowed").await;
    assert!(ran.success, "another tag of the repository was refused");
}

/// An image's config reaches the policies: its `created` as the publish
/// time (min-age) and its license label (license).
#[tokio::test]
async fn the_image_config_is_judged_by_min_age_and_license() {
    let Some(scene) = Scene::start(&["1"]).await else {
        return;
    };
    let gatehouse = gatehouse_with(
        scene.registry.addr,
        vec!["license", "min-age"],
        "policies:\n  default:\n    license:\n      deny: [MIT]\n    min-age:\n      min_age: 36500d\n"
            .into(),
    );
    let (ran, _) = scene.pull(&gatehouse, "clean:1", "judged").await;
    assert_refused(
        &ran,
        "an image both policies block",
        &["license", "MIT", "min-age", "2024-01-02T03:04:05Z"],
    );
}

/// A Debian 12 image whose dpkg database names an openssl build that a
/// local OSV record marks vulnerable.
fn vulnerable_image() -> Image {
    vulnerable_on("amd64")
}

/// [`vulnerable_image`] on linux/`architecture`.
fn vulnerable_on(architecture: &str) -> Image {
    Image::for_platform(
        &[
            ("etc/os-release", b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
            (
                "var/lib/dpkg/status",
                b"Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u1)\nVersion: 3.0.11-1~deb12u1+b1\n\nPackage: base-files\nStatus: install ok installed\nVersion: 12.4\n",
            ),
        ],
        "2024-01-02T03:04:05Z",
        serde_json::json!({}),
        architecture,
    )
}

/// The OSV record: critical, for exactly that openssl version in Debian 12.
const DEBIAN_RECORD: &str = r#"{"id": "DEBIAN-CVE-2099-0001", "modified": "2025-01-01T00:00:00Z",
    "summary": "a critical flaw in openssl",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
      "versions": ["3.0.11-1~deb12u1"]}]}"#;

/// gatehouse with the vulnerability policy (in `mode`), the OSV record
/// imported, in front of `upstream`.
fn vulnerability_gatehouse(upstream: SocketAddr, mode: &str) -> Gatehouse {
    let setup = Setup {
        policies: vec!["vulnerability"],
        adapters: vec!["oci"],
        gate_policy: format!("policies:\n  default:\n    vulnerability:\n      mode: {mode}\n"),
        upstreams: vec![("up".into(), format!("http://{upstream}\n    format: oci"))],
        extra_config: String::new(),
    };
    Gatehouse::start_prepared(setup, |layout| {
        let record = layout.join("DEBIAN-CVE-2099-0001.json");
        std::fs::write(&record, DEBIAN_RECORD).expect("record");
        let import = gatehouse_command(layout, &["osv", "import", record.to_str().expect("utf-8")]);
        assert!(
            import.status.success(),
            "{}",
            String::from_utf8_lossy(&import.stderr)
        );
    })
}

/// An image is judged on the OS packages the host reads out of its layers:
/// one with a vulnerable Debian package is refused at the manifest with the
/// rule, the advisory and the package in skopeo's output, while a clean
/// image passes; with `mode: warn` it passes and the audit names it.
#[tokio::test]
async fn an_image_with_a_vulnerable_os_package_is_refused() {
    let Some(scene) = Scene::start(&["1"]).await else {
        return;
    };
    scene
        .skopeo
        .push(&vulnerable_image(), &scene.registry, "vulnerable:1")
        .await;

    let enforcing = vulnerability_gatehouse(scene.registry.addr, "enforce");
    let (ran, _) = scene.pull(&enforcing, "vulnerable:1", "refused").await;
    assert_refused(
        &ran,
        "an image with a vulnerable package",
        &["denied", "vulnerability", "DEBIAN-CVE-2099-0001", "openssl"],
    );
    let (ran, _) = scene.pull(&enforcing, "clean:1", "clean").await;
    assert!(ran.success, "a clean image was refused");
    drop(enforcing);

    let warning = vulnerability_gatehouse(scene.registry.addr, "warn");
    let (ran, _) = scene.pull(&warning, "vulnerable:1", "warned").await;
    assert!(ran.success, "mode: warn refused the image");
    let warned = warning.audited("vulnerable", "warn").await;
    assert!(
        warned
            .iter()
            .any(|r| r["reason"].as_str().is_some_and(|r| r.contains("openssl"))),
        "no warning names the package: {warned:?}"
    );
}

/// `podman {args}` with a storage of its own (vfs, under `scene`'s output)
/// and its own credentials file, blind to the user's configuration.
fn podman(podman: &Path, scene: &Scene, args: &[&str]) -> tokio::process::Command {
    let dir = scene.out.path().join("podman");
    let authfile = dir.join("auth.json");
    if !authfile.exists() {
        std::fs::create_dir_all(&dir).expect("podman's directory");
        std::fs::write(&authfile, r#"{"auths": {}}"#).expect("auth.json");
    }
    let mut command = tokio::process::Command::new(podman);
    command
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--events-backend",
            "file",
            "--cgroup-manager",
            "cgroupfs",
        ])
        .args(args)
        .arg("--tls-verify=false")
        .arg("--authfile")
        .arg(authfile)
        .env("HOME", &dir);
    command
}

/// `podman pull` of `reference` through `gatehouse` (see [`podman`]).
async fn podman_pull(program: &Path, scene: &Scene, gatehouse: &Gatehouse, reference: &str) -> Ran {
    let mut command = podman(program, scene, &["pull"]);
    command
        .arg("--signature-policy")
        .arg(scene.skopeo.dir.path().join("policy.json"))
        .arg(through(gatehouse, reference).trim_start_matches("docker://"));
    run_client(command, &format!("podman pull {reference}")).await
}

/// With client authentication on, `podman login` with a client token lets
/// podman pull; without it, the pull is refused saying so.
#[tokio::test]
async fn podman_logs_in_with_a_client_token() {
    let Some(program) = real_client("podman", &["--version"], "apt-get install podman") else {
        return;
    };
    let Some(scene) = Scene::start(&["1"]).await else {
        return;
    };
    let token = "podman-client-token";
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        adapters: vec!["oci"],
        gate_policy: deny_list(&[]),
        upstreams: vec![(
            "up".into(),
            format!("http://{}\n    format: oci", scene.registry.addr),
        )],
        extra_config: format!(
            "clients:\n  required: true\n  tokens:\n    - name: builder\n      sha256: {}\n",
            gatehouse::auth::hash_token(token)
        ),
    });
    let host = gatehouse.url.trim_start_matches("http://").to_owned();

    let ran = podman_pull(&program, &scene, &gatehouse, "clean:1").await;
    assert_refused(
        &ran,
        "an image without credentials",
        &["authentication required"],
    );

    let mut login = podman(
        &program,
        &scene,
        &["login", "--username", "builder", "--password", token],
    );
    login.arg(&host);
    let ran = run_client(login, "podman login").await;
    assert!(ran.success, "podman login with a client token failed");
    let ran = podman_pull(&program, &scene, &gatehouse, "clean:1").await;
    assert!(ran.success, "podman pull after login failed");
}

/// podman pulls an image through gatehouse, and prints a block's rule and
/// reason.
#[tokio::test]
async fn podman_pulls_through_gatehouse_and_prints_a_block() {
    let Some(podman) = real_client("podman", &["--version"], "apt-get install podman") else {
        return;
    };
    let Some(scene) = Scene::start(&["1", "2"]).await else {
        return;
    };
    let gatehouse = gatehouse(scene.registry.addr, &["clean@2"]);

    let ran = podman_pull(&podman, &scene, &gatehouse, "clean:1").await;
    assert!(ran.success, "podman pull through gatehouse failed");
    assert!(
        ran.output.contains(&sha256_hex(&scene.image.config)),
        "podman did not name the image's config digest: {}",
        ran.output
    );
    let ran = podman_pull(&podman, &scene, &gatehouse, "clean:2").await;
    assert!(!ran.success, "podman pulled a deny-listed tag");
    assert!(
        ran.output.contains("deny-list") && ran.output.contains("is on the deny list"),
        "the rule and reason are missing from: {}",
        ran.output
    );
}

/// gatehouse in front of `realm`, whose upstream entry names the account
/// `user` with `password` (in a file beside the config).
fn gatehouse_behind_realm(realm: &TokenRealm, user: &str, password: &str) -> Gatehouse {
    let setup = Setup {
        policies: vec!["deny-list"],
        adapters: vec!["oci"],
        gate_policy: deny_list(&[]),
        upstreams: vec![(
            "up".into(),
            format!(
                "http://{}\n    format: oci\n    credentials: {{username: {user}, password_file: registry-password}}",
                realm.addr
            ),
        )],
        extra_config: String::new(),
    };
    let password = password.to_owned();
    Gatehouse::start_prepared(setup, move |layout| {
        std::fs::write(layout.join("registry-password"), format!("{password}\n"))
            .expect("password file");
    })
}

/// An upstream behind a bearer-token realm is pulled with a token got with
/// the configured credentials; wrong credentials give a 502 that says so.
#[tokio::test]
async fn an_upstream_behind_a_token_realm_is_pulled_with_its_credentials() {
    let Some(scene) = Scene::start(&["1"]).await else {
        return;
    };
    let realm = TokenRealm::start(scene.registry.addr).await;

    let gatehouse = gatehouse_behind_realm(&realm, ACCOUNT.0, ACCOUNT.1);
    let (ran, pulled) = scene.pull(&gatehouse, "clean:1", "authorised").await;
    assert!(ran.success, "pulling through the token realm failed");
    assert_eq!(layout_blob(&pulled, &scene.image.layer), scene.image.layer);
    assert!(realm.issued.load(Ordering::SeqCst) >= 1, "no token was got");
    drop(gatehouse);

    let wrong = gatehouse_behind_realm(&realm, ACCOUNT.0, "wrong");
    let answer = Gatehouse::client()
        .get(format!("{}/v2/up/clean/manifests/1", wrong.url))
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 502);
    let body: serde_json::Value = answer.json().await.expect("JSON");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("token service refused the credentials configured"),
        "{body}"
    );
}

/// A tag moved upstream to a denied digest is judged again once its copy
/// is older than the upstream's TTL: the next pull is refused.
#[tokio::test]
async fn a_tag_moved_to_a_denied_digest_is_refused_on_the_next_pull() {
    let Some(scene) = Scene::start(&["1"]).await else {
        return;
    };
    let moved = vulnerable_image();
    let denied = format!("clean@sha256:{}", sha256_hex(&moved.manifest));
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        adapters: vec!["oci"],
        gate_policy: deny_list(&[&denied]),
        upstreams: vec![(
            "up".into(),
            format!(
                "http://{}\n    format: oci\n    ttl: 1s",
                scene.registry.addr
            ),
        )],
        extra_config: String::new(),
    });
    let (ran, _) = scene.pull(&gatehouse, "clean:1", "before").await;
    assert!(ran.success, "the tag was refused before it moved");

    scene.skopeo.push(&moved, &scene.registry, "clean:1").await;
    // Past the TTL, the tag's manifest is revalidated upstream.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (ran, _) = scene.pull(&gatehouse, "clean:1", "after").await;
    assert!(!ran.success, "the moved tag was pulled");
    assert!(
        ran.output.contains("deny-list") && ran.output.contains(&denied),
        "the rule and the digest are missing from: {}",
        ran.output
    );
}

/// Every platform of an index is judged: an index whose arm64 image has a
/// vulnerable OS package is refused, even to a client that wants amd64; an
/// index of clean images passes.
#[tokio::test]
async fn an_index_is_refused_when_any_platform_is() {
    let Some(scene) = Scene::start(&[]).await else {
        return;
    };
    let mixed = Index::new(vec![
        (Image::clean(), "amd64"),
        (vulnerable_on("arm64"), "arm64"),
    ]);
    let clean = Index::new(vec![
        (Image::clean(), "amd64"),
        (
            Image::for_platform(
                &[("etc/motd", b"arm")],
                "2024-01-02T03:04:05Z",
                serde_json::json!({}),
                "arm64",
            ),
            "arm64",
        ),
    ]);
    scene.skopeo.push(&mixed, &scene.registry, "multi:1").await;
    scene.skopeo.push(&clean, &scene.registry, "multi:2").await;
    let gatehouse = vulnerability_gatehouse(scene.registry.addr, "enforce");

    let (ran, _) = scene.pull(&gatehouse, "multi:1", "mixed").await;
    assert_refused(
        &ran,
        "an index with a vulnerable platform",
        &["denied", "DEBIAN-CVE-2099-0001", "openssl"],
    );
    let (ran, pulled) = scene.pull(&gatehouse, "multi:2", "clean").await;
    assert!(ran.success, "an index of clean images was refused");
    assert_eq!(
        layout_blob(&pulled, &clean.images[0].layer),
        clean.images[0].layer
    );
}

/// Bytes changed upstream behind a blob's digest are refused, and nothing
/// of them is kept: the pull fails at the manifest (whose layers are read),
/// the blob itself is refused, and the audit log names the mismatch.
#[tokio::test]
async fn a_tampered_blob_is_refused_and_not_cached() {
    let Some(scene) = Scene::start(&["1"]).await else {
        return;
    };
    let layer = sha256_hex(&scene.image.layer);
    let mut tampered = scene.image.layer.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    std::fs::write(scene.registry.blob_file(&layer), &tampered).expect("tamper");
    let gatehouse = gatehouse(scene.registry.addr, &[]);

    // The manifest is refused: its layers are read for OS packages.
    let (ran, _) = scene.pull(&gatehouse, "clean:1", "tampered").await;
    assert!(!ran.success, "a tampered layer was served");
    assert!(ran.output.contains("502"), "no 502 in: {}", ran.output);
    // So is the blob itself; the audit log names the mismatch.
    let blob = Gatehouse::client()
        .get(format!(
            "{}/v2/up/clean/blobs/sha256:{layer}",
            gatehouse.url
        ))
        .send()
        .await
        .expect("an answer");
    assert_eq!(blob.status(), 502);
    let refused = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?package=clean&event=artifact-refused")
        .await;
    let reason = refused["records"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("sha256 mismatch"), "{refused}");
    let stored = gatehouse
        .path("artifacts/sha256")
        .join(&layer[..2])
        .join(&layer);
    assert!(!stored.exists(), "the tampered layer was stored");
}
