//! Go's `h1:` hashes (`dirhash.Hash1`), the form the checksum database and
//! `go.sum` record: SHA-256 over the sorted lines `"{sha256 hex}  {name}\n"`
//! of a file tree, base64-encoded. A module zip is hashed over its entries
//! (names include the `{module}@{version}/` prefix, contents decompressed);
//! a `go.mod` file is hashed as the one-file tree `go.mod`.
//!
//! It is a hash of the contents, not of the zip file's bytes, which is why
//! it cannot serve as an artifact plan's digest: the adapter checks it here.

use std::collections::BTreeMap;
use std::io::Cursor;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The `h1:` hash of a module zip's contents.
pub fn hash_zip(bytes: &[u8]) -> Result<String, String> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a zip file: {e}"))?;
    let mut files = BTreeMap::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| format!("zip entry {index}: {e}"))?;
        // Go hashes the names as stored; module zips require UTF-8 names.
        let name = String::from_utf8(entry.name_raw().to_vec())
            .map_err(|_| format!("zip entry {index} has a name that is not UTF-8"))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut entry, &mut hasher).map_err(|e| format!("zip entry {name}: {e}"))?;
        if files.insert(name.clone(), hasher.finalize()).is_some() {
            return Err(format!("the zip holds {name} twice"));
        }
    }
    hash1(&files)
}

/// The `h1:` hash of a `go.mod` file (what `{version}/go.mod` lines record).
pub fn hash_go_mod(bytes: &[u8]) -> String {
    let files = BTreeMap::from([("go.mod".to_owned(), Sha256::digest(bytes))]);
    hash1(&files).expect("go.mod is a valid name")
}

/// `dirhash.Hash1` over names (sorted bytewise, as the map keeps them) and
/// their contents' SHA-256.
fn hash1<D: AsRef<[u8]>>(files: &BTreeMap<String, D>) -> Result<String, String> {
    let mut summary = Sha256::new();
    for (name, digest) in files {
        if name.contains('\n') {
            return Err(format!("a zip entry name holds a newline: {name:?}"));
        }
        let line = format!("{}  {name}\n", hex(digest.as_ref()));
        summary.update(line.as_bytes());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(summary.finalize());
    Ok(format!("h1:{encoded}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Hashes computed independently (Python's hashlib over the same lines).
    const ZIP_H1: &str = "h1:7gPDTdAetOil7VBHFXxFU4lStBctQ7LKO/0XF15Bdy8=";
    const GO_MOD_H1: &str = "h1:e3CRhw7vlK9Img+VHyPVLqaAQkK125LpuRewbqJ9vLY=";
    const GO_MOD: &[u8] = b"module example.test/m\n";

    fn module_zip(method: zip::CompressionMethod, entries: &[(&str, &[u8])]) -> Vec<u8> {
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            writer.start_file(*name, options).expect("entry");
            writer.write_all(bytes).expect("write");
        }
        writer.finish().expect("finish").into_inner()
    }

    #[test]
    fn a_zip_hashes_its_sorted_entries_whatever_the_compression() {
        // Listed out of order: the hash sorts the names.
        let entries: [(&str, &[u8]); 2] = [
            ("example.test/m@v1.0.0/m.go", b"package m\n"),
            ("example.test/m@v1.0.0/go.mod", GO_MOD),
        ];
        for method in [
            zip::CompressionMethod::Stored,
            zip::CompressionMethod::Deflated,
        ] {
            let bytes = module_zip(method, &entries);
            assert_eq!(hash_zip(&bytes).as_deref(), Ok(ZIP_H1), "{method:?}");
        }
    }

    #[test]
    fn a_changed_file_changes_the_hash() {
        let bytes = module_zip(
            zip::CompressionMethod::Stored,
            &[
                ("example.test/m@v1.0.0/go.mod", GO_MOD),
                ("example.test/m@v1.0.0/m.go", b"package evil\n"),
            ],
        );
        assert_ne!(hash_zip(&bytes).as_deref(), Ok(ZIP_H1));
    }

    #[test]
    fn go_mod_is_hashed_as_a_one_file_tree() {
        assert_eq!(hash_go_mod(GO_MOD), GO_MOD_H1);
    }

    #[test]
    fn broken_zips_are_errors() {
        assert!(hash_zip(b"not a zip").is_err());
        let bytes = module_zip(zip::CompressionMethod::Stored, &[("a\nb", b"x")]);
        assert!(hash_zip(&bytes).is_err());
    }
}
