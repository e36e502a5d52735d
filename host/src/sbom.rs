//! CycloneDX 1.6 SBOMs: one per verified artifact (what it is, the hashes
//! of the bytes gatehouse verified, its license and declared dependencies
//! as its own manifest says, and gatehouse's decision), and one per project
//! lockfile (every pinned package with its decision, and a vulnerabilities
//! section saying what gatehouse knows of each advisory).
//!
//! Package URLs follow the purl specification: `pkg:npm/%40scope/name@1.0.0`,
//! `pkg:pypi/name@1.0`, `pkg:cargo/name@1.0.0`, `pkg:golang/module@v1.0.0`,
//! `pkg:maven/group/artifact@1.0`.

use serde_json::{Value, json};

use crate::bindings::{Action, VersionFacts};
use crate::preflight::Answer;

const SPEC_VERSION: &str = "1.6";

/// The media type SBOMs are served with.
pub const MEDIA_TYPE: &str = "application/vnd.cyclonedx+json; version=1.6";

/// The purl type of an OSV ecosystem name.
fn purl_type(ecosystem: &str) -> &'static str {
    match ecosystem {
        "npm" => "npm",
        "PyPI" => "pypi",
        "crates.io" => "cargo",
        "Go" => "golang",
        "Maven" => "maven",
        _ => "generic",
    }
}

/// Percent-encodes what a purl segment may not hold as is.
fn encoded(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The package URL of `name` at `version` (no version: the package).
pub fn purl(ecosystem: &str, name: &str, version: Option<&str>) -> String {
    let kind = purl_type(ecosystem);
    let path = match kind {
        // A Maven name is `group:artifact`: namespace and name.
        "maven" => name.split(':').map(encoded).collect::<Vec<_>>().join("/"),
        // Scopes and module paths are namespaces: their slashes stay.
        "npm" | "golang" => name.split('/').map(encoded).collect::<Vec<_>>().join("/"),
        // PyPI names are lower case with `-` (the purl spec's normalisation).
        "pypi" => encoded(&gatehouse_osv::normalize_name("PyPI", name)),
        _ => encoded(name),
    };
    match version {
        Some(version) => format!("pkg:{kind}/{path}@{}", encoded(version)),
        None => format!("pkg:{kind}/{path}"),
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Allow => "allow",
        Action::Warn => "warn",
        Action::Block => "block",
    }
}

fn property(name: &str, value: &str) -> Value {
    json!({ "name": format!("gatehouse:{name}"), "value": value })
}

/// The CycloneDX hash algorithm name of a digest algorithm gatehouse verifies.
fn hash_alg(algorithm: &str) -> Option<&'static str> {
    match algorithm {
        "sha512" => Some("SHA-512"),
        "sha256" => Some("SHA-256"),
        "sha1" => Some("SHA-1"),
        _ => None,
    }
}

fn component(facts: &VersionFacts) -> Value {
    let purl = purl(&facts.ecosystem, &facts.name, Some(&facts.version));
    let mut component = json!({
        "type": "library",
        "bom-ref": purl,
        "name": facts.name,
        "version": facts.version,
        "purl": purl,
    });
    if let Some(license) = facts.license.as_deref().filter(|l| !l.trim().is_empty()) {
        component["licenses"] = json!([{ "expression": license }]);
    }
    let hashes: Vec<Value> = facts
        .digests
        .iter()
        .filter_map(|d| Some(json!({ "alg": hash_alg(&d.algorithm)?, "content": d.hex })))
        .collect();
    if !hashes.is_empty() {
        component["hashes"] = Value::Array(hashes);
    }
    component
}

/// The document shell: format, a fresh serial number, metadata naming the
/// tool, the subject and the time.
fn document(subject: Value, components: Vec<Value>, dependencies: Vec<Value>) -> Value {
    let mut serial = [0u8; 16];
    // A serial number only needs to be unique; a failing source leaves zeros.
    let _ = getrandom::fill(&mut serial);
    serial[6] = (serial[6] & 0x0f) | 0x40;
    serial[8] = (serial[8] & 0x3f) | 0x80;
    let hex = hex::encode(serial);
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": format!("urn:uuid:{uuid}"),
        "version": 1,
        "metadata": {
            "timestamp": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "tools": { "components": [{
                "type": "application",
                "name": "gatehouse",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": subject,
        },
        "components": components,
        "dependencies": dependencies,
    })
}

/// What gatehouse decided about an artifact it served or refused.
pub struct Served<'a> {
    pub action: Action,
    /// `rule: reason` of the blocks and warnings, when any.
    pub reasons: &'a [String],
    /// What the artifact's own manifest says differently from the registry.
    pub differences: &'a [String],
}

