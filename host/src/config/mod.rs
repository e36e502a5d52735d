//! `gatehouse.yaml`: where things live, which upstream each adapter uses, and
//! the limits. Every key can also be set by a `serve` flag; paths are relative
//! to the config file.
//!
//! [`Config`] is the file as written; [`Config::resolve`] turns it into the
//! one [`Settings`] the services are built from, with every default from
//! [`defaults`] applied and every duration parsed.

// Configuration is read once, at start-up.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use url::Url;

pub mod defaults;
mod limits;
mod settings;

pub use limits::Bounds;
pub use settings::{
    AdapterSettings, AuditSettings, Credentials, OsvSettings, Settings, SyncMode, UpstreamSettings,
};

/// One adapter's upstream and settings.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The registry this adapter proxies (npm registry root, PyPI simple index ...).
    pub url: Option<Url>,
    /// The adapter that serves it (its file stem); by default the entry's
    /// own name. `oci` upstreams are served under `/v2/{name}/`.
    pub format: Option<String>,
    /// What the upstream registry's token service takes, for private
    /// registries (sent to the token realm its bearer challenge names).
    pub credentials: Option<CredentialsConfig>,
    /// More origins artifacts may come from besides those upstream metadata names.
    #[serde(default)]
    pub origins: Vec<Url>,
    /// The adapter's own settings, passed to it as JSON.
    #[serde(default)]
    pub settings: Option<Value>,
    /// How long this adapter's metadata is used before revalidating (default: `cache.ttl`).
    pub ttl: Option<String>,
    /// Wall-clock budget of the adapter's call per request, host calls
    /// (upstream fetches, the gate) included.
    pub timeout_ms: Option<u64>,
    pub memory_mb: Option<usize>,
}

/// An upstream account: a user name, and where its password is read from
/// at start (never the config itself, never logged).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsConfig {
    pub username: String,
    /// The environment variable holding the password ...
    pub password_env: Option<String>,
    /// ... or a file holding it (trailing white space dropped).
    pub password_file: Option<PathBuf>,
}

/// The OSV mirror: where it syncs from, how often, and how old it may get.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OsvConfig {
    /// Base of an OSV bucket layout (`{base}/{Ecosystem}/all.zip`); default [`defaults::OSV_URL`].
    pub url: Option<String>,
    /// `false`: `serve` never syncs (fill the mirror with `gatehouse osv import`).
    pub sync: Option<bool>,
    /// How often `serve` syncs, e.g. `1h`.
    pub interval: Option<String>,
    /// OSV ecosystem names to sync and watch; default: those of the adapters
    /// in `adapters_dir` (none when `sync` is `false`).
    #[serde(default)]
    pub ecosystems: Vec<String>,
    /// Data older than this is stale, e.g. `24h`.
    pub max_age: Option<String>,
    /// An OSV-API-shaped service (`POST {live}/v1/querybatch`) asked about
    /// packages the mirror has no record for.
    pub live: Option<String>,
    /// How long a live answer is reused, e.g. `1h`.
    pub live_ttl: Option<String>,
}

/// Upstream cache behaviour.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Metadata younger than this is served without asking upstream (`5m`).
    pub ttl: Option<String>,
    /// How stale metadata may be when upstream is down (`7d`).
    pub max_stale: Option<String>,
    pub max_metadata_mb: Option<u64>,
    pub max_artifact_mb: Option<u64>,
    /// The artifact store's size limit; least recently served files are
    /// evicted past it (`20480` = 20 GiB, the default).
    pub max_store_mb: Option<u64>,
}

/// Where upstream bytes may come from besides configured upstreams, and how
/// long one upstream request may take.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// Address ranges (CIDR, e.g. `10.20.0.0/16`) that locations from upstream
    /// metadata may resolve to besides public addresses.
    #[serde(default)]
    pub allow: Vec<String>,
    /// The overall time one upstream request may take, redirects and body (`2m`) ...
    pub deadline: Option<String>,
    /// ... extended by a second per this many KiB of body received (`64`).
    pub min_rate_kib: Option<u64>,
}

/// A token as the config keeps it: a name and the sha256 of the secret.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub sha256: String,
}

/// Who may use the admin API.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
}

/// Optional authentication of package clients on the proxy routes.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsConfig {
    /// When true, proxy routes answer 401 without a valid token.
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
}

