//! The configuration resolved: [`Config::resolve`] applies every default
//! ([`super::defaults`]), parses every duration, size and address range and
//! checks every key once, into one [`Settings`] that the services take as
//! plain input. A mistake is reported before anything starts, naming its key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::defaults;
use super::{
    AuditConfig, Bounds, Config, CredentialsConfig, OsvConfig, TokenConfig, parse_duration,
    parse_size,
};
use crate::ecosystem::canonical_ecosystem;

/// Everything `gatehouse.yaml` (and the flags over it) says, with the
/// defaults applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub adapters_dir: PathBuf,
    pub policies_dir: PathBuf,
    pub gate_policy: PathBuf,
    /// The URL clients use to reach gatehouse; by default each request's Host.
    pub public_url: Option<Url>,
    pub trust_forwarded: bool,
    /// Per adapter (by route name): its upstream and call limits.
    pub adapters: BTreeMap<String, AdapterSettings>,
    /// The shared upstream client and metadata cache (`cache:`, `egress:`).
    pub upstream: UpstreamSettings,
    /// The artifact store's size limit.
    pub max_store_bytes: u64,
    pub osv: OsvSettings,
    /// `osv.url` as configured, which a hand-run `osv sync` uses even with
    /// `osv.sync: false`.
    pub osv_url: Option<String>,
    pub admin_tokens: Vec<TokenConfig>,
    pub client_tokens: Vec<TokenConfig>,
    /// Proxy routes answer 401 without a valid client token.
    pub clients_required: bool,
    pub limits: Bounds,
    pub audit_path: PathBuf,
    pub audit: AuditSettings,
    pub shutdown_grace: Duration,
}

/// An upstream account, its password read at start; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, password hidden)", self.username)
    }
}

impl CredentialsConfig {
    /// The account, its password read from the variable or file named;
    /// `key` names the config entry in errors.
    fn resolve(&self, key: &str) -> anyhow::Result<Credentials> {
        let password = match (&self.password_env, &self.password_file) {
            (Some(variable), None) => std::env::var(variable).map_err(|_| {
                anyhow::anyhow!("{key}.password_env: the variable {variable} is not set")
            })?,
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("{key}.password_file: {}: {e}", file.display()))?
                .trim_end()
                .to_owned(),
            _ => anyhow::bail!("{key}: name the password with password_env or password_file"),
        };
        Ok(Credentials {
            username: self.username.clone(),
            password,
        })
    }
}

/// One adapter's upstream and call limits (`upstreams.NAME`).
#[derive(Debug, Clone)]
pub struct AdapterSettings {
    /// The adapter serving this upstream (`format`, by default the name).
    pub format: String,
    /// What the registry's token service takes, when configured.
    pub credentials: Option<Credentials>,
    /// `None`: taken from the user's client configuration when serving
    /// ([`super::discover_upstream`]).
    pub url: Option<Url>,
    pub origins: Vec<Url>,
    /// The adapter's own settings, as JSON text.
    pub settings: String,
    /// This adapter's metadata TTL; `None` is `cache.ttl`.
    pub ttl: Option<Duration>,
    /// The wall-clock budget of one call, host calls included.
    pub timeout: Duration,
    pub memory_bytes: usize,
}

/// Limits and timings for upstream traffic.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Metadata younger than this is served without asking upstream.
    pub ttl: Duration,
    /// How old cached metadata may be and still be served when upstream is down.
    pub max_stale: Duration,
    /// The largest metadata body accepted (after decompression).
    pub max_metadata_bytes: u64,
    /// The largest artifact accepted.
    pub max_artifact_bytes: u64,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// The overall time one upstream request may take (redirects and body) ...
    pub deadline: Duration,
    /// ... plus one second per this many bytes of body received.
    pub min_rate: u64,
    /// Address ranges learned origins may resolve to besides public ones.
    pub allow: Vec<ipnet::IpNet>,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            ttl: defaults::CACHE_TTL,
            max_stale: defaults::CACHE_MAX_STALE,
            max_metadata_bytes: defaults::CACHE_MAX_METADATA_MB << 20,
            max_artifact_bytes: defaults::CACHE_MAX_ARTIFACT_MB << 20,
            connect_timeout: defaults::UPSTREAM_CONNECT_TIMEOUT,
            read_timeout: defaults::UPSTREAM_READ_TIMEOUT,
            deadline: defaults::EGRESS_DEADLINE,
            min_rate: defaults::EGRESS_MIN_RATE_KIB << 10,
            allow: Vec::new(),
        }
    }
}

/// The OSV mirror's settings (`osv:`).
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

/// When appended audit records reach the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync before a request that appended records is answered (group
    /// commit: one fsync covers every request waiting at that moment).
    #[default]
    Always,
    /// Write and fsync at most every `batch_ms`; answers do not wait, so a
    /// power loss can lose up to that much.
    Batch,
}

