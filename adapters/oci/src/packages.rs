//! An image's OS packages, from the package databases the host read out of
//! its layers: Debian's `/var/lib/dpkg/status` and Alpine's
//! `/lib/apk/db/installed`, named in the OSV ecosystem the distribution's
//! `/etc/os-release` says (`Debian:12`, `Alpine:v3.20`). Packages are named
//! by their source package, as the distributions' advisories are.

use gatehouse_adapter_sdk::Dependency;

/// The files read from each layer, in the order a later layer overrides.
pub const PATHS: [&str; 4] = [
    "etc/os-release",
    "usr/lib/os-release",
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
];

/// The OSV ecosystem of the distribution `os_release` describes, when
/// gatehouse knows how its packages are named there.
pub fn ecosystem(os_release: &str) -> Option<String> {
    let field = |key: &str| {
        os_release.lines().find_map(|line| {
            let value = line.trim().strip_prefix(key)?.strip_prefix('=')?;
            Some(value.trim().trim_matches(['"', '\'']).to_owned())
        })
    };
    let version = field("VERSION_ID")?;
    match field("ID")?.as_str() {
        "debian" => Some(format!("Debian:{}", version.split('.').next()?)),
        "ubuntu" => Some(format!("Ubuntu:{version}")),
        "alpine" => {
            let mut parts = version.split('.');
            Some(format!("Alpine:v{}.{}", parts.next()?, parts.next()?))
        }
        _ => None,
    }
}

/// The installed packages of a dpkg status file: (source name, its version).
pub fn dpkg(status: &str) -> Vec<(String, String)> {
    stanzas(status, ": ")
        .filter(|fields| {
            field(fields, "Status").is_none_or(|status| status.ends_with(" installed"))
        })
        .filter_map(|fields| {
            let package = field(&fields, "Package")?;
            let version = field(&fields, "Version")?;
            // `Source: name` or `Source: name (version)` when they differ.
            Some(match field(&fields, "Source") {
                Some(source) => match source.split_once(" (") {
                    Some((name, rest)) => (name.to_owned(), rest.trim_end_matches(')').to_owned()),
                    None => (source.to_owned(), version.to_owned()),
                },
                None => (package.to_owned(), version.to_owned()),
            })
        })
        .collect()
}

/// The installed packages of an apk database: (origin, version).
pub fn apk(installed: &str) -> Vec<(String, String)> {
    stanzas(installed, ":")
        .filter_map(|fields| {
            let name = field(&fields, "o").or_else(|| field(&fields, "P"))?;
            Some((name.to_owned(), field(&fields, "V")?.to_owned()))
        })
        .collect()
}

/// `packages` of `ecosystem` as dependencies, each once.
pub fn dependencies(ecosystem: &str, mut packages: Vec<(String, String)>) -> Vec<Dependency> {
    packages.sort();
    packages.dedup();
    packages
        .into_iter()
        .map(|(name, version)| Dependency {
            name,
            requirement: version,
            kind: ecosystem.to_owned(),
        })
        .collect()
}

/// The blank-line separated stanzas of a database, as `key{separator}value` fields.
fn stanzas<'a>(
    text: &'a str,
    separator: &'a str,
) -> impl Iterator<Item = Vec<(&'a str, &'a str)>> + 'a {
    text.split("\n\n").map(move |stanza| {
        stanza
            .lines()
            .filter(|line| !line.starts_with([' ', '\t']))
            .filter_map(|line| line.split_once(separator))
            .map(|(key, value)| (key.trim(), value.trim()))
            .collect()
    })
}

fn field<'a>(fields: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_name_their_osv_ecosystem() {
        assert_eq!(
            ecosystem(
                "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"
            ),
            Some("Debian:12".into())
        );
        assert_eq!(
            ecosystem("ID=alpine\nVERSION_ID=3.20.3\n"),
            Some("Alpine:v3.20".into())
        );
        assert_eq!(ecosystem("ID=plan9\nVERSION_ID=4\n"), None);
    }

    #[test]
    fn dpkg_names_installed_packages_by_source() {
        let status = "Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u1)\nVersion: 3.0.11-1~deb12u1+b1\nDescription: a\n multi-line\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: base-files\nStatus: install ok installed\nVersion: 12.4\n";
        assert_eq!(
            dpkg(status),
            [
                ("openssl".to_owned(), "3.0.11-1~deb12u1".to_owned()),
                ("base-files".to_owned(), "12.4".to_owned()),
            ]
        );
    }

    #[test]
    fn apk_names_installed_packages_by_origin() {
        let installed = "C:Q1abc=\nP:libcrypto3\nV:3.3.1-r0\no:openssl\n\nP:musl\nV:1.2.5-r0\n";
        assert_eq!(
            apk(installed),
            [
                ("openssl".to_owned(), "3.3.1-r0".to_owned()),
                ("musl".to_owned(), "1.2.5-r0".to_owned()),
            ]
        );
    }
}
