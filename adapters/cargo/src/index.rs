//! Index files: one JSON document per line, one line per version. Lines are
//! read into version facts, and blocked versions are rewritten as yanked with
//! every other field (and every other line) left as upstream wrote it.

use gatehouse_adapter_sdk::{Action, Decision, Dependency, Digest, VersionFacts};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::value::RawValue;

/// How OSV (and so every policy) names this ecosystem.
pub const ECOSYSTEM: &str = "crates.io";

/// One version's line, with the fields gating reads.
#[derive(Debug)]
pub struct Line<'a> {
    pub text: &'a str,
    pub entry: Entry,
}

#[derive(Debug, Deserialize)]
pub struct Entry {
    pub name: String,
    pub vers: String,
    #[serde(default)]
    deps: Vec<Dep>,
    pub cksum: String,
    #[serde(default)]
    yanked: bool,
    /// Publish time (RFC 3339), which newer registries add.
    #[serde(default)]
    pubtime: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Dep {
    name: String,
    req: String,
    #[serde(default)]
    optional: bool,
    /// `normal` when absent.
    #[serde(default)]
    kind: Option<String>,
    /// The real crate when `name` is a rename.
    #[serde(default)]
    package: Option<String>,
}

/// The lines of an index file. Lines of a shape this adapter cannot read are
/// left out: what cannot be gated is never served (cargo skips such lines
/// too). A line that is not JSON at all means the file is broken (e.g. cut
/// mid-line), and so is refused whole rather than served (and kept) short.
pub fn parse(body: &[u8]) -> Result<Vec<Line<'_>>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the index file is not UTF-8".to_owned())?;
    let mut lines = Vec::new();
    for (number, text) in text.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(text) {
            Ok(entry) => lines.push(Line { text, entry }),
            Err(error) if error.is_data() => {}
            Err(error) => {
                return Err(format!(
                    "line {} of the index file is not JSON ({error})",
                    number + 1
                ));
            }
        }
    }
    Ok(lines)
}

impl Entry {
    /// The lower-case hex sha256 of the `.crate`, when `cksum` is one.
    pub fn sha256(&self) -> Option<String> {
        let hex = self.cksum.to_ascii_lowercase();
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
    }
}

impl Line<'_> {
    /// The version as policies see it; `raw` is the line itself (features,
    /// `links`, `rust_version` ... for ecosystem-specific rules).
    pub fn facts(&self) -> VersionFacts {
        let entry = &self.entry;
        let dependencies = entry
            .deps
            .iter()
            .map(|dep| {
                let kind = dep.kind.as_deref().unwrap_or("normal");
                Dependency {
                    name: dep.package.clone().unwrap_or_else(|| dep.name.clone()),
                    requirement: dep.req.clone(),
                    // An optional normal dependency is what other ecosystems call optional.
                    kind: if dep.optional && kind == "normal" {
                        "optional".into()
                    } else {
                        kind.into()
                    },
                }
            })
            .collect();
        VersionFacts {
            ecosystem: ECOSYSTEM.into(),
            name: entry.name.clone(),
            version: entry.vers.clone(),
            published: entry
                .pubtime
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_second()),
            license: None,
            install_scripts: Vec::new(),
            deprecated: None,
            // The index carries no yank reason.
            yanked: entry.yanked.then(String::new),
            size: None,
            digests: entry
                .sha256()
                .map(|hex| Digest {
                    algorithm: "sha256".into(),
                    hex,
                })
                .into_iter()
                .collect(),
            dependencies,
            raw: self.text.into(),
        }
    }
}

/// The index file as served: upstream's lines, blocked versions yanked;
/// `decisions[i]` is the gate's answer for `lines[i]`.
pub fn apply(lines: &[Line<'_>], decisions: &[Decision]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    for (line, decision) in lines.iter().zip(decisions) {
        if decision.action == Action::Block && !line.entry.yanked {
            body.extend_from_slice(yanked(line.text)?.as_bytes());
        } else {
            body.extend_from_slice(line.text.as_bytes());
        }
        body.push(b'\n');
    }
    Ok(body)
}

