//! The PyPI adapter: simple pages in both forms, generated and raw.
//!
//! Invariant: the HTML (PEP 503) and the JSON (PEP 691) page of the same
//! project yield the same files, hashes and yank marks, so a client gets the
//! same answer whichever form upstream sent; every file a client gets points
//! at gatehouse and was on upstream's page.

use std::collections::HashSet;
use std::fmt::Write as _;

use arbitrary::Unstructured;
use gatehouse_adapter_sdk::{Outcome, Response};
use serde_json::{Value, json};

use crate::fake::{self, FakeHost, PUBLIC};
use crate::{some_of, token_text};

const VERSIONS: &[&str] = &[
    "1.0",
    "1.0.0",
    "1.0-RC1",
    "1.0rc1",
    "2.0.post1",
    "2.0-1",
    "v2",
    "1!1.0",
    "1.0+local",
    "x",
    "1.0.dev0",
    "",
];
const EXTENSIONS: &[&str] = &[
    ".tar.gz",
    "-py3-none-any.whl",
    ".zip",
    "-cp312-abi3.whl",
    ".exe",
];
const NAME_TOKENS: &str = "demo Demo de_mo de.mo other - _ \u{e9} % # ? &";
const TEXTS: &[&str] = &[
    "",
    " ",
    ">=3.8",
    "<4,>=3",
    "bad \"release\" <b>&amp;",
    "\u{e9}",
];

/// One file as upstream lists it.
struct File {
    filename: String,
    /// Relative to the project page.
    href: String,
    sha256: Option<String>,
    requires_python: Option<String>,
    yanked: Option<String>,
    /// `None`: no metadata file; `Some(None)`: one without a hash.
    core_metadata: Option<Option<String>>,
}

fn hex(u: &mut Unstructured<'_>) -> String {
    let bytes = u.bytes(32).unwrap_or(&[0; 32]);
    let mut out: String = bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    });
    out.extend(std::iter::repeat_n('0', 64 - out.len()));
    out
}

fn text(u: &mut Unstructured<'_>) -> String {
    (*u.choose(TEXTS).unwrap_or(&"")).to_owned()
}

impl File {
    fn arbitrary(u: &mut Unstructured<'_>, index: usize) -> File {
        let name = token_text(u, NAME_TOKENS, &["", "-", " "]);
        let version = u.choose(VERSIONS).unwrap_or(&"1.0");
        let extension = u.choose(EXTENSIONS).unwrap_or(&".tar.gz");
        let filename = format!("{name}-{version}{extension}");
        let encoded: String =
            percent_encoding::utf8_percent_encode(&filename, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        File {
            href: format!("../../packages/{index}/{encoded}"),
            filename,
            sha256: u.arbitrary::<bool>().unwrap_or(true).then(|| hex(u)),
            requires_python: u.arbitrary::<bool>().unwrap_or(false).then(|| text(u)),
            yanked: u.ratio(1, 4).unwrap_or(false).then(|| text(u)),
            core_metadata: u
                .ratio(1, 3)
                .unwrap_or(false)
                .then(|| u.arbitrary::<bool>().unwrap_or(true).then(|| hex(u))),
        }
    }
}

/// An attribute value as HTML writes it.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html(files: &[File]) -> String {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"></head><body>\n",
    );
    for file in files {
        let fragment = file
            .sha256
            .as_ref()
            .map(|h| format!("#sha256={h}"))
            .unwrap_or_default();
        let _ = write!(page, "<a href=\"{}{fragment}\"", attribute(&file.href));
        if let Some(spec) = &file.requires_python {
            let _ = write!(page, " data-requires-python=\"{}\"", attribute(spec));
        }
        if let Some(reason) = &file.yanked {
            let _ = write!(page, " data-yanked=\"{}\"", attribute(reason));
        }
        match &file.core_metadata {
            Some(Some(hash)) => {
                let _ = write!(page, " data-core-metadata=\"sha256={hash}\"");
            }
            Some(None) => page.push_str(" data-core-metadata=\"true\""),
            None => {}
        }
        let _ = writeln!(page, ">{}</a><br/>", attribute(&file.filename));
    }
    page.push_str("</body></html>\n");
    page
}

