//! What policies learn about one npm version, read from its packument entry.

use gatehouse_adapter_sdk::{Dependency, FactFields, FactReads, VersionFacts};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::integrity::declared_digests;
use crate::json::{Fields, ObjectWriter, is_truthy};

/// The lifecycle scripts npm runs when it installs a package.
pub const INSTALL_HOOKS: [&str; 3] = ["preinstall", "install", "postinstall"];

/// Dependency maps a consumer installs, with the kind each one means.
/// (`devDependencies` are only installed when developing the package itself.)
const DEPENDENCY_KINDS: [(&str, &str); 3] = [
    ("optionalDependencies", "optional"),
    ("peerDependencies", "peer"),
    ("dependencies", "normal"),
];

/// The facts of `version` of package `name`; `published` comes from `time`.
/// The costly fields are filled in only as far as policies `reads` them;
/// `raw` is the version's whole document, needed only when they read all of it.
pub fn version_facts(
    name: &str,
    version: &str,
    manifest: &Fields<'_>,
    raw: Option<&RawValue>,
    published: Option<i64>,
    reads: &FactReads,
) -> VersionFacts {
    let dist = manifest
        .get("dist")
        .and_then(Fields::parse)
        .unwrap_or_default()
        .dedup_last_wins();
    VersionFacts {
        ecosystem: "npm".into(),
        name: name.into(),
        version: version.into(),
        published,
        license: license(manifest),
        install_scripts: install_scripts(manifest),
        deprecated: deprecation(manifest),
        yanked: None,
        size: dist.parsed::<u64>("unpackedSize"),
        digests: declared_digests(
            dist.string("integrity").as_deref(),
            dist.string("shasum").as_deref(),
        ),
        dependencies: if reads.fields.contains(FactFields::DEPENDENCIES) {
            dependencies(manifest)
        } else {
            Vec::new()
        },
        raw: match (reads.fields.contains(FactFields::RAW), &reads.raw_keys) {
            (false, _) => "{}".to_owned(),
            (true, Some(keys)) => only_keys(manifest, keys),
            (true, None) => raw.map_or("{}", RawValue::get).to_owned(),
        },
    }
}

/// The version's document cut down to the top-level `keys` policies read.
fn only_keys(manifest: &Fields<'_>, keys: &[String]) -> String {
    let mut out = Vec::new();
    let mut object = ObjectWriter::new(&mut out);
    for key in keys {
        if let Some(value) = manifest.get(key) {
            object.raw(key, value);
        }
    }
    object.finish();
    String::from_utf8(out).unwrap_or_else(|_| "{}".to_owned())
}

/// An RFC 3339 timestamp from `time` as seconds since the Unix epoch.
pub fn unix_seconds(timestamp: &str) -> Option<i64> {
    let time = humantime::parse_rfc3339_weak(timestamp).ok()?;
    let since_epoch = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since_epoch.as_secs()).ok()
}

/// The install hooks a version runs, in the order npm runs them.
///
/// A document that only says `hasInstallScript` (some mirrors serve nothing
/// more) counts as running `install`: the hook exists, its name is unknown.
pub fn install_scripts(manifest: &Fields<'_>) -> Vec<String> {
    let scripts = manifest
        .get("scripts")
        .and_then(Fields::parse)
        .unwrap_or_default();
    let hooks: Vec<String> = INSTALL_HOOKS
        .iter()
        .filter(|hook| scripts.get(hook).is_some_and(is_truthy))
        .map(|hook| (*hook).to_owned())
        .collect();
    if hooks.is_empty() && manifest.get("hasInstallScript").is_some_and(is_truthy) {
        return vec!["install".into()];
    }
    hooks
}

/// The deprecation message; `deprecated: true` is a deprecation without words.
fn deprecation(manifest: &Fields<'_>) -> Option<String> {
    match manifest.parsed::<Value>("deprecated")? {
        Value::String(message) if !message.is_empty() => Some(message),
        Value::Bool(true) => Some(String::new()),
        _ => None,
    }
}

/// The license as one SPDX-style expression.
///
/// Current packages say `"license": "MIT"`; old ones `{"type": "MIT"}` or a
/// `licenses` array of those, which meant a choice between them (`OR`).
fn license(manifest: &Fields<'_>) -> Option<String> {
    fn named(value: &Value) -> Option<&str> {
        match value {
            Value::String(name) => Some(name.trim()),
            Value::Object(object) => object.get("type").and_then(Value::as_str).map(str::trim),
            _ => None,
        }
        .filter(|name| !name.is_empty())
    }
    fn expression(value: &Value) -> Option<String> {
        match value {
            Value::Array(items) => {
                let names: Vec<&str> = items.iter().filter_map(named).collect();
                match names.as_slice() {
                    [] => None,
                    [one] => Some((*one).to_owned()),
                    several => Some(
                        several
                            .iter()
                            .map(|name| format!("({name})"))
                            .collect::<Vec<_>>()
                            .join(" OR "),
                    ),
                }
            }
            other => named(other).map(str::to_owned),
        }
    }
    ["license", "licenses"]
        .iter()
        .filter_map(|key| manifest.parsed::<Value>(key))
        .find_map(|value| expression(&value))
}