/// The SBOM of one verified artifact. `facts` are the artifact's facts (its
/// own manifest's where it has one, the registry's otherwise); the
/// dependencies are the ranges it declares, each a component without a
/// version (the project's lockfile pins them).
pub fn artifact(facts: &VersionFacts, served: &Served<'_>) -> Value {
    let mut subject = component(facts);
    let mut properties = vec![property("decision", action_name(served.action))];
    properties.extend(served.reasons.iter().map(|r| property("reason", r)));
    properties.extend(
        served
            .differences
            .iter()
            .map(|d| property("manifest-difference", d)),
    );
    subject["properties"] = Value::Array(properties);
    let subject_ref = subject["bom-ref"].clone();
    let mut components: Vec<Value> = Vec::new();
    let mut refs: Vec<Value> = Vec::new();
    for dependency in &facts.dependencies {
        let purl = purl(&facts.ecosystem, &dependency.name, None);
        let reference = format!("{purl}#{}", dependency.kind);
        if refs.iter().any(|r| r == &json!(reference)) {
            continue;
        }
        refs.push(json!(reference));
        components.push(json!({
            "type": "library",
            "bom-ref": reference,
            "name": dependency.name,
            "purl": purl,
            "scope": if matches!(dependency.kind.as_str(), "optional" | "peer" | "dev") { "optional" } else { "required" },
            "properties": [
                property("requirement", &dependency.requirement),
                property("kind", &dependency.kind),
            ],
        }));
    }
    let dependencies = vec![json!({ "ref": subject_ref, "dependsOn": refs })];
    document(subject, components, dependencies)
}

/// The SBOM of a project from its lockfile's `answers`: one component per
/// pinned package with gatehouse's decision, and one vulnerability per
/// advisory a verdict named, with the components it affects. The analysis
/// state says what gatehouse made of it: `exploitable` where it blocked,
/// `in_triage` where it only warned.
pub fn project(lockfile: &str, answers: &[Answer]) -> Value {
    let subject = json!({
        "type": "application",
        "bom-ref": "project",
        "name": lockfile,
    });
    let mut components = Vec::new();
    let mut vulnerabilities: Vec<(String, Vec<String>, Action, Vec<String>)> = Vec::new();
    for answer in answers {
        let query = &answer.query;
        let ecosystem = crate::preflight::ecosystem(&query.ecosystem)
            .map_or(query.ecosystem.as_str(), |e| e.osv);
        let purl = purl(ecosystem, &query.name, Some(&query.version));
        let mut properties = vec![property("decision", answer.action())];
        match &answer.outcome {
            Ok(judged) => {
                for verdict in judged
                    .decision
                    .verdicts
                    .iter()
                    .filter(|v| v.action != Action::Allow)
                {
                    properties.push(property("rule", &verdict.rule));
                    properties.push(property(
                        "reason",
                        &format!("{}: {}", verdict.rule, verdict.reason),
                    ));
                    for id in &verdict.advisories {
                        match vulnerabilities.iter_mut().find(|(known, ..)| known == id) {
                            Some((_, affects, action, rules)) => {
                                affects.push(purl.clone());
                                if verdict.action == Action::Block {
                                    *action = Action::Block;
                                }
                                rules.push(verdict.rule.clone());
                            }
                            None => vulnerabilities.push((
                                id.clone(),
                                vec![purl.clone()],
                                verdict.action,
                                vec![verdict.rule.clone()],
                            )),
                        }
                    }
                }
            }
            Err(error) => properties.push(property("error", &error.to_string())),
        }
        if components
            .iter()
            .any(|c: &Value| c["bom-ref"] == json!(purl))
        {
            continue;
        }
        components.push(json!({
            "type": "library",
            "bom-ref": purl,
            "name": query.name,
            "version": query.version,
            "purl": purl,
            "properties": properties,
        }));
    }
    let refs: Vec<Value> = components.iter().map(|c| c["bom-ref"].clone()).collect();
    let mut bom = document(
        subject,
        components,
        vec![json!({ "ref": "project", "dependsOn": refs })],
    );
    bom["vulnerabilities"] = vulnerabilities
        .into_iter()
        .map(|(id, mut affects, action, mut rules)| {
            affects.dedup();
            rules.sort();
            rules.dedup();
            let (state, response) = match action {
                Action::Block => ("exploitable", "update"),
                _ => ("in_triage", "can_not_fix"),
            };
            json!({
                "bom-ref": format!("vulnerability:{id}"),
                "id": id,
                "analysis": {
                    "state": state,
                    "response": [response],
                    "detail": format!("gatehouse {}s it ({})", action_name(action), rules.join(", ")),
                },
                "affects": affects.iter().map(|r| json!({ "ref": r })).collect::<Vec<_>>(),
            })
        })
        .collect();
    bom
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_follow_the_spec_per_ecosystem() {
        assert_eq!(
            purl("npm", "@scope/name", Some("1.0.0")),
            "pkg:npm/%40scope/name@1.0.0"
        );
        assert_eq!(
            purl("PyPI", "Demo_Pkg", Some("1.0")),
            "pkg:pypi/demo-pkg@1.0"
        );
        assert_eq!(
            purl("crates.io", "serde", Some("1.0.0")),
            "pkg:cargo/serde@1.0.0"
        );
        assert_eq!(
            purl("Go", "example.com/x/mod", Some("v0.1.0")),
            "pkg:golang/example.com/x/mod@v0.1.0"
        );
        assert_eq!(
            purl("Maven", "org.example:lib", Some("1.0")),
            "pkg:maven/org.example/lib@1.0"
        );
        assert_eq!(purl("npm", "left-pad", None), "pkg:npm/left-pad");
    }
}
