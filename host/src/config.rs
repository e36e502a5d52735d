//! `gatehouse.yaml`: where things live, which upstream each adapter uses, and
//! the limits. Every key can also be set by a `serve` flag; paths are relative
//! to the config file.

// Configuration is read once, at start-up.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::upstream::UpstreamSettings;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// One adapter's upstream and settings.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The registry this adapter proxies (npm registry root, PyPI simple index ...).
    pub url: Option<Url>,
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

/// The public OSV data set's bucket (`{base}/{Ecosystem}/all.zip`): advisory
/// data, not a package registry, so it may be a default.
pub const DEFAULT_OSV_URL: &str = "https://osv-vulnerabilities.storage.googleapis.com";
/// How often `serve` syncs the mirror.
pub const DEFAULT_OSV_INTERVAL: Duration = Duration::from_secs(3600);
/// Advisory data older than this is stale (`/healthz` degraded, `on_stale` applies).
pub const DEFAULT_OSV_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long a live-fallback answer is reused.
pub const DEFAULT_OSV_LIVE_TTL: Duration = Duration::from_secs(3600);

/// The OSV mirror: where it syncs from, how often, and how old it may get.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OsvConfig {
    /// Base of an OSV bucket layout (`{base}/{Ecosystem}/all.zip`); default [`DEFAULT_OSV_URL`].
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

/// [`OsvConfig`] with its defaults applied and its durations parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct OsvSettings {
    /// The bucket `serve` syncs from; `None` when sync is off.
    pub source: Option<String>,
    pub interval: Duration,
    /// Ecosystems named in the config (OSV spelling); empty means "the adapters'".
    pub ecosystems: Vec<String>,
    pub max_age: Duration,
    /// The live fallback's base URL and answer TTL.
    pub live: Option<(String, Duration)>,
}

impl OsvConfig {
    pub fn settings(&self) -> anyhow::Result<OsvSettings> {
        let duration = |key: &str, text: &Option<String>, default: Duration| {
            text.as_deref().map_or(Ok(default), |text| {
                parse_duration(&format!("osv.{key}"), text)
            })
        };
        let ecosystems = self
            .ecosystems
            .iter()
            .map(|name| {
                crate::ecosystem::canonical_ecosystem(name)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "osv.ecosystems: unknown ecosystem {name:?} (npm, PyPI, crates.io, Go, Maven)"
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        for (key, url) in [("url", &self.url), ("live", &self.live)] {
            if let Some(url) = url {
                Url::parse(url).map_err(|e| anyhow::anyhow!("osv.{key}: {url:?}: {e}"))?;
            }
        }
        Ok(OsvSettings {
            source: self.sync.unwrap_or(true).then(|| {
                self.url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_OSV_URL.to_owned())
            }),
            interval: duration("interval", &self.interval, DEFAULT_OSV_INTERVAL)?,
            ecosystems,
            max_age: duration("max_age", &self.max_age, DEFAULT_OSV_MAX_AGE)?,
            live: match &self.live {
                Some(url) => Some((
                    url.clone(),
                    duration("live_ttl", &self.live_ttl, DEFAULT_OSV_LIVE_TTL)?,
                )),
                None => None,
            },
        })
    }
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
    pub sync: Option<crate::audit::SyncMode>,
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

impl AuditConfig {
    pub fn settings(&self) -> anyhow::Result<crate::audit::AuditSettings> {
        let defaults = crate::audit::AuditSettings::default();
        let rotate_bytes = match self.rotate_size.as_deref().map(str::trim) {
            None => defaults.rotate_bytes,
            Some("off") => None,
            Some(text) => Some(parse_size("audit.rotate_size", text)?),
        };
        anyhow::ensure!(
            self.keep != Some(0),
            "audit.keep: 0 would remove every rotated file; leave it out to keep them all"
        );
        Ok(crate::audit::AuditSettings {
            sync: self.sync.unwrap_or(defaults.sync),
            batch_interval: self
                .batch_ms
                .map_or(defaults.batch_interval, Duration::from_millis),
            rotate_bytes,
            rotate_daily: self.rotate_daily,
            keep_files: self.keep,
        })
    }
}

/// How long `serve` lets in-flight requests finish after SIGTERM or SIGINT.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

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
    /// Caps on guest output, client requests and connections (see [`crate::bounds`]).
    #[serde(default)]
    pub limits: crate::bounds::Bounds,
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
        for upstream in config.upstreams.values_mut() {
            if let Some(url) = &mut upstream.url {
                *url = without_sparse_prefix(url);
            }
        }
        let base = path.parent().unwrap_or(Path::new("."));
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

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("gatehouse-data"))
    }

    pub fn adapters_dir(&self) -> PathBuf {
        self.adapters_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("adapters"))
    }

    pub fn policies_dir(&self) -> PathBuf {
        self.policies_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("policies"))
    }

    pub fn gate_policy(&self) -> PathBuf {
        self.gate_policy
            .clone()
            .unwrap_or_else(|| self.data_dir().join("gate-policy.yaml"))
    }

    pub fn audit_path(&self) -> PathBuf {
        self.audit
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir().join(crate::audit::DEFAULT_FILE))
    }

    pub fn shutdown_grace(&self) -> anyhow::Result<Duration> {
        self.shutdown_grace
            .as_deref()
            .map_or(Ok(DEFAULT_SHUTDOWN_GRACE), |text| {
                parse_duration("shutdown_grace", text)
            })
    }

    pub fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address"))
    }

    pub fn upstream_settings(&self) -> anyhow::Result<UpstreamSettings> {
        let mut settings = UpstreamSettings::default();
        if let Some(ttl) = &self.cache.ttl {
            settings.ttl = parse_duration("cache.ttl", ttl)?;
        }
        if let Some(stale) = &self.cache.max_stale {
            settings.max_stale = parse_duration("cache.max_stale", stale)?;
        }
        if let Some(mb) = self.cache.max_metadata_mb {
            settings.max_metadata_bytes = mb << 20;
        }
        if let Some(mb) = self.cache.max_artifact_mb {
            settings.max_artifact_bytes = mb << 20;
        }
        if let Some(deadline) = &self.egress.deadline {
            settings.deadline = parse_duration("egress.deadline", deadline)?;
        }
        if let Some(kib) = self.egress.min_rate_kib {
            anyhow::ensure!(kib > 0, "egress.min_rate_kib must be at least 1");
            settings.min_rate = kib << 10;
        }
        settings.allow = self
            .egress
            .allow
            .iter()
            .map(|range| {
                range.trim().parse().map_err(|e| {
                    anyhow::anyhow!("egress.allow: {range:?} is not an address range (CIDR): {e}")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(settings)
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
            .settings()
    }

    #[test]
    fn osv_syncs_by_default_and_checks_its_keys() {
        let defaults = osv("{}").expect("defaults");
        assert_eq!(defaults.source.as_deref(), Some(DEFAULT_OSV_URL));
        assert_eq!(defaults.interval, DEFAULT_OSV_INTERVAL);
        assert_eq!(defaults.max_age, DEFAULT_OSV_MAX_AGE);
        assert_eq!(defaults.live, None);
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
}