/// How the audit log is written, rotated and kept (`audit:`).
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub sync: SyncMode,
    pub batch_interval: Duration,
    /// Rotate once the live file reaches this size.
    pub rotate_bytes: Option<u64>,
    /// Rotate when the UTC day changes.
    pub rotate_daily: bool,
    /// Keep at most this many rotated files (all when `None`).
    pub keep_files: Option<usize>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            sync: SyncMode::default(),
            batch_interval: defaults::AUDIT_BATCH_INTERVAL,
            rotate_bytes: Some(defaults::AUDIT_ROTATE_BYTES),
            rotate_daily: false,
            keep_files: None,
        }
    }
}

impl Config {
    /// The settings this config stands for, or the first mistake in it.
    pub fn resolve(&self) -> anyhow::Result<Settings> {
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(defaults::DATA_DIR));
        let in_data_dir = |path: &Option<PathBuf>, default: &str| {
            path.clone().unwrap_or_else(|| data_dir.join(default))
        };
        Ok(Settings {
            listen: self
                .listen
                .unwrap_or_else(|| defaults::LISTEN.parse().expect("valid default address")),
            adapters_dir: in_data_dir(&self.adapters_dir, defaults::ADAPTERS_DIR),
            policies_dir: in_data_dir(&self.policies_dir, defaults::POLICIES_DIR),
            gate_policy: in_data_dir(&self.gate_policy, defaults::GATE_POLICY_FILE),
            audit_path: in_data_dir(&self.audit.path, defaults::AUDIT_FILE),
            public_url: self.public_url.clone(),
            trust_forwarded: self.trust_forwarded,
            adapters: self.adapters()?,
            upstream: self.upstream()?,
            max_store_bytes: self
                .cache
                .max_store_mb
                .unwrap_or(defaults::CACHE_MAX_STORE_MB)
                << 20,
            osv: self.osv.resolve()?,
            osv_url: self.osv.url.clone(),
            admin_tokens: self.admin.tokens.clone(),
            client_tokens: self.clients.tokens.clone(),
            clients_required: self.clients.required,
            limits: self.limits,
            audit: self.audit.resolve()?,
            shutdown_grace: self
                .shutdown_grace
                .as_deref()
                .map_or(Ok(defaults::SHUTDOWN_GRACE), |text| {
                    parse_duration("shutdown_grace", text)
                })?,
            data_dir,
        })
    }

    fn adapters(&self) -> anyhow::Result<BTreeMap<String, AdapterSettings>> {
        self.upstreams
            .iter()
            .map(|(name, upstream)| {
                let ttl = upstream
                    .ttl
                    .as_deref()
                    .map(|ttl| parse_duration(&format!("upstreams.{name}.ttl"), ttl))
                    .transpose()?;
                let adapter = AdapterSettings {
                    format: upstream.format.clone().unwrap_or_else(|| name.clone()),
                    credentials: upstream
                        .credentials
                        .as_ref()
                        .map(|c| c.resolve(&format!("upstreams.{name}.credentials")))
                        .transpose()?,
                    url: upstream.url.clone(),
                    origins: upstream.origins.clone(),
                    settings: upstream
                        .settings
                        .clone()
                        .unwrap_or_else(|| serde_json::json!({}))
                        .to_string(),
                    ttl,
                    timeout: upstream
                        .timeout_ms
                        .map_or(defaults::ADAPTER_TIMEOUT, Duration::from_millis),
                    memory_bytes: upstream.memory_mb.unwrap_or(defaults::ADAPTER_MEMORY_MB) << 20,
                };
                Ok((name.clone(), adapter))
            })
            .collect()
    }

    fn upstream(&self) -> anyhow::Result<UpstreamSettings> {
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

impl OsvConfig {
    pub(super) fn resolve(&self) -> anyhow::Result<OsvSettings> {
        let duration = |key: &str, text: &Option<String>, default: Duration| {
            text.as_deref().map_or(Ok(default), |text| {
                parse_duration(&format!("osv.{key}"), text)
            })
        };
        let ecosystems = self
            .ecosystems
            .iter()
            .map(|name| {
                canonical_ecosystem(name).map(str::to_owned).ok_or_else(|| {
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
                    .unwrap_or_else(|| defaults::OSV_URL.to_owned())
            }),
            interval: duration("interval", &self.interval, defaults::OSV_INTERVAL)?,
            ecosystems,
            max_age: duration("max_age", &self.max_age, defaults::OSV_MAX_AGE)?,
            live: match &self.live {
                Some(url) => Some((
                    url.clone(),
                    duration("live_ttl", &self.live_ttl, defaults::OSV_LIVE_TTL)?,
                )),
                None => None,
            },
        })
    }
}

impl AuditConfig {
    fn resolve(&self) -> anyhow::Result<AuditSettings> {
        let defaults = AuditSettings::default();
        let rotate_bytes = match self.rotate_size.as_deref().map(str::trim) {
            None => defaults.rotate_bytes,
            Some("off") => None,
            Some(text) => Some(parse_size("audit.rotate_size", text)?),
        };
        anyhow::ensure!(
            self.keep != Some(0),
            "audit.keep: 0 would remove every rotated file; leave it out to keep them all"
        );
        Ok(AuditSettings {
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
