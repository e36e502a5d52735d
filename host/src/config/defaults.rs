//! Every default of `gatehouse.yaml`, and the host's fixed sizings, named in
//! one place. The README documents those a user can set, and a test below
//! checks that it still says what these say.

use std::time::Duration;

/// `listen`.
pub const LISTEN: &str = "127.0.0.1:8080";
/// `data_dir` (and `--data-dir`), relative to the working directory.
pub const DATA_DIR: &str = "gatehouse-data";
/// `adapters_dir`, inside the data dir.
pub const ADAPTERS_DIR: &str = "adapters";
/// `policies_dir`, inside the data dir.
pub const POLICIES_DIR: &str = "policies";
/// `gate_policy`, inside the data dir.
pub const GATE_POLICY_FILE: &str = "gate-policy.yaml";

/// `cache.ttl`: metadata younger than this is served without asking upstream.
pub const CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// `cache.max_stale`: how old cached metadata may be and still be served
/// when upstream is down.
pub const CACHE_MAX_STALE: Duration = Duration::from_secs(7 * 86_400);
/// `cache.max_metadata_mb`: the largest metadata body accepted (decompressed).
pub const CACHE_MAX_METADATA_MB: u64 = 256;
/// `cache.max_artifact_mb`: the largest artifact accepted.
pub const CACHE_MAX_ARTIFACT_MB: u64 = 2 << 10;
/// `cache.max_store_mb`: the artifact store's size (20 GiB); least recently
/// served files are evicted past it.
pub const CACHE_MAX_STORE_MB: u64 = 20 << 10;

/// `egress.deadline`: how long one upstream request may take at most (its
/// redirects and body), unless its body keeps arriving at
/// [`EGRESS_MIN_RATE_KIB`].
pub const EGRESS_DEADLINE: Duration = Duration::from_secs(120);
/// `egress.min_rate_kib`: a second past the deadline per this many KiB of
/// body received.
pub const EGRESS_MIN_RATE_KIB: u64 = 64;
/// Connecting to an upstream (not configurable).
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// An upstream that sends nothing this long is given up on (not configurable).
pub const UPSTREAM_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// `upstreams.NAME.timeout_ms`: an adapter call's wall-clock budget; it
/// covers the upstream fetches and the gate the call waits for.
pub const ADAPTER_TIMEOUT: Duration = Duration::from_secs(60);
/// `upstreams.NAME.memory_mb`: an adapter instance's memory.
pub const ADAPTER_MEMORY_MB: usize = 1024;

/// `timeout_ms` of a policy in `gate-policy.yaml`.
pub const POLICY_TIMEOUT: Duration = Duration::from_secs(2);
/// `memory_mb` of a policy in `gate-policy.yaml`.
pub const POLICY_MEMORY_MB: usize = 512;

/// `osv.url`: the public OSV data set's bucket (`{base}/{Ecosystem}/all.zip`):
/// advisory data, not a package registry, so it may be a default.
pub const OSV_URL: &str = "https://osv-vulnerabilities.storage.googleapis.com";
/// `osv.interval`: how often `serve` syncs the mirror.
pub const OSV_INTERVAL: Duration = Duration::from_secs(3600);
/// `osv.max_age`: advisory data older than this is stale (`/healthz`
/// degraded, `on_stale` applies).
pub const OSV_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// `osv.live_ttl`: how long a live-fallback answer is reused.
pub const OSV_LIVE_TTL: Duration = Duration::from_secs(3600);

/// `audit.path`'s file name, in the data dir; rotated files and the index
/// sit beside it.
pub const AUDIT_FILE: &str = "audit.log";
/// `audit.batch_ms`: the group-commit interval of `sync: batch`.
pub const AUDIT_BATCH_INTERVAL: Duration = Duration::from_millis(100);
/// `audit.rotate_size`: the size at which the live file is rotated.
pub const AUDIT_ROTATE_BYTES: u64 = 256 << 20;

/// `shutdown_grace`: how long `serve` lets in-flight requests finish after
/// SIGTERM or SIGINT.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How much filtered metadata is kept ready to serve (bodies, bytes; not
/// configurable).
pub const MEMO_BYTES: usize = 96 << 20;
/// How long an artifact's last-stop gate answer is reused (same components,
/// advisories, exceptions and reviews): clock-based rules lag at most this
/// (not configurable).
pub const GATE_MEMO_TTL: Duration = Duration::from_secs(30);
/// How many last-stop gate answers are kept (not configurable).
pub const GATE_MEMO_ENTRIES: usize = 100_000;

// `limits:` in gatehouse.yaml ([`super::Bounds`], the README's Limits table).

