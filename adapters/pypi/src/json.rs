//! The simple API's JSON form (PEP 691, with PEP 700 and PEP 714 fields).

use serde::{Deserialize, Serialize};
use url::Url;

use crate::page::{API_VERSION, DistFile, Hashes, ProjectPage, check_api_version};

#[derive(Deserialize, Serialize)]
struct Meta<'a> {
    #[serde(rename = "api-version", borrow)]
    api_version: &'a str,
}

#[derive(Deserialize)]
struct WirePage<'a> {
    #[serde(borrow)]
    meta: Meta<'a>,
    files: Vec<WireFile>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct WireFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: Hashes,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<Yanked<String>>,
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<CoreMetadata<Hashes>>,
    /// The key PEP 714 renamed, and the misspelling one index shipped.
    #[serde(
        rename = "dist-info-metadata",
        alias = "data-dist-info-metadata",
        default
    )]
    dist_info_metadata: Option<CoreMetadata<Hashes>>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
}

/// PEP 592's `yanked`: a flag or a reason (owned when read, borrowed when written).
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum Yanked<S> {
    Flag(bool),
    Reason(S),
}

/// PEP 714's `core-metadata`: a flag or the file's hashes.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum CoreMetadata<H> {
    Flag(bool),
    Hashes(H),
}

impl CoreMetadata<Hashes> {
    fn into_hashes(self) -> Option<Hashes> {
        match self {
            CoreMetadata::Flag(available) => available.then(Hashes::new),
            CoreMetadata::Hashes(hashes) => Some(lower_case(hashes)),
        }
    }
}

fn lower_case(hashes: Hashes) -> Hashes {
    hashes
        .into_iter()
        .map(|(name, hex)| (name.to_ascii_lowercase(), hex.to_ascii_lowercase()))
        .collect()
}

/// Reads a project page; relative file URLs resolve against `page_url`.
pub fn parse_project(body: &[u8], page_url: &Url, name: &str) -> Result<ProjectPage, String> {
    let wire: WirePage =
        serde_json::from_slice(body).map_err(|e| format!("unreadable JSON project page: {e}"))?;
    check_api_version(wire.meta.api_version)?;
    let mut files = Vec::with_capacity(wire.files.len());
    for file in wire.files {
        let Ok(mut url) = page_url.join(&file.url) else {
            continue;
        };
        url.set_fragment(None);
        files.push(DistFile {
            filename: file.filename,
            url: url.into(),
            hashes: lower_case(file.hashes),
            // Blank says nothing, as in the HTML form.
            requires_python: file.requires_python.filter(|spec| !spec.trim().is_empty()),
            yanked: match file.yanked {
                None | Some(Yanked::Flag(false)) => None,
                Some(Yanked::Flag(true)) => Some(String::new()),
                Some(Yanked::Reason(reason)) => Some(reason),
            },
            core_metadata: file
                .core_metadata
                .or(file.dist_info_metadata)
                .and_then(CoreMetadata::into_hashes),
            size: file.size,
            upload_time: file.upload_time,
        });
    }
    Ok(ProjectPage {
        name: name.into(),
        files,
        versions: wire.versions,
    })
}

#[derive(Serialize)]
struct OutPage<'a> {
    meta: Meta<'a>,
    name: &'a str,
    files: Vec<OutFile<'a>>,
    versions: &'a [String],
}

#[derive(Serialize)]
struct OutFile<'a> {
    filename: &'a str,
    url: &'a str,
    hashes: &'a Hashes,
    #[serde(rename = "requires-python", skip_serializing_if = "Option::is_none")]
    requires_python: Option<&'a str>,
    yanked: Yanked<&'a str>,
    #[serde(rename = "core-metadata", skip_serializing_if = "Option::is_none")]
    core_metadata: Option<CoreMetadata<&'a Hashes>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(rename = "upload-time", skip_serializing_if = "Option::is_none")]
    upload_time: Option<&'a str>,
}

#[derive(Serialize)]
struct OutRelease<'a> {
    name: &'a str,
    version: &'a str,
    files: Vec<OutFile<'a>>,
}

/// One release as a JSON document: its name, version and files as PEP 691
/// writes them.
pub fn release_document(project: &str, version: &str, files: &[&DistFile]) -> String {
    let release = OutRelease {
        name: project,
        version,
        files: files.iter().map(|file| out_file(file)).collect(),
    };
    serde_json::to_string(&release).expect("a release serialises")
}

