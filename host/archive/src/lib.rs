//! Reading an artifact's own manifest out of its bytes, natively and within
//! bounds: npm and crates.io tarballs and sdists (gzipped tar), wheels, Go
//! module zips and jars (zip), and a bare manifest (a Maven `.pom`).
//!
//! The reader never writes anything: it streams the archive once, counts
//! entries and inflated bytes, refuses a compression ratio no package needs,
//! and keeps only the small files whose name is a manifest's, near the top
//! of the tree, in archive order (a later duplicate is what an unpacking
//! client keeps, so the adapter sees both). Which of them is *the* manifest,
//! and what it says, is the ecosystem adapter's call.

use std::io::{Read, Seek, SeekFrom};

/// File names that hold a package's own manifest in some ecosystem.
pub const MANIFEST_NAMES: [&str; 6] = [
    "package.json",
    "Cargo.toml",
    "METADATA",
    "PKG-INFO",
    "go.mod",
    "pom.xml",
];

/// Manifest files are looked for this deep (`package/package.json`,
/// `name-1.0.dist-info/METADATA`, `META-INF/maven/g/a/pom.xml` is deeper
/// and read by its own rule).
const MANIFEST_DEPTH: usize = 2;

/// A jar's embedded pom lives at `META-INF/maven/{group}/{artifact}/pom.xml`.
const JAR_POM_PREFIX: &str = "META-INF/maven/";

/// One manifest file read from an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The path inside the archive as written there (`package/package.json`),
    /// or the artifact's file name for a bare manifest.
    pub path: String,
    pub contents: Vec<u8>,
}

/// Why an artifact's manifest could not be read; the artifact itself was
/// verified, this only says its contents could not be vouched for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive holds more than {0} entries (limits.archive_entries)")]
    TooManyEntries(usize),
    #[error("the archive expands past {0} MiB (limits.archive_inflated_mb)")]
    TooLarge(u64),
    #[error(
        "the archive expands more than {0} times its size, as an archive bomb does (limits.archive_ratio)"
    )]
    Bomb(u64),
    #[error("entry {0:?} leaves the package's directory")]
    Traversal(String),
    #[error("the manifest {path:?} is larger than {limit} bytes (limits.manifest_bytes)")]
    ManifestTooLarge { path: String, limit: usize },
    #[error(
        "more than {0} manifest files in the archive, or more bytes of them than 4 times limits.manifest_bytes"
    )]
    TooManyManifests(usize),
    #[error("unreadable archive: {0}")]
    Malformed(String),
}

/// At most this many manifest files are kept from one archive (a shaded
/// jar carries the pom of everything it shades) ...
const MAX_MEMBERS: usize = 256;
/// ... holding at most this many times `limits.manifest_bytes` in all.
const MEMBER_BYTES_PER_MANIFEST_LIMIT: usize = 4;

/// The caps one read runs under (the host takes them from its `limits:`).
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    pub entries: usize,
    pub inflated: u64,
    pub ratio: u64,
    pub manifest: usize,
}

/// The manifest files of the artifact in `file` (named `file_name` upstream),
/// within `limits`.
pub fn manifest_members<F: Read + Seek>(
    mut file: F,
    file_name: &str,
    limits: ArchiveLimits,
) -> Result<Vec<Member>, ArchiveError> {
    let (size, magic) = sniff(&mut file)?;
    match magic.as_slice() {
        [0x1f, 0x8b, ..] => read_tar_gz(file, size, limits),
        [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => read_zip(file, size, limits),
        _ => read_bare(file, size, file_name, limits),
    }
}

/// The size of `file` and its first (up to) four bytes; it is left at its start.
fn sniff(file: &mut (impl Read + Seek)) -> Result<(u64, Vec<u8>), ArchiveError> {
    let size = file.seek(SeekFrom::End(0)).map_err(malformed)?;
    file.seek(SeekFrom::Start(0)).map_err(malformed)?;
    let mut magic = [0u8; 4];
    let read = read_up_to(file, &mut magic).map_err(malformed)?;
    file.seek(SeekFrom::Start(0)).map_err(malformed)?;
    Ok((size, magic[..read].to_vec()))
}

fn malformed(error: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Malformed(error.to_string())
}

fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The most an archive of `size` bytes may expand to.
fn inflation_cap(size: u64, limits: ArchiveLimits) -> u64 {
    limits
        .inflated
        .min(size.saturating_mul(limits.ratio).max(1 << 20))
}

fn too_much_inflation(size: u64, limits: ArchiveLimits) -> ArchiveError {
    if size.saturating_mul(limits.ratio) < limits.inflated {
        ArchiveError::Bomb(limits.ratio)
    } else {
        ArchiveError::TooLarge(limits.inflated >> 20)
    }
}

/// A path's normal components, refusing `..`, absolute paths and drive
/// prefixes: no client or tool of ours unpacks outside the package.
fn checked_components(path: &str) -> Result<Vec<&str>, ArchiveError> {
    // The error prints the path escaped (`{:?}`): no control character of it
    // reaches a terminal or a log.
    let traversal = || ArchiveError::Traversal(path.to_owned());
    let drive = path.as_bytes().get(1) == Some(&b':');
    if path.starts_with(['/', '\\']) || drive {
        return Err(traversal());
    }
    let mut parts = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(traversal()),
            part => parts.push(part),
        }
    }
    Ok(parts)
}