/// The audit log (`audit:`): where, how durably, rotation and retention.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The live log file (default: DATA_DIR/audit.log); rotated files and
    /// the index sit beside it.
    pub path: Option<PathBuf>,
    /// `always` (default): fsync before answering; `batch`: group commit
    /// every `batch_ms`, answers do not wait.
    pub sync: Option<SyncMode>,
    pub batch_ms: Option<u64>,
    /// Rotate the live file past this size: `256MiB` (default), `64KiB`, or
    /// `off`.
    pub rotate_size: Option<String>,
    /// Also rotate when the UTC day changes.
    #[serde(default)]
    pub rotate_daily: bool,
    /// Keep this many rotated files (default: all).
    pub keep: Option<usize>,
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub adapters_dir: Option<PathBuf>,
    pub policies_dir: Option<PathBuf>,
    pub gate_policy: Option<PathBuf>,
    /// The URL clients use to reach gatehouse (for rewritten artifact URLs);
    /// by default taken from each request's Host header.
    pub public_url: Option<Url>,
    /// Honour X-Forwarded-Proto/Host (only behind a trusted reverse proxy).
    #[serde(default)]
    pub trust_forwarded: bool,
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    #[serde(default)]
    pub osv: OsvConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub egress: EgressConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub clients: ClientsConfig,
    /// Caps on guest output, client requests and connections (see [`Bounds`]).
    #[serde(default)]
    pub limits: Bounds,
    #[serde(default)]
    pub audit: AuditConfig,
    /// How long in-flight requests may take to finish on shutdown (`30s`).
    pub shutdown_grace: Option<String>,
}

impl Config {
    /// Reads a config file and makes its paths absolute.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let mut config: Config =
            serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for upstream in config.upstreams.values_mut() {
            if let Some(url) = &mut upstream.url {
                *url = without_sparse_prefix(url);
            }
            if let Some(file) = upstream
                .credentials
                .as_mut()
                .and_then(|c| c.password_file.as_mut())
                .filter(|file| file.is_relative())
            {
                *file = base.join(&*file);
            }
        }
        for dir in [
            &mut config.data_dir,
            &mut config.adapters_dir,
            &mut config.policies_dir,
            &mut config.gate_policy,
            &mut config.audit.path,
        ]
        .into_iter()
        .flatten()
        {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        Ok(config)
    }
}

/// `url` without cargo's `sparse+` marker (`sparse+https://…` as cargo's own
/// config writes a sparse registry): the registry is the URL after it.
pub fn without_sparse_prefix(url: &Url) -> Url {
    url.as_str()
        .strip_prefix("sparse+")
        .and_then(|rest| Url::parse(rest).ok())
        .unwrap_or_else(|| url.clone())
}

pub fn parse_duration(key: &str, text: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(text.trim())
        .map_err(|e| anyhow::anyhow!("{key}: {text:?} is not a duration: {e}"))
}

/// A size such as `256MiB`, `64KiB`, `1GiB` or a number of bytes.
pub fn parse_size(key: &str, text: &str) -> anyhow::Result<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => anyhow::bail!("{key}: {text:?} is not a size (e.g. 256MiB)"),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| anyhow::anyhow!("{key}: {text:?} is not a size (e.g. 256MiB)"))?;
    number
        .checked_mul(1 << shift)
        .filter(|&bytes| bytes > 0)
        .ok_or_else(|| anyhow::anyhow!("{key}: {text:?} is out of range"))
}

