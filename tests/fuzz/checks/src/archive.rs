//! The artifact check's archive reader (`gatehouse-archive`): gzipped tars,
//! zips and bare manifests, as raw bytes and as archives built from generated
//! entries with hostile names; and image layers, as raw bytes.
//!
//! Invariants: whatever it reads stays within its caps (members, bytes per
//! member and in all); every member it keeps is an entry of the archive, in
//! archive order, whose path neither climbs out nor starts at a root or a
//! drive; an archive with such an entry is refused.

use std::io::{Cursor, Write as _};

use arbitrary::Unstructured;
use gatehouse_archive::{ArchiveLimits, MANIFEST_NAMES, Member, layer_files, manifest_members};

/// Small caps, so that the fuzzer meets them.
const LIMITS: ArchiveLimits = ArchiveLimits {
    entries: 64,
    inflated: 1 << 20,
    ratio: 100,
    manifest: 512,
};

/// The file names an artifact is fetched as: which reader a bare file meets.
const FILE_NAMES: &[&str] = &["p-1.0.0.tgz", "p-1.0-py3-none-any.whl", "p-1.0.pom", "x"];

/// Path segments besides the manifest names, hostile ones among them.
const SEGMENTS: &[&str] = &[
    "package",
    "p-1.0.dist-info",
    "META-INF",
    "maven",
    "g",
    "a",
    "..",
    ".",
    "",
    "C:",
    "\\",
    "x\u{1b}[31m",
];

/// Raw bytes: the first picks the file name, the rest is the artifact.
pub fn raw(data: &[u8]) {
    let Some((pick, bytes)) = data.split_first() else {
        return;
    };
    let file_name = FILE_NAMES[usize::from(*pick) % FILE_NAMES.len()];
    if let Ok(members) = manifest_members(Cursor::new(bytes), file_name, LIMITS) {
        within_caps(&members);
    }
}

/// The package databases the OCI adapter asks of an image layer.
const LAYER_PATHS: [&str; 4] = [
    "etc/os-release",
    "usr/lib/os-release",
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
];

/// Raw bytes as an image layer (a tar, gzipped or not): what is read stays
/// within the caps, and every file kept is one of those asked for.
pub fn layer(data: &[u8]) {
    let paths: Vec<String> = LAYER_PATHS.iter().map(|p| (*p).to_owned()).collect();
    if let Ok(files) = layer_files(Cursor::new(data.to_vec()), &paths, LIMITS) {
        within_caps(&files);
        for file in &files {
            assert!(
                paths.contains(&file.path),
                "{:?} was not asked for",
                file.path
            );
        }
    }
}

/// An archive of generated entries, gzipped tar or zip.
pub fn built(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let zip = u.arbitrary::<bool>().unwrap_or(false);
    let count = u.int_in_range(0..=8).unwrap_or(0);
    let entries: Vec<(String, Vec<u8>)> = (0..count)
        .map(|_| {
            let depth = u.int_in_range(1..=5).unwrap_or(1);
            let mut path = String::new();
            for i in 0..depth {
                if i > 0 {
                    path.push(if u.ratio(1, 8).unwrap_or(false) {
                        '\\'
                    } else {
                        '/'
                    });
                }
                let names = if u.arbitrary().unwrap_or(false) {
                    &MANIFEST_NAMES[..]
                } else {
                    SEGMENTS
                };
                path.push_str(u.choose(names).unwrap_or(&"package"));
            }
            let size = u.int_in_range(0..=700).unwrap_or(0);
            (path, vec![b'x'; size])
        })
        .collect();
    let bytes = if zip {
        zipped(&entries)
    } else {
        tarred(&entries)
    };
    let Some(bytes) = bytes else {
        return;
    };
    let read = manifest_members(Cursor::new(&bytes), FILE_NAMES[0], LIMITS);
    let climbs = |path: &str| {
        path.starts_with(['/', '\\'])
            || path.as_bytes().get(1) == Some(&b':')
            || path.split(['/', '\\']).any(|part| part == "..")
    };
    if let Some((path, _)) = entries.iter().find(|(path, _)| climbs(path)) {
        assert!(read.is_err(), "{path:?} was read: {read:?}");
    }
    if let Ok(members) = read {
        within_caps(&members);
        let mut rest = entries.iter();
        for member in &members {
            assert!(
                rest.any(|(path, contents)| *path == member.path && *contents == member.contents),
                "{:?} is not an entry, or out of order",
                member.path
            );
        }
    }
}

fn within_caps(members: &[Member]) {
    assert!(members.len() <= 256, "{} members", members.len());
    let mut total = 0;
    for member in members {
        assert!(
            member.contents.len() <= LIMITS.manifest,
            "{:?}",
            member.path
        );
        total += member.contents.len();
        assert!(
            !member.path.starts_with(['/', '\\'])
                && member.path.split(['/', '\\']).all(|part| part != ".."),
            "{:?} climbs out",
            member.path
        );
    }
    assert!(total <= 4 * LIMITS.manifest, "{total} bytes of manifests");
}

/// A gzipped tar of `entries`, names written into the header as they are
/// (the `tar` crate's own setters refuse the hostile ones); none when a name
/// does not fit a header.
fn tarred(entries: &[(String, Vec<u8>)]) -> Option<Vec<u8>> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, contents) in entries {
        let mut header = tar::Header::new_gnu();
        let name = &mut header.as_gnu_mut()?.name;
        name.get_mut(..path.len())?.copy_from_slice(path.as_bytes());
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, contents.as_slice()).ok()?;
    }
    builder.into_inner().ok()?.finish().ok()
}

/// A zip of `entries`; none when the writer refuses one.
fn zipped(entries: &[(String, Vec<u8>)]) -> Option<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (path, contents) in entries {
        zip.start_file(path.as_str(), options).ok()?;
        zip.write_all(contents).ok()?;
    }
    Some(zip.finish().ok()?.into_inner())
}
