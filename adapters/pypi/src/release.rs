//! Releases (a project's files grouped by version), the facts the gate sees
//! for each, and how its decisions reshape the page.
//!
//! Version-level facts describe the most permissive file: the earliest upload,
//! the smallest size, yanked only when every file is. A block at this level
//! therefore means no file of the version could pass; each download is then
//! gated again on its own file's facts.

use std::collections::HashMap;

use gatehouse_adapter_sdk::{Action, Decision, VersionFacts, decision_message};
use serde::Deserialize;

use crate::filename::{normal_version, version_of};
use crate::json::release_document;
use crate::page::{DistFile, ProjectPage, verifiable_digests};

/// What happens to the files of a blocked version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockedFiles {
    /// Listed as yanked (PEP 592) with the block's reason, so resolvers skip
    /// them and say why when a pin names them; the download itself is refused.
    #[default]
    Yank,
    /// Left out of the page altogether.
    Hide,
}

/// One version of a project and its files, in upstream order.
#[derive(Debug)]
pub struct Release<'a> {
    pub version: String,
    pub files: Vec<&'a DistFile>,
}

/// The page's releases: files grouped by the version their names carry (files
/// that name none are left out), then versions upstream lists without files.
pub fn releases(page: &ProjectPage) -> Vec<Release<'_>> {
    let from_files = page.files.iter().filter_map(|file| {
        version_of(&file.filename, &page.name).map(|version| (version, Some(file)))
    });
    let listed = page.versions.iter().map(|listed| {
        let version = normal_version(listed).unwrap_or_else(|| listed.clone());
        (version, None)
    });
    let mut releases: Vec<Release> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (version, file) in from_files.chain(listed) {
        let at = *index.entry(version.clone()).or_insert_with(|| {
            releases.push(Release {
                version,
                files: Vec::new(),
            });
            releases.len() - 1
        });
        releases[at].files.extend(file);
    }
    releases
}

/// What the gate sees for a release when filtering the page.
pub fn version_facts(project: &str, release: &Release) -> VersionFacts {
    let files = &release.files;
    let all_yanked = !files.is_empty() && files.iter().all(|f| f.yanked.is_some());
    VersionFacts {
        ecosystem: "PyPI".into(),
        name: project.into(),
        version: release.version.clone(),
        published: files.iter().filter_map(|f| f.uploaded_at()).min(),
        license: None,
        install_scripts: Vec::new(),
        deprecated: None,
        yanked: all_yanked.then(|| {
            files
                .iter()
                .filter_map(|f| f.yanked.clone())
                .find(|reason| !reason.is_empty())
                .unwrap_or_default()
        }),
        size: files.iter().filter_map(|f| f.size).min(),
        digests: Vec::new(),
        dependencies: Vec::new(),
        raw: release_document(project, &release.version, files),
    }
}

/// What the gate sees for one file of a release when it is downloaded.
pub fn file_facts(project: &str, release: &Release, file: &DistFile) -> VersionFacts {
    let version = version_facts(project, release);
    VersionFacts {
        published: file.uploaded_at().or(version.published),
        yanked: file.yanked.clone(),
        size: file.size,
        digests: verifiable_digests(&file.hashes),
        ..version
    }
}

/// The yank reason a blocked version's files carry.
pub fn blocked_reason(decision: &Decision) -> String {
    let message = decision_message(decision);
    if message.is_empty() {
        "blocked by gatehouse".into()
    } else {
        format!("blocked by gatehouse — {message}")
    }
}

/// The page clients may see: `decisions[i]` is the gate's answer for
/// `versions[i]`. Files of no release are dropped; blocked releases are
/// yanked with the reason or hidden, per `mode`. `versions` becomes the list
/// of releases still shown.
pub fn apply(
    mut page: ProjectPage,
    versions: Vec<String>,
    decisions: &[Decision],
    mode: BlockedFiles,
) -> ProjectPage {
    let blocked: HashMap<&str, String> = versions
        .iter()
        .zip(decisions)
        .filter(|(_, decision)| decision.action == Action::Block)
        .map(|(version, decision)| (version.as_str(), blocked_reason(decision)))
        .collect();
    let project = page.name.clone();
    page.files.retain_mut(|file| {
        let Some(version) = version_of(&file.filename, &project) else {
            return false;
        };
        match blocked.get(version.as_str()) {
            Some(_) if mode == BlockedFiles::Hide => false,
            Some(reason) => {
                file.yanked = Some(reason.clone());
                true
            }
            None => true,
        }
    });
    page.versions = versions
        .iter()
        .filter(|version| mode == BlockedFiles::Yank || !blocked.contains_key(version.as_str()))
        .cloned()
        .collect();
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(filename: &str) -> DistFile {
        DistFile {
            filename: filename.into(),
            ..DistFile::default()
        }
    }

    #[test]
    fn groups_by_normalised_version() {
        let page = ProjectPage {
            name: "six".into(),
            files: vec![
                file("six-1.0rc1-py3-none-any.whl"),
                file("six-1.0-RC1.tar.gz"),
                file("six-2.0.tar.gz"),
                file("unrelated-2.0.tar.gz"),
            ],
            versions: vec!["2.0".into(), "1.0.RC1".into(), "3.0".into(), "weird".into()],
        };
        let releases = releases(&page);
        let shape: Vec<(&str, usize)> = releases
            .iter()
            .map(|r| (r.version.as_str(), r.files.len()))
            .collect();
        assert_eq!(shape, [("1.0rc1", 2), ("2.0", 1), ("3.0", 0), ("weird", 0)]);
    }

    #[test]
    fn a_block_without_verdicts_still_says_who_blocked() {
        let decision = Decision {
            action: Action::Block,
            verdicts: vec![],
        };
        assert_eq!(blocked_reason(&decision), "blocked by gatehouse");
    }
}