/// Finds an upstream for `adapter` from the user's own client configuration,
/// so that `gatehouse serve` works with no config at all.
pub fn discover_upstream(adapter: &str) -> Option<(Url, &'static str)> {
    let run = |program: &str, args: &[&str]| -> Option<String> {
        let output = std::process::Command::new(program)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        output.status.success().then(|| text.trim().to_owned())
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (found, source) = match adapter {
        "npm" => (
            env("npm_config_registry").or_else(|| run("npm", &["config", "get", "registry"])),
            "npm's registry setting",
        ),
        "pypi" => (
            env("PIP_INDEX_URL")
                .or_else(|| {
                    run(
                        "python3",
                        &["-m", "pip", "config", "get", "global.index-url"],
                    )
                })
                .or_else(|| {
                    run(
                        "python3",
                        &[
                            "-c",
                            "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
                        ],
                    )
                }),
            "pip's index-url",
        ),
        "go" => (
            env("GOPROXY")
                .or_else(|| run("go", &["env", "GOPROXY"]))
                .and_then(|list| {
                    list.split([',', '|'])
                        .find(|entry| entry.starts_with("http"))
                        .map(str::to_owned)
                }),
            "go's GOPROXY",
        ),
        _ => (None, ""),
    };
    let url = Url::parse(found?.trim_end_matches('/')).ok()?;
    Some((url, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_sparse_urls_are_read_without_the_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gatehouse.yaml");
        std::fs::write(
            &path,
            "upstreams:\n  cargo:\n    url: sparse+http://127.0.0.1:9/index/\n",
        )
        .expect("write");
        let config = Config::load(&path).expect("loads");
        let url = config.upstreams["cargo"].url.as_ref().expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:9/index/");
    }

    fn osv(yaml: &str) -> anyhow::Result<OsvSettings> {
        serde_yaml::from_str::<OsvConfig>(yaml)
            .map_err(anyhow::Error::from)?
            .resolve()
    }

    #[test]
    fn osv_syncs_by_default_and_checks_its_keys() {
        let default = osv("{}").expect("defaults");
        assert_eq!(default.source.as_deref(), Some(defaults::OSV_URL));
        assert_eq!(default.interval, defaults::OSV_INTERVAL);
        assert_eq!(default.max_age, defaults::OSV_MAX_AGE);
        assert_eq!(default.live, None);
        assert_eq!(osv("sync: false").expect("off").source, None);
        let named = osv("ecosystems: [cargo, pypi]\nlive: http://127.0.0.1:1\nlive_ttl: 5m")
            .expect("named");
        assert_eq!(named.ecosystems, ["crates.io", "PyPI"]);
        assert_eq!(
            named.live,
            Some(("http://127.0.0.1:1".to_owned(), Duration::from_secs(300)))
        );
        let error = osv("ecosystems: [cobol]").expect_err("unknown").to_string();
        assert!(error.contains("osv.ecosystems"), "{error}");
        let error = osv("live: not a url").expect_err("bad url").to_string();
        assert!(error.contains("osv.live"), "{error}");
        let error = osv("max_age: soon").expect_err("bad duration").to_string();
        assert!(error.contains("osv.max_age"), "{error}");
    }

    #[test]
    fn an_empty_config_resolves_to_the_defaults() {
        let settings = Config::default().resolve().expect("defaults");
        assert_eq!(settings.listen.to_string(), defaults::LISTEN);
        let data_dir = Path::new(defaults::DATA_DIR);
        assert_eq!(settings.data_dir, data_dir);
        assert_eq!(settings.adapters_dir, data_dir.join(defaults::ADAPTERS_DIR));
        assert_eq!(settings.audit_path, data_dir.join(defaults::AUDIT_FILE));
        assert_eq!(settings.upstream.ttl, defaults::CACHE_TTL);
        assert_eq!(settings.upstream.deadline, defaults::EGRESS_DEADLINE);
        assert_eq!(settings.max_store_bytes, defaults::CACHE_MAX_STORE_MB << 20);
        assert_eq!(settings.shutdown_grace, defaults::SHUTDOWN_GRACE);
        assert_eq!(settings.limits, Bounds::default());
    }

    #[test]
    fn adapter_settings_resolve_with_their_keys_named() {
        let config: Config = serde_yaml::from_str(
            "upstreams:\n  npm: {ttl: 1m, timeout_ms: 500}\n  pypi: {memory_mb: 64}\n  hub: {format: oci}\n",
        )
        .expect("parses");
        let settings = config.resolve().expect("resolves");
        let npm = &settings.adapters["npm"];
        assert_eq!(npm.ttl, Some(Duration::from_secs(60)));
        assert_eq!(npm.timeout, Duration::from_millis(500));
        assert_eq!(npm.memory_bytes, defaults::ADAPTER_MEMORY_MB << 20);
        assert_eq!(npm.settings, "{}");
        assert_eq!(npm.format, "npm", "served by the adapter of its name");
        assert_eq!(settings.adapters["hub"].format, "oci");
        let pypi = &settings.adapters["pypi"];
        assert_eq!((pypi.ttl, pypi.timeout), (None, defaults::ADAPTER_TIMEOUT));
        assert_eq!(pypi.memory_bytes, 64 << 20);
        let config: Config =
            serde_yaml::from_str("upstreams:\n  npm: {ttl: soon}\n").expect("parses");
        let error = config.resolve().expect_err("bad ttl").to_string();
        assert!(error.contains("upstreams.npm.ttl"), "{error}");
    }
}