fn out_file(file: &DistFile) -> OutFile<'_> {
    OutFile {
        filename: &file.filename,
        url: &file.url,
        hashes: &file.hashes,
        requires_python: file.requires_python.as_deref(),
        yanked: match &file.yanked {
            None => Yanked::Flag(false),
            Some(reason) if reason.is_empty() => Yanked::Flag(true),
            Some(reason) => Yanked::Reason(reason),
        },
        core_metadata: file.core_metadata.as_ref().map(|hashes| {
            if hashes.is_empty() {
                CoreMetadata::Flag(true)
            } else {
                CoreMetadata::Hashes(hashes)
            }
        }),
        size: file.size,
        upload_time: file.upload_time.as_deref(),
    }
}

/// Writes a project page.
///
/// API version 1.1 promises every file's `size`; a page built from an HTML
/// upstream does not know them and says 1.0.
pub fn render_project(page: &ProjectPage) -> String {
    let api_version = if page.files.iter().all(|file| file.size.is_some()) {
        API_VERSION
    } else {
        "1.0"
    };
    let out = OutPage {
        meta: Meta { api_version },
        name: &page.name,
        files: page.files.iter().map(out_file).collect(),
        versions: &page.versions,
    };
    serde_json::to_string(&out).expect("a page serialises")
}

#[derive(Deserialize)]
struct WireList<'a> {
    #[serde(borrow)]
    meta: Meta<'a>,
    projects: Vec<WireProject>,
}

#[derive(Deserialize)]
struct WireProject {
    name: String,
}

/// Reads the list of every project's name.
pub fn parse_project_list(body: &[u8]) -> Result<Vec<String>, String> {
    let wire: WireList =
        serde_json::from_slice(body).map_err(|e| format!("unreadable JSON project list: {e}"))?;
    check_api_version(wire.meta.api_version)?;
    Ok(wire.projects.into_iter().map(|p| p.name).collect())
}