/// Whether an archive entry is a manifest file worth keeping.
fn is_manifest(parts: &[&str]) -> bool {
    let Some(name) = parts.last() else {
        return false;
    };
    if !MANIFEST_NAMES.contains(name) {
        return false;
    }
    parts.len() <= MANIFEST_DEPTH
        || parts.len() == 5 && parts[..2].join("/") + "/" == JAR_POM_PREFIX
}

/// Keeps a manifest member, within the member caps.
fn keep(
    members: &mut Vec<Member>,
    path: String,
    reader: impl Read,
    limits: ArchiveLimits,
) -> Result<(), ArchiveError> {
    if members.len() == MAX_MEMBERS {
        return Err(ArchiveError::TooManyManifests(MAX_MEMBERS));
    }
    let mut contents = Vec::new();
    reader
        .take(limits.manifest as u64 + 1)
        .read_to_end(&mut contents)
        .map_err(malformed)?;
    if contents.len() > limits.manifest {
        return Err(ArchiveError::ManifestTooLarge {
            path,
            limit: limits.manifest,
        });
    }
    let kept: usize = members.iter().map(|m| m.contents.len()).sum();
    if kept + contents.len() > limits.manifest * MEMBER_BYTES_PER_MANIFEST_LIMIT {
        return Err(ArchiveError::TooManyManifests(members.len()));
    }
    members.push(Member { path, contents });
    Ok(())
}

/// Counts what a reader yields, failing once past `cap`.
struct Counted<R> {
    inner: R,
    read: u64,
    cap: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(std::io::Error::other(INFLATION_EXCEEDED));
        }
        Ok(n)
    }
}

const INFLATION_EXCEEDED: &str = "inflation cap exceeded";