fn json(files: &[File], project: &str) -> String {
    let files: Vec<Value> = files
        .iter()
        .map(|file| {
            let mut entry = json!({
                "filename": file.filename,
                "url": file.href,
                "hashes": file.sha256.as_ref().map(|h| json!({"sha256": h})).unwrap_or(json!({})),
            });
            if let Some(spec) = &file.requires_python {
                entry["requires-python"] = spec.as_str().into();
            }
            entry["yanked"] = match file.yanked.as_deref() {
                None => false.into(),
                Some("") => true.into(),
                Some(reason) => reason.into(),
            };
            match &file.core_metadata {
                Some(Some(hash)) => entry["core-metadata"] = json!({"sha256": hash}),
                Some(None) => entry["core-metadata"] = true.into(),
                None => {}
            }
            entry
        })
        .collect();
    json!({"meta": {"api-version": "1.0"}, "name": project, "files": files}).to_string()
}

/// The page the adapter serves for `demo` in `accept`'s form, from
/// upstream's `body` of `content_type`.
fn serve(
    body: &[u8],
    content_type: &str,
    blocked: &HashSet<String>,
    settings: &str,
    accept: &str,
) -> Option<Response> {
    let mut host = FakeHost::new(blocked.clone());
    host.answer("/demo/", content_type, body.to_vec());
    let request = fake::get("/simple/demo/", &[("accept", accept)]);
    fake::response(pypi::handle(&host, settings, &request))
}

const SETTINGS: &[&str] = &[
    "",
    "{\"blocked_files\":\"hide\"}",
    "{\"blocked_files\":\"yank\"}",
];
const JSON: &str = "application/vnd.pypi.simple.v1+json";

/// Checks one served JSON page against upstream's filenames.
fn served_files(page: &Value, upstream: &HashSet<&str>, hide: bool) {
    for file in page["files"].as_array().expect("a page lists files") {
        let filename = file["filename"].as_str().expect("files have names");
        assert!(upstream.contains(filename), "{filename:?} was not upstream");
        let url = file["url"].as_str().expect("files have URLs");
        assert!(
            url.starts_with(&format!("{PUBLIC}/")),
            "{filename} is served from {url}"
        );
        if hide {
            let yanked = file["yanked"].as_str().unwrap_or_default();
            assert!(
                !yanked.starts_with("blocked by gatehouse"),
                "{filename} hidden but yanked"
            );
        }
    }
}

/// A generated project, sent as HTML and as JSON: clients get the same page.
pub fn pages(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let files: Vec<File> = (0..u.int_in_range(0..=5).unwrap_or(0))
        .map(|i| File::arbitrary(&mut u, i))
        .collect();
    let blocked: HashSet<String> = some_of(&mut u, VERSIONS);
    let settings = *u.choose(SETTINGS).unwrap_or(&"");
    let from_html = html(&files);
    let from_json = json(&files, "demo");
    let upstream: HashSet<&str> = files.iter().map(|f| f.filename.as_str()).collect();
    for accept in [JSON, "text/html"] {
        let a = serve(
            from_html.as_bytes(),
            "text/html",
            &blocked,
            settings,
            accept,
        )
        .expect("a page");
        let b = serve(from_json.as_bytes(), JSON, &blocked, settings, accept).expect("a page");
        assert_eq!(
            a.status,
            200,
            "HTML upstream: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(
            String::from_utf8_lossy(&a.body),
            String::from_utf8_lossy(&b.body),
            "HTML and JSON upstream pages differ for {accept}:\n{from_html}\n{from_json}"
        );
        if accept == JSON {
            let page: Value = serde_json::from_slice(&a.body).expect("a JSON page");
            served_files(&page, &upstream, settings.contains("hide"));
        }
    }
}

/// Raw bytes as upstream's page, in either form, and any request path.
pub fn raw(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let json_upstream = u.arbitrary::<bool>().unwrap_or(false);
    let accept = *u
        .choose(&[
            JSON,
            "text/html",
            "application/vnd.pypi.simple.v1+html",
            "*/*;q=0",
        ])
        .unwrap_or(&JSON);
    let path = u.arbitrary::<&str>().unwrap_or_default();
    let body = u.bytes(u.len()).unwrap_or_default();
    let content_type = if json_upstream { JSON } else { "text/html" };
    let mut host = FakeHost::new(HashSet::from(["1.0".to_owned()]));
    host.answer("/demo/", content_type, body.to_vec());
    host.answer("/", content_type, body.to_vec());
    for path in [
        format!("/{path}"),
        "/simple/demo/".to_owned(),
        "/simple/".to_owned(),
    ] {
        let request = fake::get(&path, &[("accept", accept)]);
        if let Outcome::Respond(response) = pypi::handle(&host, "", &request)
            && response.status == 200
            && accept == JSON
        {
            serde_json::from_slice::<Value>(&response.body).expect("a 200 JSON page is JSON");
        }
    }
}