/// Writes the list of every project.
pub fn render_project_list(names: &[String]) -> String {
    serde_json::json!({
        "meta": { "api-version": API_VERSION },
        "projects": names.iter().map(|name| serde_json::json!({ "name": name })).collect::<Vec<_>>(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SHA_M: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn page_url() -> Url {
        Url::parse("http://127.0.0.1:3141/simple/demo-pkg/").unwrap()
    }

    fn realistic_page() -> String {
        serde_json::json!({
            "meta": {"api-version": "1.3", "_last-serial": 7},
            "name": "demo-pkg",
            "project-status": {"status": "active"},
            "files": [
                {
                    "filename": "demo_pkg-1.0-py3-none-any.whl",
                    "url": "../../files/demo_pkg-1.0-py3-none-any.whl#ignored",
                    "hashes": {"sha256": SHA_A.to_uppercase(), "blake2b_256": "ff"},
                    "requires-python": ">=3.8",
                    "core-metadata": {"sha256": SHA_M},
                    "dist-info-metadata": {"sha256": SHA_M},
                    "gpg-sig": false,
                    "yanked": false,
                    "size": 1234,
                    "upload-time": "2024-05-06T07:08:09.123456Z",
                    "provenance": null
                },
                {
                    "filename": "demo-pkg-1.0.tar.gz",
                    "url": "http://127.0.0.1:3142/demo-pkg-1.0.tar.gz",
                    "hashes": {"sha256": SHA_A},
                    "requires-python": null,
                    "data-dist-info-metadata": true,
                    "yanked": "broken build",
                    "size": 999
                },
                {
                    "filename": "demo_pkg-0.9-py3-none-any.whl",
                    "url": "/files/demo_pkg-0.9-py3-none-any.whl",
                    "hashes": {},
                    "yanked": true,
                    "core-metadata": false
                }
            ],
            "versions": ["0.9", "1.0", "1.1"]
        })
        .to_string()
    }

    #[test]
    fn parses_a_realistic_page() {
        let page = parse_project(realistic_page().as_bytes(), &page_url(), "demo-pkg").unwrap();
        assert_eq!(page.name, "demo-pkg");
        assert_eq!(page.versions, ["0.9", "1.0", "1.1"]);
        let [wheel, sdist, old] = &page.files[..] else {
            panic!("three files");
        };
        assert_eq!(
            wheel.url,
            "http://127.0.0.1:3141/files/demo_pkg-1.0-py3-none-any.whl"
        );
        assert_eq!(wheel.hashes["sha256"], SHA_A);
        assert_eq!(wheel.hashes["blake2b_256"], "ff");
        assert_eq!(wheel.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(
            wheel.core_metadata,
            Some(Hashes::from([("sha256".into(), SHA_M.into())]))
        );
        assert_eq!(wheel.yanked, None);
        assert_eq!(wheel.size, Some(1234));
        assert_eq!(wheel.uploaded_at(), Some(1_714_979_289));

        assert_eq!(sdist.url, "http://127.0.0.1:3142/demo-pkg-1.0.tar.gz");
        assert_eq!(sdist.requires_python, None);
        assert_eq!(sdist.core_metadata, Some(Hashes::new()));
        assert_eq!(sdist.yanked.as_deref(), Some("broken build"));
        assert_eq!(sdist.upload_time, None);

        assert_eq!(
            old.url,
            "http://127.0.0.1:3141/files/demo_pkg-0.9-py3-none-any.whl"
        );
        assert_eq!(old.yanked.as_deref(), Some(""));
        assert_eq!(old.core_metadata, None);
        assert_eq!(old.size, None);
    }

    /// Found by the `pypi_pages` fuzz target: a blank `requires-python` was
    /// passed on from a JSON page and dropped from the same HTML page.
    #[test]
    fn a_blank_requires_python_says_nothing() {
        let page = serde_json::json!({
            "meta": {"api-version": "1.0"},
            "files": [{"filename": "demo-1.0.tar.gz", "url": "demo-1.0.tar.gz", "requires-python": " "}],
        });
        let page = parse_project(page.to_string().as_bytes(), &page_url(), "demo").unwrap();
        assert_eq!(page.files[0].requires_python, None);
    }

    #[test]
    fn refuses_bad_documents() {
        let url = page_url();
        assert!(parse_project(b"not json", &url, "x").is_err());
        assert!(parse_project(br#"{"meta":{"api-version":"2.0"},"files":[]}"#, &url, "x").is_err());
        assert!(parse_project(br#"{"files":[]}"#, &url, "x").is_err());
    }

    #[test]
    fn renders_what_it_reads() {
        let page = parse_project(realistic_page().as_bytes(), &page_url(), "demo-pkg").unwrap();
        let rendered: serde_json::Value = serde_json::from_str(&render_project(&page)).unwrap();
        // The 0.9 wheel has no size, so the page cannot promise API 1.1.
        assert_eq!(rendered["meta"]["api-version"], "1.0");
        assert_eq!(
            rendered["versions"],
            serde_json::json!(["0.9", "1.0", "1.1"])
        );
        let files = rendered["files"].as_array().unwrap();
        assert_eq!(
            files[0]["core-metadata"],
            serde_json::json!({"sha256": SHA_M})
        );
        assert_eq!(files[0]["upload-time"], "2024-05-06T07:08:09.123456Z");
        assert_eq!(files[0]["size"], 1234);
        assert_eq!(files[0]["yanked"], false);
        assert!(files[0].get("dist-info-metadata").is_none());
        assert_eq!(files[1]["core-metadata"], true);
        assert_eq!(files[1]["yanked"], "broken build");
        assert!(files[1].get("requires-python").is_none());
        assert_eq!(files[2]["yanked"], true);

        let back =
            parse_project(render_project(&page).as_bytes(), &page_url(), "demo-pkg").unwrap();
        assert_eq!(back, page);
    }

    #[test]
    fn promises_api_1_1_when_every_size_is_known() {
        let mut page = parse_project(realistic_page().as_bytes(), &page_url(), "demo-pkg").unwrap();
        page.files.pop();
        let rendered: serde_json::Value = serde_json::from_str(&render_project(&page)).unwrap();
        assert_eq!(rendered["meta"]["api-version"], "1.1");
    }

    #[test]
    fn project_lists_round_trip() {
        let body = br#"{"meta":{"api-version":"1.0"},"projects":[{"name":"Frob"},{"name":"six"}]}"#;
        let names = parse_project_list(body).unwrap();
        assert_eq!(names, ["Frob", "six"]);
        assert_eq!(
            parse_project_list(render_project_list(&names).as_bytes()).unwrap(),
            names
        );
    }
}
