//! `limits:` in `gatehouse.yaml`: caps on what guests and clients can make
//! the host do (text lengths, counts per call, store size, request sizes,
//! connections, console sessions). The README's Limits table lists them; their defaults are in
//! [`super::defaults`]. Cutting text to a cap and the auth-failure rate limit
//! that apply them are in `bounds.rs`.

use std::time::Duration;

use super::defaults;

/// Every cap, with its default. Sizes are bytes unless the name says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bounds {
    /// A verdict's reason (and rule) in answers, packuments and the audit; cut with `…`.
    pub reason_bytes: usize,
    /// Advisory ids kept per verdict.
    pub advisories_per_verdict: usize,
    /// Log lines one guest call may write; the rest are counted in one summary line.
    pub log_lines_per_call: usize,
    /// Log bytes one guest call may write.
    pub log_bytes_per_call: usize,
    /// `audit.note` records one guest call may write; the rest are counted in one record.
    pub audit_notes_per_call: usize,
    /// Bytes (keys and values) one component may keep in its store.
    pub store_bytes_per_component: usize,
    /// Keys one component may keep in its store.
    pub store_keys_per_component: usize,
    /// The body of a response an adapter builds, in MiB.
    pub response_mb: usize,
    /// Gate audit records (decisions, policy errors) one adapter call may
    /// write through `gate.evaluate`; the rest are counted in one record.
    pub gate_records_per_call: usize,
    /// Versions in one `osv.affecting` call.
    pub osv_versions_per_call: usize,
    /// Queries in one `POST /api/v1/decide`.
    pub decide_queries: usize,
    /// A package name in a decide query.
    pub name_bytes: usize,
    /// A version in a decide query.
    pub version_bytes: usize,
    /// Auth-failure records per client address per minute; the rest are counted in one record.
    pub auth_failures_per_minute: usize,
    /// How much of a refused request's path the auth-failure record keeps.
    pub audit_path_bytes: usize,
    /// How long a client may take to send a request's headers; also how long
    /// a kept-alive connection may sit idle before its next request.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request body.
    pub request_body_timeout_ms: u64,
    /// How long a response may wait for a client that stopped reading it.
    pub write_timeout_ms: u64,
    /// Client connections open at once; past it new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Entries read from one artifact's archive for its own manifest.
    pub archive_entries: usize,
    /// Bytes one artifact's archive may expand to while it is read, in MiB.
    pub archive_inflated_mb: u64,
    /// How many times its own size an archive may expand to.
    pub archive_ratio: u64,
    /// One manifest file read from an artifact.
    pub manifest_bytes: usize,
    /// Artifact SBOMs kept; the oldest go first.
    pub sbom_documents: usize,
    /// Console sessions open at once; past it a sign-in ends the oldest.
    pub console_sessions: usize,
    /// How long a console session lasts after its sign-in.
    pub console_session_minutes: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            reason_bytes: defaults::REASON_BYTES,
            advisories_per_verdict: defaults::ADVISORIES_PER_VERDICT,
            log_lines_per_call: defaults::LOG_LINES_PER_CALL,
            log_bytes_per_call: defaults::LOG_BYTES_PER_CALL,
            audit_notes_per_call: defaults::AUDIT_NOTES_PER_CALL,
            store_bytes_per_component: defaults::STORE_BYTES_PER_COMPONENT,
            store_keys_per_component: defaults::STORE_KEYS_PER_COMPONENT,
            response_mb: defaults::RESPONSE_MB,
            gate_records_per_call: defaults::GATE_RECORDS_PER_CALL,
            osv_versions_per_call: defaults::OSV_VERSIONS_PER_CALL,
            decide_queries: defaults::DECIDE_QUERIES,
            name_bytes: defaults::NAME_BYTES,
            version_bytes: defaults::VERSION_BYTES,
            auth_failures_per_minute: defaults::AUTH_FAILURES_PER_MINUTE,
            audit_path_bytes: defaults::AUDIT_PATH_BYTES,
            header_read_timeout_ms: defaults::HEADER_READ_TIMEOUT_MS,
            request_body_timeout_ms: defaults::REQUEST_BODY_TIMEOUT_MS,
            write_timeout_ms: defaults::WRITE_TIMEOUT_MS,
            max_connections: defaults::MAX_CONNECTIONS,
            archive_entries: defaults::ARCHIVE_ENTRIES,
            archive_inflated_mb: defaults::ARCHIVE_INFLATED_MB,
            archive_ratio: defaults::ARCHIVE_RATIO,
            manifest_bytes: defaults::MANIFEST_BYTES,
            sbom_documents: defaults::SBOM_DOCUMENTS,
            console_sessions: defaults::CONSOLE_SESSIONS,
            console_session_minutes: defaults::CONSOLE_SESSION_MINUTES,
        }
    }
}

impl Bounds {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms.max(1))
    }

    pub fn request_body_timeout(&self) -> Duration {
        Duration::from_millis(self.request_body_timeout_ms.max(1))
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms.max(1))
    }

    pub fn console_session(&self) -> Duration {
        Duration::from_secs(self.console_session_minutes.max(1) * 60)
    }
}

impl From<&Bounds> for gatehouse_archive::ArchiveLimits {
    fn from(bounds: &Bounds) -> Self {
        gatehouse_archive::ArchiveLimits {
            entries: bounds.archive_entries,
            inflated: bounds.archive_inflated_mb << 20,
            ratio: bounds.archive_ratio,
            manifest: bounds.manifest_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's Limits table names every cap with its default.
    #[test]
    fn the_readme_table_lists_every_cap_with_its_default() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("| key | default | what happens past it |")
            .nth(1)
            .expect("the Limits table");
        let mut documented = serde_json::Map::new();
        for row in table
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
        {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let keys = cells[1].split(", ").map(|key| key.trim_matches('`'));
            let values = cells[2]
                .split(", ")
                .map(|value| serde_json::Value::from(value.parse::<u64>().expect("a number")));
            assert_eq!(keys.clone().count(), values.clone().count(), "{row}");
            documented.extend(keys.map(str::to_owned).zip(values));
        }
        let serde_json::Value::Object(defaults) =
            serde_json::to_value(Bounds::default()).expect("serialises")
        else {
            panic!("an object");
        };
        assert_eq!(documented, defaults);
    }
}