/// `line` with `"yanked": true`, its other fields kept in order and byte for byte.
fn yanked(line: &str) -> Result<String, String> {
    let mut fields: IndexMap<String, Box<RawValue>> =
        serde_json::from_str(line).map_err(|e| format!("unreadable index line: {e}"))?;
    let yes = RawValue::from_string("true".into()).map_err(|e| e.to_string())?;
    fields.insert("yanked".into(), yes);
    serde_json::to_string(&fields).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_adapter_sdk::Verdict;

    const FILE: &str = concat!(
        r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"AA00000000000000000000000000000000000000000000000000000000000000","features":{},"yanked":false}"#,
        "\n",
        r#"{"name":"demo","vers":"1.2.0","deps":[{"name":"log2","package":"log","req":"^0.4","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal"},{"name":"cc","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"build"}],"cksum":"bb00000000000000000000000000000000000000000000000000000000000000","features":{"x":["log2"]},"yanked":false,"links":null,"v":2,"pubtime":"2024-02-01T00:00:00Z"}"#,
        "\n",
        "{\"name\":\"demo\",\"v\":9}\n",
        r#"{"name":"demo","vers":"2.0.0","deps":[],"cksum":"cc00000000000000000000000000000000000000000000000000000000000000","features":{},"yanked":true}"#,
        "\n",
    );

    fn decision(action: Action) -> Decision {
        let verdicts = match action {
            Action::Allow => Vec::new(),
            _ => vec![Verdict {
                action,
                rule: "deny-list".into(),
                reason: "no".into(),
                advisories: Vec::new(),
            }],
        };
        Decision { action, verdicts }
    }

    #[test]
    fn lines_become_facts() {
        let lines = parse(FILE.as_bytes()).unwrap();
        assert_eq!(lines.len(), 3, "the unreadable line is left out");
        let facts = lines[1].facts();
        assert_eq!(facts.ecosystem, "crates.io");
        assert_eq!(
            (facts.name.as_str(), facts.version.as_str()),
            ("demo", "1.2.0")
        );
        assert_eq!(facts.published, Some(1_706_745_600));
        assert_eq!(facts.digests[0].hex, format!("bb{}", "0".repeat(62)));
        let deps: Vec<_> = facts
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.requirement.as_str(), d.kind.as_str()))
            .collect();
        assert_eq!(deps, [("log", "^0.4", "optional"), ("cc", "^1", "build")]);
        assert!(facts.raw.contains(r#""features":{"x":["log2"]}"#));
        assert_eq!(
            lines[0].facts().digests[0].hex,
            format!("aa{}", "0".repeat(62))
        );
        assert_eq!(lines[2].facts().yanked.as_deref(), Some(""));
    }

    #[test]
    fn a_file_cut_mid_line_is_refused() {
        let cut = &FILE[..FILE.len() - 20];
        let error = parse(cut.as_bytes()).unwrap_err();
        assert!(error.contains("line 4"), "{error}");
    }

    #[test]
    fn blocked_versions_are_yanked_and_the_rest_untouched() {
        let lines = parse(FILE.as_bytes()).unwrap();
        let decisions = [
            decision(Action::Allow),
            decision(Action::Block),
            decision(Action::Block),
        ];
        let body = String::from_utf8(apply(&lines, &decisions).unwrap()).unwrap();
        let served: Vec<&str> = body.lines().collect();
        assert_eq!(served[0], lines[0].text);
        assert_eq!(served[2], lines[2].text, "already yanked: kept as is");
        assert_eq!(
            served[1],
            lines[1]
                .text
                .replace(r#""yanked":false"#, r#""yanked":true"#)
        );
    }

    #[test]
    fn a_line_without_yanked_gains_it() {
        let line = r#"{"name":"a","vers":"1.0.0","cksum":"x", "features" : {"b": []}}"#;
        assert_eq!(
            yanked(line).unwrap(),
            r#"{"name":"a","vers":"1.0.0","cksum":"x","features":{"b": []},"yanked":true}"#
        );
    }

    #[test]
    fn warnings_change_nothing() {
        let lines = parse(FILE.as_bytes()).unwrap();
        let warned = [
            decision(Action::Warn),
            decision(Action::Allow),
            decision(Action::Allow),
        ];
        assert_eq!(
            apply(&lines, &warned).unwrap(),
            FILE.replace("{\"name\":\"demo\",\"v\":9}\n", "").as_bytes()
        );
    }
}
