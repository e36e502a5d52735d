//! `gatehouse init`: a working layout with the default components, which are
//! embedded in the binary at build time.

use std::path::Path;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}

pub use embedded::{ADAPTERS, POLICIES};

pub const CONFIG_FILE: &str = "gatehouse.yaml";

const DEFAULT_CONFIG: &str = r#"# gatehouse configuration. Relative paths are relative to this file.
listen: 127.0.0.1:8080
data_dir: .
adapters_dir: adapters
policies_dir: policies
gate_policy: gate-policy.yaml

# One entry per adapter (the adapter's file stem is its route: adapters/npm.wasm
# serves /npm/). Without a url, gatehouse takes the upstream from the client's
# own configuration (npm's registry, pip's index-url, go's GOPROXY).
upstreams:
  npm: {}
  pypi: {}
#  cargo:
#    url: <sparse index URL>
#  npm:
#    settings:
#      blocked_versions: deprecate

# The OSV mirror's feed (an OSV bucket layout: {url}/{Ecosystem}/all.zip).
# osv:
#   url: <OSV bucket base URL>
#   interval: 1h
#   ecosystems: [npm, PyPI, crates.io, Go, Maven]

# cache:
#   ttl: 5m          # metadata younger than this is not revalidated
#   max_stale: 7d    # serve cached metadata this long when upstream is down
"#;

const DEFAULT_GATE_POLICY: &str = r#"# Which rules apply, and how. `default` applies everywhere; a section named
# after an ecosystem (npm, pypi, cargo, go, maven) overrides it key by key.
# Host keys for any policy: enabled, mode (enforce | warn | dry-run),
# on_error (block | allow), timeout_ms, memory_mb.
policies:
  default:
    malicious:
      action: block
    vulnerability:
      block_severity: critical
      warn_severity: high
    license:
      warn: [GPL-2.0, GPL-3.0, AGPL-3.0, SSPL-1.0, EUPL-1.2, OSL-3.0]
    install-scripts:
      action: warn
    # min-age:
    #   min_age: 7d
    deny-list:
      packages: []
    typosquat:
      enabled: false
    review:
      require: false
"#;

/// Writes the default layout into `dir`; existing files are kept unless `force`.
pub fn write_layout(dir: &Path, force: bool) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    let mut write = |relative: String, bytes: &[u8]| -> anyhow::Result<()> {
        let path = dir.join(&relative);
        if path.exists() && !force {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        written.push(relative);
        Ok(())
    };
    write(CONFIG_FILE.into(), DEFAULT_CONFIG.as_bytes())?;
    write("gate-policy.yaml".into(), DEFAULT_GATE_POLICY.as_bytes())?;
    for (name, bytes) in ADAPTERS {
        write(format!("adapters/{name}.wasm"), bytes)?;
    }
    for (name, bytes) in POLICIES {
        write(format!("policies/{name}.wasm"), bytes)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_files_parse() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = write_layout(dir.path(), false).expect("writes");
        assert!(written.contains(&"gatehouse.yaml".to_owned()));
        crate::config::Config::load(&dir.path().join(CONFIG_FILE)).expect("config parses");
        crate::gate_policy::GatePolicy::load(&dir.path().join("gate-policy.yaml"))
            .expect("gate policy parses");
        assert!(
            write_layout(dir.path(), false)
                .expect("idempotent")
                .is_empty()
        );
    }
}
