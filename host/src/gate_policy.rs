//! The gate-policy file: which settings each policy gets, per ecosystem.
//!
//! Shape (Stout's): `policies: {default: {<policy>: {...}}, <ecosystem>: {<policy>: {...}}}`.
//! A policy's settings are its `default` block merged key by key with the block
//! of the batch's ecosystem. The host keeps `mode`, `on_error`, `on_stale`,
//! `timeout_ms`, `memory_mb` and `enabled` for itself and passes the rest to
//! the component. One block is the host's, not a policy's: `sbom` (Stout's
//! `sbom: {require: true}`), see [`GatePolicy::sbom_required`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::defaults;

/// What the host does with a policy's verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Blocks block.
    Enforce,
    /// Blocks become warnings.
    Warn,
    /// Blocks are recorded as "would block" and the version passes.
    DryRun,
}

/// What a failing policy (trap, deadline, memory, bad answer) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    Block,
    Allow,
}

/// What a policy that reads advisories (imports `osv`) stands for while its
/// ecosystem's advisory data is stale or missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnStale {
    /// Every version is blocked (fail closed).
    Block,
    /// Versions it allows get a warning when installed or checked (metadata
    /// listings are left alone: one warning per listed version is noise).
    Warn,
    /// Its verdicts stand as they are.
    Allow,
}

impl OnStale {
    pub fn name(self) -> &'static str {
        match self {
            OnStale::Block => "block",
            OnStale::Warn => "warn",
            OnStale::Allow => "allow",
        }
    }
}

/// The host's controls for one policy in one ecosystem.
#[derive(Debug, Clone, PartialEq)]
pub struct Controls {
    pub enabled: bool,
    pub mode: Mode,
    pub on_error: OnError,
    pub on_stale: OnStale,
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl Default for Controls {
    fn default() -> Self {
        Controls {
            enabled: true,
            mode: Mode::Enforce,
            on_error: OnError::Block,
            on_stale: OnStale::Warn,
            timeout: defaults::POLICY_TIMEOUT,
            memory_bytes: defaults::POLICY_MEMORY_MB << 20,
        }
    }
}

const HOST_KEYS: [&str; 6] = [
    "mode",
    "on_error",
    "on_stale",
    "timeout_ms",
    "memory_mb",
    "enabled",
];

/// The block of the gate-policy file that is the host's own.
const SBOM: &str = "sbom";

/// `sbom:` in a section.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SbomSettings {
    /// An artifact whose SBOM cannot be produced (its archive or manifest
    /// could not be read within bounds) is blocked.
    #[serde(default)]
    require: Option<bool>,
}