/// Dependencies a consumer installs. npm copies optional dependencies into
/// `dependencies` too; they are reported once, as optional.
fn dependencies(manifest: &Fields<'_>) -> Vec<Dependency> {
    let mut out: Vec<Dependency> = Vec::new();
    for (field, kind) in DEPENDENCY_KINDS {
        let Some(requirements) = manifest.get(field).and_then(Fields::parse) else {
            continue;
        };
        for (name, requirement) in &requirements.0 {
            let Ok(requirement) = serde_json::from_str::<String>(requirement.get()) else {
                continue;
            };
            if kind == "normal" && out.iter().any(|d| d.kind == "optional" && d.name == *name) {
                continue;
            }
            out.push(Dependency {
                name: name.clone().into_owned(),
                requirement,
                kind: kind.into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts_of(manifest: &str, published: Option<i64>) -> VersionFacts {
        let raw = RawValue::from_string(manifest.to_owned()).unwrap();
        let fields = Fields::parse(&raw).unwrap();
        version_facts(
            "@scope/pkg",
            "1.2.3",
            &fields,
            Some(&raw),
            published,
            &FactReads {
                fields: FactFields::all(),
                raw_keys: None,
            },
        )
    }

    #[test]
    fn every_field() {
        let manifest = r#"{
            "name": "@scope/pkg", "version": "1.2.3", "license": "MIT",
            "scripts": {"test": "tap", "postinstall": "node evil.js", "preinstall": "x"},
            "deprecated": "use 2.x",
            "dependencies": {"a": "^1.0.0", "opt": "~2"},
            "optionalDependencies": {"opt": "~2"},
            "peerDependencies": {"react": ">=18"},
            "devDependencies": {"tap": "*"},
            "dist": {"shasum": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "unpackedSize": 1234,
                     "tarball": "http://127.0.0.1:1/x.tgz"}
        }"#;
        let facts = facts_of(manifest, Some(1_700_000_000));
        assert_eq!(facts.ecosystem, "npm");
        assert_eq!(facts.name, "@scope/pkg");
        assert_eq!(facts.version, "1.2.3");
        assert_eq!(facts.published, Some(1_700_000_000));
        assert_eq!(facts.license.as_deref(), Some("MIT"));
        assert_eq!(facts.install_scripts, ["preinstall", "postinstall"]);
        assert_eq!(facts.deprecated.as_deref(), Some("use 2.x"));
        assert_eq!(facts.yanked, None);
        assert_eq!(facts.size, Some(1234));
        assert_eq!(facts.digests.len(), 1);
        assert_eq!(facts.digests[0].algorithm, "sha1");
        let deps: Vec<(&str, &str, &str)> = facts
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.requirement.as_str(), d.kind.as_str()))
            .collect();
        assert_eq!(
            deps,
            [
                ("opt", "~2", "optional"),
                ("react", ">=18", "peer"),
                ("a", "^1.0.0", "normal")
            ]
        );
        assert_eq!(facts.raw, manifest);
    }

    #[test]
    fn legacy_licenses() {
        let license = |manifest: &str| facts_of(manifest, None).license;
        assert_eq!(
            license(r#"{"license": {"type": "BSD", "url": "x"}}"#).as_deref(),
            Some("BSD")
        );
        assert_eq!(
            license(r#"{"licenses": [{"type": "MIT"}, {"type": "Apache-2.0"}]}"#).as_deref(),
            Some("(MIT) OR (Apache-2.0)")
        );
        assert_eq!(license(r#"{"license": ["ISC"]}"#).as_deref(), Some("ISC"));
        assert_eq!(license(r#"{"license": ""}"#), None);
        assert_eq!(license(r#"{"license": 7}"#), None);
        assert_eq!(license("{}"), None);
    }

    #[test]
    fn install_hook_variants() {
        let hooks = |manifest: &str| facts_of(manifest, None).install_scripts;
        assert_eq!(
            hooks(r#"{"scripts": {"install": "node-gyp rebuild"}}"#),
            ["install"]
        );
        assert!(hooks(r#"{"scripts": {"install": ""}}"#).is_empty());
        assert!(hooks(r#"{"scripts": "junk"}"#).is_empty());
        assert_eq!(hooks(r#"{"hasInstallScript": true}"#), ["install"]);
        assert!(hooks(r#"{"hasInstallScript": false}"#).is_empty());
    }

    #[test]
    fn odd_shapes_do_not_break_facts() {
        let facts = facts_of(
            r#"{"deprecated": true, "dependencies": ["old-style"], "dist": "nope",
                "peerDependencies": {"x": 1, "y": "2"}}"#,
            None,
        );
        assert_eq!(facts.deprecated.as_deref(), Some(""));
        assert!(facts.digests.is_empty());
        assert_eq!(facts.size, None);
        assert_eq!(facts.dependencies.len(), 1);
        assert_eq!(facts_of(r#"{"deprecated": ""}"#, None).deprecated, None);
    }

    #[test]
    fn publish_times() {
        assert_eq!(unix_seconds("1970-01-01T00:00:10.500Z"), Some(10));
        assert_eq!(
            unix_seconds("2015-03-24T00:12:24.039Z"),
            Some(1_427_155_944)
        );
        assert_eq!(unix_seconds("yesterday"), None);
    }
}
