//! The simple API's HTML form (PEP 503, with PEP 592 and PEP 658/714
//! attributes), read with a WHATWG tokenizer so entities, odd quoting and
//! `<base href>` are handled as browsers and pip handle them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use html5gum::{DefaultEmitter, Token, Tokenizer};
use percent_encoding::percent_decode_str;
use url::Url;

use crate::name;
use crate::page::{API_VERSION, DistFile, Hashes, ProjectPage, check_api_version, parse_hash};

/// An `<a>` element: its attributes (names lower case, entities decoded) and text.
struct Anchor {
    attributes: BTreeMap<String, String>,
    text: String,
}

/// What the HTML forms carry: anchors and the base to resolve them against.
struct Document {
    base: Url,
    anchors: Vec<Anchor>,
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scan(body: &[u8], page_url: &Url) -> Result<Document, String> {
    let body = String::from_utf8_lossy(body);
    let mut emitter = DefaultEmitter::default();
    // Keeps `<script>` and `<style>` contents from being read as markup.
    emitter.naively_switch_states(true);
    let mut base: Option<Url> = None;
    let mut anchors = Vec::new();
    let mut open: Option<Anchor> = None;
    for token in Tokenizer::new_with_emitter(body.as_ref(), emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let attributes: BTreeMap<String, String> = tag
                    .attributes
                    .iter()
                    .map(|(key, value)| (text_of(key), text_of(value)))
                    .collect();
                match tag.name.as_slice() {
                    b"a" => {
                        anchors.extend(open.take());
                        open = Some(Anchor {
                            attributes,
                            text: String::new(),
                        });
                    }
                    b"base" if base.is_none() => {
                        base = attributes.get("href").and_then(|h| page_url.join(h).ok());
                    }
                    b"meta"
                        if attributes.get("name").map(String::as_str)
                            == Some("pypi:repository-version") =>
                    {
                        if let Some(version) = attributes.get("content") {
                            check_api_version(version)?;
                        }
                    }
                    _ => {}
                }
            }
            Token::String(text) => {
                if let Some(anchor) = open.as_mut() {
                    anchor.text.push_str(&text_of(&text));
                }
            }
            Token::EndTag(tag) if tag.name.as_slice() == b"a" => anchors.extend(open.take()),
            _ => {}
        }
    }
    anchors.extend(open);
    Ok(Document {
        base: base.unwrap_or_else(|| page_url.clone()),
        anchors,
    })
}

/// Reads a project page; relative links resolve against `<base href>` or `page_url`.
pub fn parse_project(body: &[u8], page_url: &Url, name: &str) -> Result<ProjectPage, String> {
    let document = scan(body, page_url)?;
    Ok(ProjectPage {
        name: name.into(),
        files: document
            .anchors
            .iter()
            .filter_map(|anchor| dist_file(anchor, &document.base))
            .collect(),
        versions: Vec::new(),
    })
}

fn dist_file(anchor: &Anchor, base: &Url) -> Option<DistFile> {
    let attribute = |key: &str| anchor.attributes.get(key);
    let mut url = base.join(attribute("href")?.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let hashes: Hashes = url.fragment().and_then(parse_hash).into_iter().collect();
    url.set_fragment(None);
    // Installers name a file by its URL, not by the anchor's text.
    let last_segment = url.path_segments()?.next_back()?;
    let filename = percent_decode_str(last_segment).decode_utf8().ok()?;
    if filename.is_empty() {
        return None;
    }
    Some(DistFile {
        filename: filename.into_owned(),
        hashes,
        requires_python: attribute("data-requires-python")
            .filter(|spec| !spec.trim().is_empty())
            .cloned(),
        yanked: attribute("data-yanked").cloned(),
        core_metadata: attribute("data-core-metadata")
            .or_else(|| attribute("data-dist-info-metadata"))
            .and_then(|value| core_metadata(value)),
        size: None,
        upload_time: None,
        url: url.into(),
    })
}

/// `true` or `name=hex`; anything else (including `false`) means none.
fn core_metadata(value: &str) -> Option<Hashes> {
    if value.trim().eq_ignore_ascii_case("true") {
        return Some(Hashes::new());
    }
    parse_hash(value.trim()).map(|hash| Hashes::from([hash]))
}

/// Reads the list of every project's name (the anchors' text).
pub fn parse_project_list(body: &[u8]) -> Result<Vec<String>, String> {
    // Relative links are irrelevant here; any base will do.
    let base = Url::parse("http://index.invalid/").expect("a valid URL");
    Ok(scan(body, &base)?
        .anchors
        .into_iter()
        .map(|anchor| anchor.text.trim().to_owned())
        .filter(|name| name::is_valid(name))
        .collect())
}

/// Escapes text for an HTML attribute value or element content.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// The one hash a link or attribute can carry: sha256 when declared.
fn preferred_hash(hashes: &Hashes) -> Option<(&String, &String)> {
    ["sha256", "sha512"]
        .into_iter()
        .find_map(|name| hashes.get_key_value(name))
        .or_else(|| hashes.iter().next())
}

fn document(title: &str, links: &str) -> String {
    let title = escape(title);
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    \
         <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    \
         <title>{title}</title>\n  </head>\n  <body>\n    \
         <h1>{title}</h1>\n{links}  </body>\n</html>\n"
    )
}