/// A parsed gate-policy file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatePolicy {
    /// Section name (`default`, `npm`, `pypi` ...) → policy name → settings.
    sections: BTreeMap<String, Map<String, Value>>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatePolicyError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl GatePolicy {
    // A small YAML file, read at start-up and when it changes.
    #[allow(clippy::disallowed_methods)]
    pub fn load(path: &Path) -> Result<Self, GatePolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| GatePolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| GatePolicyError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses the YAML text and checks every host key.
    pub fn parse(text: &str) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            policies: BTreeMap<String, Option<Map<String, Value>>>,
        }
        if text.trim().is_empty() {
            return Ok(GatePolicy::default());
        }
        let file: File = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut sections = BTreeMap::new();
        for (section, policies) in file.policies {
            let policies = policies.unwrap_or_default();
            for (policy, settings) in &policies {
                if policy == SBOM {
                    sbom_settings(settings)
                        .map_err(|e| format!("policies.{section}.{SBOM}: {e}"))?;
                    continue;
                }
                let Value::Object(settings) = settings else {
                    if settings.is_null() {
                        continue;
                    }
                    return Err(format!("policies.{section}.{policy} must be a mapping"));
                };
                controls_from(settings, Controls::default())
                    .map_err(|e| format!("policies.{section}.{policy}: {e}"))?;
            }
            sections.insert(section.to_lowercase(), policies);
        }
        Ok(GatePolicy { sections })
    }

    /// Every policy name the file mentions (to warn about names no component has).
    pub fn policy_names(&self) -> impl Iterator<Item = &str> {
        self.sections
            .values()
            .flat_map(|section| section.keys().map(String::as_str))
            .filter(|name| *name != SBOM)
    }

    /// Whether `sbom: {require: true}` applies in `ecosystem` (its section
    /// overriding `default`).
    pub fn sbom_required(&self, ecosystem: &str) -> bool {
        ["default".to_owned(), section_name(ecosystem)]
            .iter()
            .filter_map(|section| self.sections.get(section)?.get(SBOM))
            .filter_map(|block| sbom_settings(block).ok()?.require)
            .next_back()
            .unwrap_or(false)
    }

    /// Whether the file has a block for `policy` that applies in `ecosystem`
    /// (in `default` or in the ecosystem's section).
    pub fn configures(&self, policy: &str, ecosystem: &str) -> bool {
        ["default".to_owned(), section_name(ecosystem)]
            .iter()
            .any(|section| {
                self.sections
                    .get(section)
                    .and_then(|s| s.get(policy))
                    .is_some_and(|block| !block.is_null())
            })
    }

    /// The controls and the component's settings JSON for `policy` in `ecosystem`.
    pub fn settings_for(&self, policy: &str, ecosystem: &str) -> (Controls, String) {
        let mut merged = Map::new();
        for section in ["default".to_owned(), section_name(ecosystem)] {
            if let Some(Some(Value::Object(block))) =
                self.sections.get(&section).map(|s| s.get(policy))
            {
                for (key, value) in block {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
        // Validated at parse time; a failure here cannot happen, but stay closed.
        let controls = controls_from(&merged, Controls::default()).unwrap_or(Controls {
            on_error: OnError::Block,
            ..Controls::default()
        });
        for key in HOST_KEYS {
            merged.remove(key);
        }
        (controls, Value::Object(merged).to_string())
    }
}

/// The gate-policy section for an OSV ecosystem name (`PyPI` → `pypi`, `crates.io` → `cargo`).
fn section_name(ecosystem: &str) -> String {
    match ecosystem {
        "crates.io" => "cargo".into(),
        other => other.to_lowercase(),
    }
}

fn sbom_settings(block: &Value) -> Result<SbomSettings, String> {
    if block.is_null() {
        return Ok(SbomSettings::default());
    }
    serde_json::from_value(block.clone()).map_err(|e| e.to_string())
}

fn controls_from(
    settings: &Map<String, Value>,
    mut controls: Controls,
) -> Result<Controls, String> {
    fn parse<T: serde::de::DeserializeOwned>(key: &str, value: &Value) -> Result<T, String> {
        serde_json::from_value(value.clone()).map_err(|e| format!("{key}: {e}"))
    }
    if let Some(v) = settings.get("enabled") {
        controls.enabled = parse("enabled", v)?;
    }
    if let Some(v) = settings.get("mode") {
        controls.mode = parse("mode", v)?;
    }
    if let Some(v) = settings.get("on_error") {
        controls.on_error = parse("on_error", v)?;
    }
    if let Some(v) = settings.get("on_stale") {
        controls.on_stale = parse("on_stale", v)?;
    }
    if let Some(v) = settings.get("timeout_ms") {
        controls.timeout = Duration::from_millis(parse::<u64>("timeout_ms", v)?.max(1));
    }
    if let Some(v) = settings.get("memory_mb") {
        controls.memory_bytes = parse::<usize>("memory_mb", v)?.max(1) << 20;
    }
    Ok(controls)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOUT: &str = r#"
policies:
  default:
    vulnerability:
      block_severity: critical
      warn_severity: high
    license:
      deny: [AGPL-3.0, SSPL-1.0, BUSL-1.1]
    sbom:
      require: true
  npm:
    vulnerability:
      block_severity: high
      mode: dry-run
      timeout_ms: 50
  oci:
    review:
      require: false
"#;

    /// The example gate-policy file of the Stout seed, verbatim.
    const STOUT_SEED: &str = r#"# gate-policy.yaml
policies:
  default:
    vulnerability:
      block_severity: critical    # block critical CVEs
      warn_severity: high         # warn on high CVEs
    license:
      deny: [AGPL-3.0, SSPL-1.0, BUSL-1.1]
      warn: [GPL-3.0]
    review:
      require: false              # don't require community reviews
    sbom:
      require: true               # generate SBOM for every package

  npm:
    vulnerability:
      block_severity: high        # stricter for npm
    review:
      require: true
      min_score: 3.0              # minimum review score to pass gate

  oci:
    vulnerability:
      block_severity: critical
    review:
      require: false
"#;

    #[test]
    fn stout_seed_file_loads_unchanged() {
        let policy = GatePolicy::parse(STOUT_SEED).expect("the seed's file parses");
        let names: std::collections::BTreeSet<_> = policy.policy_names().collect();
        assert!(
            !names.contains("sbom"),
            "sbom is the host's block, not a policy's"
        );
        assert!(policy.sbom_required("npm") && policy.sbom_required("PyPI"));
        let off = GatePolicy::parse(
            "policies:\n  default:\n    sbom: {require: true}\n  pypi:\n    sbom: {require: false}\n",
        )
        .expect("parses");
        assert!(off.sbom_required("npm") && !off.sbom_required("PyPI"));
        let typo = GatePolicy::parse("policies:\n  default:\n    sbom: {requre: true}\n");
        assert!(typo.unwrap_err().contains("policies.default.sbom"));
        let settings: Value =
            serde_json::from_str(&policy.settings_for("review", "npm").1).expect("json");
        assert_eq!(settings["require"], true);
        assert_eq!(settings["min_score"], 3.0);
    }

    #[test]
    fn merges_default_with_ecosystem_and_strips_host_keys() {
        let policy = GatePolicy::parse(STOUT).expect("parses");
        let (controls, settings) = policy.settings_for("vulnerability", "npm");
        assert_eq!(controls.mode, Mode::DryRun);
        assert_eq!(controls.timeout, Duration::from_millis(50));
        let settings: Value = serde_json::from_str(&settings).expect("json");
        assert_eq!(settings["block_severity"], "high");
        assert_eq!(settings["warn_severity"], "high");
        assert!(settings.get("mode").is_none());

        let (controls, settings) = policy.settings_for("vulnerability", "PyPI");
        assert_eq!(controls.mode, Mode::Enforce);
        assert_eq!(controls.on_stale, OnStale::Warn);
        assert!(settings.contains("critical"));
        assert_eq!(policy.settings_for("unknown", "npm").1, "{}");
        assert!(policy.configures("vulnerability", "PyPI"));
        assert!(policy.configures("review", "oci") && !policy.configures("review", "npm"));
    }

    #[test]
    fn bad_host_keys_are_errors() {
        let err =
            GatePolicy::parse("policies:\n  default:\n    x:\n      mode: loud\n").unwrap_err();
        assert!(err.contains("policies.default.x: mode"), "{err}");
        let err = GatePolicy::parse("policies:\n  default:\n    x:\n      on_stale: maybe\n")
            .unwrap_err();
        assert!(err.contains("policies.default.x: on_stale"), "{err}");
        assert!(GatePolicy::parse("polices: {}").is_err());
        assert_eq!(GatePolicy::parse("").expect("empty"), GatePolicy::default());
    }
}