fn read_tar_gz(
    file: impl Read,
    size: u64,
    limits: ArchiveLimits,
) -> Result<Vec<Member>, ArchiveError> {
    let cap = inflation_cap(size, limits);
    let inflating = Counted {
        inner: flate2::read::MultiGzDecoder::new(file),
        read: 0,
        cap,
    };
    let mut archive = tar::Archive::new(inflating);
    let io_error = |error: std::io::Error| {
        if error.to_string().contains(INFLATION_EXCEEDED) {
            too_much_inflation(size, limits)
        } else {
            malformed(error)
        }
    };
    let mut members = Vec::new();
    let mut entries = 0;
    for entry in archive.entries().map_err(io_error)? {
        let mut entry = entry.map_err(io_error)?;
        entries += 1;
        if entries > limits.entries {
            return Err(ArchiveError::TooManyEntries(limits.entries));
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let parts = checked_components(&path)?;
        if let Some(link) = entry.link_name_bytes() {
            checked_components(&String::from_utf8_lossy(&link))?;
        }
        if entry.header().entry_type().is_file() && is_manifest(&parts) {
            keep(&mut members, path, &mut entry, limits).map_err(|e| match e {
                ArchiveError::Malformed(m) if m.contains(INFLATION_EXCEEDED) => {
                    too_much_inflation(size, limits)
                }
                other => other,
            })?;
        }
    }
    // Reading on to the end of the stream: trailing bytes inflate too.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(io_error)?;
    Ok(members)
}

/// The files at `paths` (normalised: no leading `/` or `./`) in a container
/// image layer, a tar archive gzip-compressed or not, in archive order,
/// within `limits`. Nothing is unpacked, so link targets and odd names are
/// only compared, never followed.
pub fn layer_files<F: Read + Seek + 'static>(
    mut file: F,
    paths: &[String],
    limits: ArchiveLimits,
) -> Result<Vec<Member>, ArchiveError> {
    let (size, magic) = sniff(&mut file)?;
    let reader: Box<dyn Read> = match magic.as_slice() {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(file)),
        _ => Box::new(file),
    };
    let inflating = Counted {
        inner: reader,
        read: 0,
        cap: inflation_cap(size, limits),
    };
    let io_error = |error: std::io::Error| {
        if error.to_string().contains(INFLATION_EXCEEDED) {
            too_much_inflation(size, limits)
        } else {
            malformed(error)
        }
    };
    let mut archive = tar::Archive::new(inflating);
    let mut members = Vec::new();
    for (count, entry) in archive.entries().map_err(io_error)?.enumerate() {
        let mut entry = entry.map_err(io_error)?;
        if count >= limits.entries {
            return Err(ArchiveError::TooManyEntries(limits.entries));
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let normalised = path.trim_start_matches("./").trim_start_matches('/');
        if entry.header().entry_type().is_file() && paths.iter().any(|p| p == normalised) {
            let normalised = normalised.to_owned();
            keep(&mut members, normalised, &mut entry, limits).map_err(|e| match e {
                ArchiveError::Malformed(m) if m.contains(INFLATION_EXCEEDED) => {
                    too_much_inflation(size, limits)
                }
                other => other,
            })?;
        }
    }
    Ok(members)
}

fn read_zip(
    file: impl Read + Seek,
    size: u64,
    limits: ArchiveLimits,
) -> Result<Vec<Member>, ArchiveError> {
    let mut archive = zip::ZipArchive::new(file).map_err(malformed)?;
    if archive.len() > limits.entries {
        return Err(ArchiveError::TooManyEntries(limits.entries));
    }
    let cap = inflation_cap(size, limits);
    let mut declared: u64 = 0;
    let mut wanted = Vec::new();
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(malformed)?;
        let path = entry.name().map_err(malformed)?.into_owned();
        let parts = checked_components(&path)?;
        declared = declared.saturating_add(entry.size());
        if entry.compressed_size() > 0 && entry.size() / entry.compressed_size() > limits.ratio
            || declared > cap
        {
            return Err(too_much_inflation(size, limits));
        }
        if entry.is_file() && is_manifest(&parts) {
            wanted.push((index, path));
        }
    }
    let mut members = Vec::new();
    for (index, path) in wanted {
        // The declared size is the entry's word; `keep` caps what is read.
        let entry = archive.by_index(index).map_err(malformed)?;
        keep(&mut members, path, entry, limits)?;
    }
    Ok(members)
}

