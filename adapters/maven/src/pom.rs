//! A version's own `pom.xml` (the `.pom` file, or the one a jar carries at
//! `META-INF/maven/{group}/{artifact}/pom.xml`): its coordinates, licenses and
//! dependencies, which `maven-metadata.xml` does not carry.

use gatehouse_adapter_sdk::{Dependency, ManifestMember, VersionFacts};
use quick_xml::Reader;
use quick_xml::escape::unescape;
use quick_xml::events::Event;

/// What gatehouse reads of a pom.
#[derive(Debug, Default)]
struct Pom {
    group: String,
    artifact: String,
    version: String,
    parent_group: String,
    parent_version: String,
    licenses: Vec<String>,
    dependencies: Vec<Dependency>,
}

fn parse(xml: &str) -> Result<Pom, String> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut pom = Pom::default();
    let mut dependency: Option<(String, String, String, String, bool)> = None;
    loop {
        match reader.read_event().map_err(|e| format!("pom: {e}"))? {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                let at: Vec<&str> = path.iter().map(String::as_str).collect();
                let text_field = matches!(
                    (at.as_slice(), name.as_str()),
                    (["project"], "groupId" | "artifactId" | "version")
                        | (["project", "parent"], "groupId" | "version")
                        | (["project", "licenses", "license"], "name")
                        | (
                            ["project", "dependencies", "dependency"],
                            "groupId" | "artifactId" | "version" | "scope" | "optional"
                        )
                );
                if !text_field {
                    if at == ["project", "dependencies"] && name == "dependency" {
                        dependency = Some(Default::default());
                    }
                    path.push(name);
                    continue;
                }
                let raw = reader
                    .read_text(start.name())
                    .map_err(|e| format!("pom: {e}"))?;
                let text = unescape(raw.trim())
                    .map_err(|e| format!("pom: {e}"))?
                    .into_owned();
                match (at.as_slice(), name.as_str(), &mut dependency) {
                    (["project"], "groupId", _) => pom.group = text,
                    (["project"], "artifactId", _) => pom.artifact = text,
                    (["project"], "version", _) => pom.version = text,
                    (["project", "parent"], "groupId", _) => pom.parent_group = text,
                    (["project", "parent"], "version", _) => pom.parent_version = text,
                    (["project", "licenses", "license"], _, _) => pom.licenses.push(text),
                    (_, "groupId", Some(d)) => d.0 = text,
                    (_, "artifactId", Some(d)) => d.1 = text,
                    (_, "version", Some(d)) => d.2 = text,
                    (_, "scope", Some(d)) => d.3 = text,
                    (_, "optional", Some(d)) => d.4 = text == "true",
                    _ => {}
                }
            }
            Event::End(_) => {
                let closed = path.pop();
                if closed.as_deref() == Some("dependency")
                    && let Some((group, artifact, version, scope, optional)) = dependency.take()
                {
                    pom.dependencies.push(Dependency {
                        name: format!("{group}:{artifact}"),
                        requirement: version,
                        kind: match scope.as_str() {
                            "test" => "dev".into(),
                            _ if optional => "optional".into(),
                            "provided" | "system" => "optional".into(),
                            _ => "normal".into(),
                        },
                    });
                }
            }
            Event::Eof => return Ok(pom),
            _ => {}
        }
    }
}

/// The version as its own pom declares it; `registry` supplies what a pom
/// cannot say. A version written with a property (`${revision}`) is taken
/// as the registry's: only the build that published it knew its value.
pub fn read(
    registry: &VersionFacts,
    members: &[ManifestMember],
) -> Result<Option<VersionFacts>, String> {
    let embedded = registry
        .name
        .split_once(':')
        .map(|(group, artifact)| format!("META-INF/maven/{group}/{artifact}/pom.xml"));
    let Some(member) = members
        .iter()
        .rev()
        .find(|member| member.path.ends_with(".pom") || Some(&member.path) == embedded.as_ref())
    else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&member.contents)
        .map_err(|_| format!("{} is not UTF-8", member.path))?;
    let pom = parse(text)?;
    let group = if pom.group.is_empty() {
        pom.parent_group
    } else {
        pom.group
    };
    let version = if pom.version.is_empty() {
        pom.parent_version
    } else {
        pom.version
    };
    let name = format!("{group}:{}", pom.artifact);
    Ok(Some(VersionFacts {
        name: if name == registry.name {
            registry.name.clone()
        } else {
            name
        },
        version: if version.contains("${") || version.is_empty() {
            registry.version.clone()
        } else {
            version
        },
        license: match pom.licenses.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            several => Some(several.join(" OR ")),
        },
        dependencies: pom.dependencies,
        ..registry.clone()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POM: &str = r#"<?xml version="1.0"?>
<project>
  <parent><groupId>org.example</groupId><version>1.0</version></parent>
  <artifactId>lib</artifactId>
  <licenses><license><name>Apache-2.0</name></license></licenses>
  <dependencies>
    <dependency><groupId>org.dep</groupId><artifactId>core</artifactId><version>2.1</version></dependency>
    <dependency><groupId>org.test</groupId><artifactId>junit</artifactId><version>4</version><scope>test</scope></dependency>
  </dependencies>
</project>"#;

    #[test]
    fn a_pom_names_its_coordinates_license_and_dependencies() {
        let registry = VersionFacts::named("Maven", "org.example:lib", "1.0");
        let members = [ManifestMember {
            path: "lib-1.0.pom".into(),
            contents: POM.as_bytes().to_vec(),
        }];
        let facts = read(&registry, &members).unwrap().unwrap();
        assert_eq!(
            (facts.name.as_str(), facts.version.as_str()),
            ("org.example:lib", "1.0")
        );
        assert_eq!(facts.license.as_deref(), Some("Apache-2.0"));
        let deps: Vec<_> = facts
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.kind.as_str()))
            .collect();
        assert_eq!(
            deps,
            [("org.dep:core", "normal"), ("org.test:junit", "dev")]
        );
    }

    #[test]
    fn a_jar_is_read_by_the_pom_of_its_own_coordinates_only() {
        let registry = VersionFacts::named("Maven", "org.example:lib", "1.0");
        let shaded = [ManifestMember {
            path: "META-INF/maven/org.other/shaded/pom.xml".into(),
            contents:
                b"<project><groupId>org.other</groupId><artifactId>shaded</artifactId></project>"
                    .to_vec(),
        }];
        assert!(matches!(read(&registry, &shaded), Ok(None)));
        let own = [ManifestMember {
            path: "META-INF/maven/org.example/lib/pom.xml".into(),
            contents: POM.as_bytes().to_vec(),
        }];
        assert!(read(&registry, &own).unwrap().is_some());
    }
}
