//! Where artifact SBOMs are kept: a SQLite table in the data directory,
//! one document per (ecosystem, package, version, artifact), the oldest
//! dropped past `limits.sbom_documents`. Package names are kept normalised
//! the registry's way, so a lookup in any spelling finds them.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension as _, params};

/// The SBOM documents of verified artifacts.
pub struct SbomStore {
    connection: Mutex<Connection>,
    limit: usize,
}

impl SbomStore {
    /// Opens (creating) the table in the SQLite file at `path`.
    pub fn open(path: &Path, limit: usize) -> anyhow::Result<Arc<Self>> {
        let connection = Connection::open(path)?;
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS sbom (
                 id INTEGER PRIMARY KEY,
                 ecosystem TEXT NOT NULL,
                 name TEXT NOT NULL,
                 version TEXT NOT NULL,
                 artifact TEXT NOT NULL,
                 document TEXT NOT NULL,
                 UNIQUE (ecosystem, name, version, artifact)
             );",
        )?;
        Ok(Arc::new(SbomStore {
            connection: Mutex::new(connection),
            limit,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `document` for `artifact` (a store key) of `name` at `version`,
    /// replacing an earlier one, and drops the oldest past the limit.
    pub fn put(
        &self,
        ecosystem: &str,
        name: &str,
        version: &str,
        artifact: &str,
        document: &str,
    ) -> rusqlite::Result<()> {
        let name = gatehouse_osv::normalize_name(ecosystem, name);
        let connection = self.lock();
        connection.execute(
            "INSERT INTO sbom (ecosystem, name, version, artifact, document)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (ecosystem, name, version, artifact)
             DO UPDATE SET document = excluded.document",
            params![ecosystem, name, version, artifact, document],
        )?;
        connection.execute(
            "DELETE FROM sbom WHERE id <= (SELECT MAX(id) FROM sbom) - ?1",
            params![self.limit as i64],
        )?;
        Ok(())
    }

    /// The latest document kept for `name` at `version`.
    pub fn get(
        &self,
        ecosystem: &str,
        name: &str,
        version: &str,
    ) -> rusqlite::Result<Option<String>> {
        let name = gatehouse_osv::normalize_name(ecosystem, name);
        self.lock()
            .query_row(
                "SELECT document FROM sbom WHERE ecosystem = ?1 AND name = ?2 AND version = ?3
                 ORDER BY id DESC LIMIT 1",
                params![ecosystem, name, version],
                |row| row.get(0),
            )
            .optional()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_found_in_any_spelling_and_the_oldest_go_past_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SbomStore::open(&dir.path().join("sbom.sqlite"), 2).expect("opens");
        store.put("PyPI", "Demo_Pkg", "1.0", "a", "{1}").unwrap();
        assert_eq!(
            store.get("PyPI", "demo-pkg", "1.0").unwrap().as_deref(),
            Some("{1}")
        );
        store.put("PyPI", "demo-pkg", "1.0", "a", "{2}").unwrap();
        assert_eq!(
            store.get("PyPI", "demo.pkg", "1.0").unwrap().as_deref(),
            Some("{2}")
        );
        store.put("npm", "b", "1.0.0", "b", "{b}").unwrap();
        store.put("npm", "c", "1.0.0", "c", "{c}").unwrap();
        store.put("npm", "d", "1.0.0", "d", "{d}").unwrap();
        assert_eq!(store.get("npm", "b", "1.0.0").unwrap(), None, "dropped");
        assert_eq!(
            store.get("npm", "d", "1.0.0").unwrap().as_deref(),
            Some("{d}")
        );
    }
}