/// `limits.reason_bytes`.
pub const REASON_BYTES: usize = 1024;
/// `limits.advisories_per_verdict`.
pub const ADVISORIES_PER_VERDICT: usize = 32;
/// `limits.log_lines_per_call`.
pub const LOG_LINES_PER_CALL: usize = 200;
/// `limits.log_bytes_per_call`.
pub const LOG_BYTES_PER_CALL: usize = 64 << 10;
/// `limits.audit_notes_per_call`.
pub const AUDIT_NOTES_PER_CALL: usize = 100;
/// `limits.store_bytes_per_component`.
pub const STORE_BYTES_PER_COMPONENT: usize = 16 << 20;
/// `limits.store_keys_per_component`.
pub const STORE_KEYS_PER_COMPONENT: usize = 10_000;
/// `limits.response_mb`.
pub const RESPONSE_MB: usize = 256;
/// `limits.gate_records_per_call`.
pub const GATE_RECORDS_PER_CALL: usize = 1_000;
/// `limits.osv_versions_per_call`.
pub const OSV_VERSIONS_PER_CALL: usize = 20_000;
/// `limits.decide_queries`.
pub const DECIDE_QUERIES: usize = 1_000;
/// `limits.name_bytes`.
pub const NAME_BYTES: usize = 512;
/// `limits.version_bytes`.
pub const VERSION_BYTES: usize = 256;
/// `limits.auth_failures_per_minute`.
pub const AUTH_FAILURES_PER_MINUTE: usize = 10;
/// `limits.audit_path_bytes`.
pub const AUDIT_PATH_BYTES: usize = 256;
/// `limits.header_read_timeout_ms`.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// `limits.request_body_timeout_ms`.
pub const REQUEST_BODY_TIMEOUT_MS: u64 = 30_000;
/// `limits.write_timeout_ms`.
pub const WRITE_TIMEOUT_MS: u64 = 60_000;
/// `limits.max_connections`.
pub const MAX_CONNECTIONS: usize = 512;
/// `limits.archive_entries`: more files than any package of the public
/// registries ships (the largest npm tarballs hold a few tens of thousands).
pub const ARCHIVE_ENTRIES: usize = 50_000;
/// `limits.archive_inflated_mb`.
pub const ARCHIVE_INFLATED_MB: u64 = 512;
/// `limits.archive_ratio`: packages compress a few times, bombs a thousand.
pub const ARCHIVE_RATIO: u64 = 100;
/// `limits.manifest_bytes`.
pub const MANIFEST_BYTES: usize = 1 << 20;
/// `limits.sbom_documents`.
pub const SBOM_DOCUMENTS: usize = 100_000;
/// `limits.console_sessions`.
pub const CONSOLE_SESSIONS: usize = 64;
/// `limits.console_session_minutes`: a console session ends this long
/// after its sign-in (8 hours, a working day).
pub const CONSOLE_SESSION_MINUTES: u64 = 480;

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's configuration text names these defaults; each line
    /// below is what it must say for the constant's current value.
    #[test]
    fn the_readme_documents_these_defaults() {
        let readme = include_str!("../../../README.md");
        let minutes = |d: Duration| format!("{}m", d.as_secs() / 60);
        let hours = |d: Duration| format!("{}h", d.as_secs() / 3600);
        let documented = [
            format!("Listens on {LISTEN}"),
            format!("a layout under ./{DATA_DIR}"),
            format!("  ttl: {}", minutes(CACHE_TTL)),
            format!("max_stale: {}d", CACHE_MAX_STALE.as_secs() / 86_400),
            format!("max_metadata_mb: {CACHE_MAX_METADATA_MB}"),
            format!("max_artifact_mb: {CACHE_MAX_ARTIFACT_MB}"),
            format!("max_store_mb: {CACHE_MAX_STORE_MB}"),
            format!("deadline: {}", minutes(EGRESS_DEADLINE)),
            format!("min_rate_kib: {EGRESS_MIN_RATE_KIB}"),
            format!(
                "{} s and {} s by default",
                POLICY_TIMEOUT.as_secs(),
                ADAPTER_TIMEOUT.as_secs()
            ),
            format!("timeout_ms: {}", ADAPTER_TIMEOUT.as_millis()),
            format!("memory_mb: {ADAPTER_MEMORY_MB}"),
            format!(
                "`timeout_ms` and `memory_mb` ({} and {POLICY_MEMORY_MB} by\ndefault)",
                POLICY_TIMEOUT.as_millis()
            ),
            format!("interval: {}", hours(OSV_INTERVAL)),
            format!("max_age: {}", hours(OSV_MAX_AGE)),
            format!("live_ttl: {}", hours(OSV_LIVE_TTL)),
            format!("path: DATA_DIR/{AUDIT_FILE}"),
            format!("batch_ms: {}", AUDIT_BATCH_INTERVAL.as_millis()),
            format!("rotate_size: {}MiB", AUDIT_ROTATE_BYTES >> 20),
            format!("shutdown_grace: {}s", SHUTDOWN_GRACE.as_secs()),
        ];
        for line in documented {
            assert!(readme.contains(&line), "README.md should say {line:?}");
        }
    }
}