/// Writes a project page.
pub fn render_project(page: &ProjectPage) -> String {
    let mut links = String::new();
    for file in &page.files {
        let mut href = file.url.clone();
        if let Some((name, hex)) = preferred_hash(&file.hashes) {
            let _ = write!(href, "#{name}={hex}");
        }
        let _ = write!(links, "    <a href=\"{}\"", escape(&href));
        if let Some(spec) = &file.requires_python {
            let _ = write!(links, " data-requires-python=\"{}\"", escape(spec));
        }
        if let Some(hashes) = &file.core_metadata {
            let value = preferred_hash(hashes)
                .map_or_else(|| "true".to_owned(), |(name, hex)| format!("{name}={hex}"));
            // PEP 714's name, and the legacy one older pip reads.
            let _ = write!(
                links,
                " data-core-metadata=\"{value}\" data-dist-info-metadata=\"{value}\""
            );
        }
        if let Some(reason) = &file.yanked {
            let _ = write!(links, " data-yanked=\"{}\"", escape(reason));
        }
        let _ = writeln!(links, ">{}</a><br>", escape(&file.filename));
    }
    document(&format!("Links for {}", page.name), &links)
}

/// Writes the list of every project, linking to `{normalised}/`.
pub fn render_project_list(names: &[String]) -> String {
    let mut links = String::new();
    for project in names {
        let _ = writeln!(
            links,
            "    <a href=\"{}/\">{}</a><br>",
            name::normalise(project),
            escape(project)
        );
    }
    document("Simple index", &links)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SHA_M: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn page_url() -> Url {
        Url::parse("http://127.0.0.1:3141/root/pypi/+simple/demo-pkg/").unwrap()
    }

    fn realistic_page() -> String {
        format!(
            r#"<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.1">
    <title>Links for demo-pkg</title>
    <script>var s = '<a href="/evil-9.0.tar.gz">x</a>';</script>
  </head>
  <body>
    <h1>Links for demo-pkg</h1>
    <a href="../../+f/abc/demo_pkg-1.0-py3-none-any.whl#sha256={SHA_A}" data-requires-python="&gt;=3.8,&lt;4" data-core-metadata="sha256={SHA_M}">demo_pkg-1.0-py3-none-any.whl</a><br/>
    <a href="http://files.127.0.0.1.nip.invalid/demo-pkg-1.0.tar.gz#sha256={SHA_A}" data-dist-info-metadata="true" data-requires-python='>=3.8'>demo-pkg-1.0.tar.gz</a><br/>
    <a href="/packages/demo_pkg-0.9-py3-none-any.whl#md5=d41d8cd98f00b204e9800998ecf8427e" data-yanked>demo_pkg-0.9-py3-none-any.whl</a>
    <A HREF="demo_pkg-0.8.tar.gz#sha256={SHA_A}" data-yanked="broken &amp; unsafe &quot;build&quot;">demo_pkg-0.8.tar.gz</A>
    <a href="demo%2Bpkg-0.7.zip">demo+pkg-0.7.zip</a>
    <a name="no-href">not a file</a>
    <a href="javascript:alert(1)">x.tar.gz</a>
  </body>
</html>"#
        )
    }

    #[test]
    fn parses_a_realistic_page() {
        let page = parse_project(realistic_page().as_bytes(), &page_url(), "demo-pkg").unwrap();
        let names: Vec<&str> = page.files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "demo_pkg-1.0-py3-none-any.whl",
                "demo-pkg-1.0.tar.gz",
                "demo_pkg-0.9-py3-none-any.whl",
                "demo_pkg-0.8.tar.gz",
                "demo+pkg-0.7.zip",
            ]
        );
        let [wheel, sdist, yanked, yanked_with_reason, encoded] = &page.files[..] else {
            panic!("five files");
        };

        // Relative hrefs resolve against the page; fragments become hashes.
        assert_eq!(
            wheel.url,
            "http://127.0.0.1:3141/root/pypi/+f/abc/demo_pkg-1.0-py3-none-any.whl"
        );
        assert_eq!(
            wheel.hashes,
            Hashes::from([("sha256".into(), SHA_A.into())])
        );
        assert_eq!(wheel.requires_python.as_deref(), Some(">=3.8,<4"));
        assert_eq!(
            wheel.core_metadata,
            Some(Hashes::from([("sha256".into(), SHA_M.into())]))
        );
        assert_eq!(wheel.yanked, None);

        assert_eq!(
            sdist.url,
            "http://files.127.0.0.1.nip.invalid/demo-pkg-1.0.tar.gz"
        );
        assert_eq!(sdist.core_metadata, Some(Hashes::new()));
        assert_eq!(sdist.requires_python.as_deref(), Some(">=3.8"));

        assert_eq!(
            yanked.url,
            "http://127.0.0.1:3141/packages/demo_pkg-0.9-py3-none-any.whl"
        );
        assert_eq!(yanked.yanked.as_deref(), Some(""));
        assert_eq!(
            yanked.hashes.get("md5").map(String::as_str),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );

        assert_eq!(
            yanked_with_reason.yanked.as_deref(),
            Some(r#"broken & unsafe "build""#)
        );
        assert_eq!(
            yanked_with_reason.url,
            "http://127.0.0.1:3141/root/pypi/+simple/demo-pkg/demo_pkg-0.8.tar.gz"
        );

        assert_eq!(
            encoded.url,
            "http://127.0.0.1:3141/root/pypi/+simple/demo-pkg/demo%2Bpkg-0.7.zip"
        );
        assert!(encoded.hashes.is_empty());
    }

    #[test]
    fn honours_base_href() {
        let body = r#"<html><head><base href="http://127.0.0.1:9/dists/"></head>
            <body><a href="six-1.0.tar.gz">six-1.0.tar.gz</a></body></html>"#;
        let page = parse_project(body.as_bytes(), &page_url(), "six").unwrap();
        assert_eq!(page.files[0].url, "http://127.0.0.1:9/dists/six-1.0.tar.gz");
    }

    #[test]
    fn refuses_an_unknown_major_version() {
        let body =
            r#"<meta name="pypi:repository-version" content="2.0"><a href="x-1.tar.gz">x</a>"#;
        assert!(parse_project(body.as_bytes(), &page_url(), "x").is_err());
    }

    #[test]
    fn renders_escaped_attributes_and_both_metadata_names() {
        let page = ProjectPage {
            name: "demo-pkg".into(),
            files: vec![DistFile {
                filename: "demo_pkg-1.0-py3-none-any.whl".into(),
                url: "http://proxy/pypi/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl".into(),
                hashes: Hashes::from([
                    ("sha256".into(), SHA_A.into()),
                    ("md5".into(), "00".into()),
                ]),
                requires_python: Some(">=3.8,<4".into()),
                yanked: Some("blocked by gatehouse — deny-list: \"demo\" <listed>".into()),
                core_metadata: Some(Hashes::from([("sha256".into(), SHA_M.into())])),
                ..DistFile::default()
            }],
            versions: vec![],
        };
        let html = render_project(&page);
        assert!(html.contains(&format!(
            "href=\"http://proxy/pypi/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl#sha256={SHA_A}\""
        )));
        assert!(html.contains("data-requires-python=\"&gt;=3.8,&lt;4\""));
        assert!(html.contains(&format!("data-core-metadata=\"sha256={SHA_M}\"")));
        assert!(html.contains(&format!("data-dist-info-metadata=\"sha256={SHA_M}\"")));
        assert!(html.contains(
            "data-yanked=\"blocked by gatehouse — deny-list: &quot;demo&quot; &lt;listed&gt;\""
        ));
        assert!(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));

        // What we write, we read back unchanged.
        let base = Url::parse("http://proxy/pypi/simple/demo-pkg/").unwrap();
        let back = parse_project(html.as_bytes(), &base, "demo-pkg").unwrap();
        let mut expected = page.files[0].clone();
        expected.hashes.remove("md5");
        assert_eq!(back.files, vec![expected]);
    }

    #[test]
    fn project_lists_round_trip() {
        let body = r#"<html><body><a href="/simple/frob/">frob</a>
            <a href="/simple/foo-bar/">Foo_Bar</a><a href="/x/">../etc</a></body></html>"#;
        let names = parse_project_list(body.as_bytes()).unwrap();
        assert_eq!(names, ["frob", "Foo_Bar"]);
        let html = render_project_list(&names);
        assert!(html.contains("<a href=\"foo-bar/\">Foo_Bar</a>"));
        assert_eq!(parse_project_list(html.as_bytes()).unwrap(), names);
    }
}
