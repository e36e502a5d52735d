//! `maven-metadata.xml` at the artifact level: read upstream's, write it
//! again with only the allowed versions, `latest` and `release` pointing at
//! the newest of those, and the checksums of what is written.

use md5::Md5;
use quick_xml::Reader;
use quick_xml::escape::{escape, unescape};
use quick_xml::events::Event;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};

use crate::route::Sibling;

/// What gatehouse keeps of upstream's artifact-level metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub group: String,
    pub artifact: String,
    /// In upstream's order (oldest first, as Maven writes them).
    pub versions: Vec<String>,
    pub last_updated: Option<String>,
}

/// Reads upstream's `maven-metadata.xml`.
pub fn parse(xml: &str) -> Result<Metadata, String> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut metadata = Metadata {
        group: String::new(),
        artifact: String::new(),
        versions: Vec::new(),
        last_updated: None,
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("maven-metadata.xml: {e}"))?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                let at = path.iter().map(String::as_str).collect::<Vec<_>>();
                let field = matches!(
                    (at.as_slice(), name.as_str()),
                    (["metadata"], "groupId" | "artifactId")
                        | (["metadata", "versioning"], "lastUpdated")
                        | (["metadata", "versioning", "versions"], "version")
                );
                if !field {
                    path.push(name);
                    continue;
                }
                let raw = reader
                    .read_text(start.name())
                    .map_err(|e| format!("maven-metadata.xml: {e}"))?;
                let text = unescape(raw.trim())
                    .map_err(|e| format!("maven-metadata.xml: {e}"))?
                    .into_owned();
                match name.as_str() {
                    "groupId" => metadata.group = text,
                    "artifactId" => metadata.artifact = text,
                    "lastUpdated" => metadata.last_updated = Some(text),
                    _ => metadata.versions.push(text),
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if metadata.artifact.is_empty() {
        return Err("maven-metadata.xml names no artifactId".into());
    }
    Ok(metadata)
}

/// The metadata listing only `allowed` (a subset of its versions, in order).
pub fn render(metadata: &Metadata, allowed: &[&str]) -> String {
    let latest = allowed.last();
    let release = allowed.iter().rev().find(|v| !v.ends_with("-SNAPSHOT"));
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n");
    let mut line = |indent: usize, tag: &str, value: &str| {
        xml.push_str(&format!(
            "{}<{tag}>{}</{tag}>\n",
            "  ".repeat(indent),
            escape(value)
        ));
    };
    line(1, "groupId", &metadata.group);
    line(1, "artifactId", &metadata.artifact);
    xml.push_str("  <versioning>\n");
    if let Some(latest) = latest {
        xml.push_str(&format!("    <latest>{}</latest>\n", escape(*latest)));
    }
    if let Some(release) = release {
        xml.push_str(&format!("    <release>{}</release>\n", escape(*release)));
    }
    xml.push_str("    <versions>\n");
    for version in allowed {
        xml.push_str(&format!("      <version>{}</version>\n", escape(*version)));
    }
    xml.push_str("    </versions>\n");
    if let Some(updated) = &metadata.last_updated {
        xml.push_str(&format!(
            "    <lastUpdated>{}</lastUpdated>\n",
            escape(updated.as_str())
        ));
    }
    xml.push_str("  </versioning>\n</metadata>\n");
    xml
}

/// The hex checksum a sibling file holds for `bytes`; none for a signature.
pub fn checksum(sibling: Sibling, bytes: &[u8]) -> Option<String> {
    Some(match sibling {
        Sibling::Md5 => hex::encode(Md5::digest(bytes)),
        Sibling::Sha1 => hex::encode(Sha1::digest(bytes)),
        Sibling::Sha256 => hex::encode(Sha256::digest(bytes)),
        Sibling::Sha512 => hex::encode(Sha512::digest(bytes)),
        Sibling::Signature => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata modelVersion="1.1.0">
  <groupId>org.example</groupId>
  <artifactId>demo</artifactId>
  <versioning>
    <latest>2.0-SNAPSHOT</latest>
    <release>1.2</release>
    <versions>
      <version>1.0</version>
      <version>1.1</version>
      <version>1.2</version>
      <version>2.0-SNAPSHOT</version>
    </versions>
    <lastUpdated>20240101000000</lastUpdated>
  </versioning>
</metadata>
"#;

    #[test]
    fn reads_and_rewrites_without_blocked_versions() {
        let metadata = parse(UPSTREAM).expect("parses");
        assert_eq!(metadata.group, "org.example");
        assert_eq!(metadata.versions, ["1.0", "1.1", "1.2", "2.0-SNAPSHOT"]);
        let xml = render(&metadata, &["1.0", "1.1", "2.0-SNAPSHOT"]);
        let again = parse(&xml).expect("parses again");
        assert_eq!(again.versions, ["1.0", "1.1", "2.0-SNAPSHOT"]);
        assert!(xml.contains("<latest>2.0-SNAPSHOT</latest>"), "{xml}");
        assert!(xml.contains("<release>1.1</release>"), "{xml}");
        assert!(!xml.contains("1.2"), "{xml}");
        assert!(xml.contains("<lastUpdated>20240101000000</lastUpdated>"));
    }

    #[test]
    fn nothing_allowed_lists_nothing() {
        let xml = render(&parse(UPSTREAM).expect("parses"), &[]);
        assert!(
            !xml.contains("<latest>") && !xml.contains("<release>"),
            "{xml}"
        );
    }

    #[test]
    fn refuses_what_is_not_metadata() {
        assert!(parse("<metadata><versioning/></metadata>").is_err());
        assert!(parse("<metadata><groupId>x</artifactId></metadata>").is_err());
    }

    #[test]
    fn checksums_are_hex_of_the_bytes() {
        assert_eq!(
            checksum(Sibling::Sha1, b"abc").as_deref(),
            Some("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(checksum(Sibling::Signature, b"abc"), None);
    }
}
