//! `gatehouse init`: a working layout with the default components, which are
//! embedded in the binary at build time.

// Writing a layout is a one-shot command (or start-up, before serving).
#![allow(clippy::disallowed_methods)]

use std::path::Path;

use crate::components::{ADAPTERS, POLICIES};

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
#  maven:
#    url: <Maven repository root URL>
#  npm:
#    ttl: 1m          # this adapter's metadata TTL (default: cache.ttl)
#    settings:
#      blocked_versions: deprecate

# The OSV advisory mirror. `serve` syncs the public OSV data set for the
# ecosystems of the adapters in adapters_dir, at start and every interval, in
# the background; `gatehouse osv status` shows what it holds.
osv:
  interval: 1h
  max_age: 24h     # older (or missing) data is stale: /healthz says degraded
                   # and the policies that read advisories apply on_stale
#  url: <OSV bucket base URL>     # {url}/{Ecosystem}/all.zip; default: OSV's public bucket
#  ecosystems: [npm, PyPI, crates.io, Go, Maven]   # default: the adapters'
#  sync: false                    # never sync; fill the mirror with `gatehouse osv import`
#  live: <OSV API base URL>       # ask POST {live}/v1/querybatch about packages the mirror lacks
#  live_ttl: 1h                   # how long a live answer is reused

# cache:
#   ttl: 5m          # metadata younger than this is not revalidated
#   max_stale: 7d    # serve cached metadata this long when upstream is down
#   max_store_mb: 20480  # artifact store size; least recently served evicted

# Package clients may be required to authenticate (npm _authToken, pip/uv
# user:token@ in the index URL, cargo registry token, go/Maven basic auth).
# `gatehouse token new NAME --client` prints a token and its entry.
# clients:
#   required: true
#   tokens:
#     - name: alice
#       sha256: <sha256 of the token>

# Caps on what components and clients can make gatehouse do (the README's
# Limits table lists them all).
# limits:
#   reason_bytes: 1024
#   decide_queries: 1000
#   header_read_timeout_ms: 10000
#   max_connections: 512

# Admin API tokens (Authorization: Bearer; also the sign-in of the console at
# /console/). `gatehouse init` made the first one and wrote it to admin-token;
# `gatehouse token new NAME` prints more.
"#;

/// The file `init` writes the first admin token to (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

const DEFAULT_GATE_POLICY: &str = r#"# Which rules apply, and how. `default` applies everywhere; a section named
# after an ecosystem (npm, pypi, cargo, go, maven) overrides it key by key.
# Host keys for any policy: enabled, mode (enforce | warn | dry-run),
# on_error (block | allow), timeout_ms, memory_mb, and for policies that read
# advisories, on_stale (block | warn | allow): what they stand for while their
# ecosystem's OSV data is missing or older than osv.max_age. A policy
# configured here whose component is missing or fails to load blocks (fail
# closed) unless its on_error is allow; remove its block to retire it.
policies:
  default:
    malicious:
      action: block
      on_stale: warn
    vulnerability:
      block_severity: critical
      warn_severity: high
      on_stale: warn
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
    let config_path = dir.join(CONFIG_FILE);
    let new_config = force || !config_path.exists();
    if new_config {
        let token = crate::auth::new_token()?;
        let config = format!(
            "{DEFAULT_CONFIG}admin:\n  tokens:\n    - name: admin\n      sha256: {}\n",
            crate::auth::hash_token(&token)
        );
        write(CONFIG_FILE.into(), config.as_bytes())?;
        write_secret(&dir.join(ADMIN_TOKEN_FILE), &token)?;
    }
    write("gate-policy.yaml".into(), DEFAULT_GATE_POLICY.as_bytes())?;
    for (name, bytes) in ADAPTERS {
        write(format!("adapters/{name}.wasm"), bytes)?;
    }
    for (name, bytes) in POLICIES {
        write(format!("policies/{name}.wasm"), bytes)?;
    }
    if new_config {
        written.push(ADMIN_TOKEN_FILE.into());
    }
    Ok(written)
}

/// Writes a secret readable by its owner only.
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    writeln!(file, "{secret}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_files_parse() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = write_layout(dir.path(), false).expect("writes");
        assert!(written.contains(&"gatehouse.yaml".to_owned()));
        let config =
            crate::config::Config::load(&dir.path().join(CONFIG_FILE)).expect("config parses");
        let token = std::fs::read_to_string(dir.path().join(ADMIN_TOKEN_FILE)).expect("token");
        let tokens =
            crate::auth::Tokens::from_config("admin", &config.admin.tokens).expect("valid");
        assert_eq!(tokens.identify(token.trim()), Some("admin"));
        let gate_policy =
            crate::gate_policy::GatePolicy::load(&dir.path().join("gate-policy.yaml"))
                .expect("gate policy parses");
        let (controls, settings) = gate_policy.settings_for("malicious", "npm");
        assert_eq!(controls.on_stale, crate::gate_policy::OnStale::Warn);
        assert!(!settings.contains("on_stale"), "a host key: {settings}");
        let osv = config.resolve().expect("settings").osv;
        assert!(osv.source.is_some(), "the default layout syncs");
        assert_eq!(osv.max_age, crate::config::defaults::OSV_MAX_AGE);
        assert!(
            write_layout(dir.path(), false)
                .expect("idempotent")
                .is_empty()
        );
    }
}