/// A file that is no archive: a manifest itself (a `.pom`) when small.
fn read_bare(
    file: impl Read,
    size: u64,
    file_name: &str,
    limits: ArchiveLimits,
) -> Result<Vec<Member>, ArchiveError> {
    if size > limits.manifest as u64 {
        return Ok(Vec::new());
    }
    let mut members = Vec::new();
    keep(&mut members, file_name.to_owned(), file, limits)?;
    Ok(members)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write as _};

    use super::*;

    /// gatehouse's default limits (`limits.archive_*`, `limits.manifest_bytes`).
    fn limits() -> ArchiveLimits {
        ArchiveLimits {
            entries: 50_000,
            inflated: 512 << 20,
            ratio: 100,
            manifest: 1 << 20,
        }
    }

    #[test]
    fn a_layer_gives_the_files_asked_for_and_passes_over_absolute_links() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "bin/sh", "/bin/busybox")
            .expect("link");
        for (path, contents) in [
            ("./etc/os-release", &b"ID=debian\n"[..]),
            ("etc/motd", b"hi"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_cksum();
            builder
                .append_data(&mut header, path, contents)
                .expect("entry");
        }
        let layer = builder.into_inner().expect("tar");
        let wanted = [
            "etc/os-release".to_owned(),
            "var/lib/dpkg/status".to_owned(),
        ];
        let members = layer_files(Cursor::new(layer), &wanted, limits()).expect("read");
        assert_eq!(
            members,
            [Member {
                path: "etc/os-release".into(),
                contents: b"ID=debian\n".to_vec(),
            }]
        );
        let few = ArchiveLimits {
            entries: 1,
            ..limits()
        };
        let gzipped = tar_gz(&[("a", b"1"), ("b", b"2")]);
        assert_eq!(
            layer_files(Cursor::new(gzipped), &wanted, few),
            Err(ArchiveError::TooManyEntries(1))
        );
    }

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        for (path, contents) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // `set_path` refuses `..`; a hostile archive writes the bytes itself.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *contents).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn an_npm_tarball_yields_its_package_json_and_later_duplicates_too() {
        let bytes = tar_gz(&[
            ("package/package.json", b"{\"name\":\"a\"}"),
            ("package/index.js", b"module.exports = 1"),
            ("package/lib/package.json", b"{}"),
            ("package/package.json", b"{\"name\":\"b\"}"),
        ]);
        let members = manifest_members(Cursor::new(bytes), "a-1.0.0.tgz", limits()).unwrap();
        let paths: Vec<_> = members.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["package/package.json", "package/package.json"]);
        assert_eq!(members[1].contents, b"{\"name\":\"b\"}");
    }

    #[test]
    fn a_wheel_yields_its_metadata() {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("demo/__init__.py", options).unwrap();
        zip.write_all(b"").unwrap();
        zip.start_file("demo-1.0.dist-info/METADATA", options)
            .unwrap();
        zip.write_all(b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let members = manifest_members(Cursor::new(bytes), "demo-1.0.whl", limits()).unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].path, "demo-1.0.dist-info/METADATA");
    }

    #[test]
    fn a_bare_pom_is_its_own_manifest() {
        let members =
            manifest_members(Cursor::new(b"<project/>".to_vec()), "a-1.pom", limits()).unwrap();
        assert_eq!(members[0].path, "a-1.pom");
    }

    #[test]
    fn traversal_entries_are_refused() {
        for path in ["package/../../etc/passwd", "/etc/passwd"] {
            let bytes = tar_gz(&[(path, b"x")]);
            let error = manifest_members(Cursor::new(bytes), "a.tgz", limits()).unwrap_err();
            assert!(
                matches!(error, ArchiveError::Traversal(_)),
                "{path}: {error}"
            );
        }
    }

    #[test]
    fn a_gzip_bomb_is_refused_after_reading_only_its_cap() {
        // 64 MiB of zeros gzip to about 64 KiB: a ratio of about 1000.
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut header = tar::Header::new_gnu();
        header.set_path("package/zeros").unwrap();
        header.set_size(64 << 20);
        header.set_cksum();
        encoder.write_all(header.as_bytes()).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            encoder.write_all(&zeros).unwrap();
        }
        let bytes = encoder.finish().unwrap();
        let error = manifest_members(Cursor::new(bytes), "a.tgz", limits()).unwrap_err();
        assert!(matches!(error, ArchiveError::Bomb(_)), "{error}");
    }

    #[test]
    fn a_hundred_thousand_entries_are_refused() {
        let many: Vec<(String, &[u8])> = (0..100_000)
            .map(|i| (format!("package/{i}"), b"" as &[u8]))
            .collect();
        let refs: Vec<(&str, &[u8])> = many.iter().map(|(p, c)| (p.as_str(), *c)).collect();
        let error = manifest_members(Cursor::new(tar_gz(&refs)), "a.tgz", limits()).unwrap_err();
        assert!(matches!(error, ArchiveError::TooManyEntries(_)), "{error}");
    }

    #[test]
    fn an_oversized_manifest_is_refused() {
        // Incompressible, so the ratio cap does not stop it first.
        let mut state = 0x2545_f491_u32;
        let big: Vec<u8> = (0..=limits().manifest)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        let bytes = tar_gz(&[("package/package.json", &big)]);
        let error = manifest_members(Cursor::new(bytes), "a.tgz", limits()).unwrap_err();
        assert!(
            matches!(error, ArchiveError::ManifestTooLarge { .. }),
            "{error}"
        );
    }
}
