//! The tarball's own `package.json`: what npm installs, which can differ from
//! the registry's copy of it ("manifest confusion": install scripts,
//! dependencies or a license the packument does not show).

use gatehouse_adapter_sdk::{
    FactFields, FactReads, ManifestMember, VersionFacts, top_level_member,
};
use serde_json::value::RawValue;

use crate::facts::version_facts;
use crate::json::Fields;

/// The version as the tarball's `package.json` declares it; `registry`
/// supplies what a manifest cannot say (publish time, digests, size).
///
/// npm unpacks a tarball by stripping its first path component, whatever
/// it is called, and a later entry of the same path overwrites an earlier
/// one: the manifest is the last `*/package.json` at the top.
pub fn read(
    registry: &VersionFacts,
    members: &[ManifestMember],
) -> Result<Option<VersionFacts>, String> {
    let Some(member) = top_level_member(members, |_, file| file == "package.json") else {
        return Ok(None);
    };
    let raw: &RawValue = serde_json::from_slice(&member.contents)
        .map_err(|e| format!("{} is not JSON: {e}", member.path))?;
    let manifest = Fields::parse(raw)
        .ok_or_else(|| format!("{} is not a JSON object", member.path))?
        .dedup_last_wins();
    let every_field = FactReads {
        fields: FactFields::DEPENDENCIES,
        raw_keys: None,
    };
    let name = manifest.string("name").unwrap_or_default();
    let version = manifest.string("version").unwrap_or_default();
    let mut facts = version_facts(
        &name,
        &version,
        &manifest,
        None,
        registry.published,
        &every_field,
    );
    facts.deprecated.clone_from(&registry.deprecated);
    facts.size = registry.size;
    facts.digests.clone_from(&registry.digests);
    Ok(Some(facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(path: &str, json: &str) -> ManifestMember {
        ManifestMember {
            path: path.into(),
            contents: json.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_last_top_level_package_json_is_the_manifest() {
        let registry = VersionFacts::named("npm", "left-pad", "1.0.0");
        let members = [
            member(
                "package/package.json",
                r#"{"name":"left-pad","version":"1.0.0"}"#,
            ),
            member(
                "other/package.json",
                r#"{"name":"left-pad","version":"1.0.0","scripts":{"postinstall":"node x"},"license":"MIT","dependencies":{"evil":"1"}}"#,
            ),
        ];
        let facts = read(&registry, &members).unwrap().unwrap();
        assert_eq!(facts.install_scripts, ["postinstall"]);
        assert_eq!(facts.license.as_deref(), Some("MIT"));
        assert_eq!(facts.dependencies[0].name, "evil");
    }

    #[test]
    fn no_top_level_package_json_is_no_manifest() {
        let registry = VersionFacts::named("npm", "a", "1.0.0");
        let nested = [member("package/lib/package.json", "{}")];
        assert!(matches!(read(&registry, &nested), Ok(None)));
        let broken = [member("package/package.json", "{")];
        assert!(read(&registry, &broken).is_err());
    }
}
