//! The request flow: route, gate, fetch upstream, verify, answer.
//!
//! Everything the host provides goes through [`Host`], so the whole flow runs
//! natively in tests against a fake.

use std::cmp::Ordering;

use gatehouse_adapter_sdk::{
    Action, Decision, Failure, Fetched, Host, Outcome, Purpose, Request, Response, VersionFacts,
    decision_message, upstream_answer,
};
use serde::Deserialize;

use crate::dirhash::{hash_go_mod, hash_zip};
use crate::escape::escape;
use crate::route::{Route, route};
use crate::sumdb::{Recorded, lookup_url, recorded_hash};

/// Spelled as OSV spells it.
pub const ECOSYSTEM: &str = "Go";

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// The adapter's block of the gatehouse config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The checksum database's base URL; `go.mod` files and zips are served
    /// only when their `h1:` hash matches its record. Its origin must be among
    /// the upstream's `origins` for the host to let the adapter reach it.
    #[serde(default)]
    pub sumdb: Option<String>,
    /// `false` serves `go.mod` files and zips unchecked (for a trusted
    /// private proxy); without a `sumdb` that is the only way to serve them.
    #[serde(default = "checked_by_default")]
    pub verify: bool,
}

fn checked_by_default() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sumdb: None,
            verify: true,
        }
    }
}

impl Settings {
    /// Reads the block; empty text and `null` mean the defaults.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Settings::default());
        }
        serde_json::from_str::<Option<Settings>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| format!("invalid go adapter settings: {e}"))
    }

    /// The checksum database to check against; `None` when checks are off.
    fn checksum_database(&self) -> Result<Option<&str>, Failure> {
        match (self.verify, &self.sumdb) {
            (false, _) => Ok(None),
            (true, Some(sumdb)) => Ok(Some(sumdb)),
            (true, None) => Err(Failure::new(
                502,
                "gatehouse cannot verify Go modules: no checksum database is configured \
                 (set the go adapter's `sumdb`, or `verify: false` to serve modules unchecked)",
            )),
        }
    }
}

/// The `.info` document (`{"Version": ..., "Time": ...}`; other fields kept as given).
#[derive(Debug, Deserialize)]
struct Info {
    #[serde(rename = "Version")]
    version: String,
    #[serde(rename = "Time", default)]
    time: Option<String>,
}

/// Answers one request.
pub fn handle(host: &impl Host, settings: &str, request: &Request) -> Outcome {
    serve(host, settings, request).unwrap_or_else(Outcome::from)
}

fn serve(host: &impl Host, settings: &str, request: &Request) -> Result<Outcome, Failure> {
    if let Some(refusal) = request.refuse_writes("the module proxy") {
        return Ok(refusal.into());
    }
    let settings = Settings::parse(settings).map_err(|e| Failure::new(500, e))?;
    let proxy = Proxy { host };
    let response = match route(&request.path) {
        Route::List(module) => proxy.list(&module)?,
        Route::Latest(module) => proxy.latest(&module)?,
        Route::Info { module, version } => proxy.info(&module, &version)?,
        Route::Mod { module, version } => proxy.go_mod(&settings, &module, &version)?,
        Route::Zip { module, version } => proxy.zip(&settings, &module, &version)?,
        Route::Invalid(message) => return Err(Failure::new(400, message)),
        Route::NotFound(message) => return Err(Failure::new(404, message)),
    };
    Ok(response.into())
}

/// The upstream module proxy seen through the host.
struct Proxy<'h, H> {
    host: &'h H,
}

impl<H: Host> Proxy<'_, H> {
    /// `{base}/{module}/{file}`, with the module path case-encoded.
    fn url(&self, module: &str, file: &str) -> String {
        let base = self.host.upstream_base();
        format!("{}/{}/{file}", base.trim_end_matches('/'), escape(module))
    }

    fn version_url(&self, module: &str, version: &str, extension: &str) -> String {
        self.url(module, &format!("@v/{}.{extension}", escape(version)))
    }

    /// Upstream's list without the blocked versions (one gate batch).
    fn list(&self, module: &str) -> Result<Response, Failure> {
        let versions = self.upstream_list(module)?;
        let allowed = self.allowed(module, &versions)?;
        let body: String = allowed.iter().map(|v| format!("{v}\n")).collect();
        Ok(Response::new(200, TEXT, body))
    }

    /// Upstream's latest version, or when that is blocked, the highest
    /// version the gate allows (releases before pre-releases, as go prefers).
    fn latest(&self, module: &str) -> Result<Response, Failure> {
        let fetched = fetch(self.host, &self.url(module, "@latest"))?;
        let info = parse_info(&fetched)?;
        let facts = version_facts(module, &info, &fetched.body);
        let decision = self.gate_one(Purpose::Metadata, facts)?;
        if decision.action != Action::Block {
            return Ok(Response::new(200, JSON, fetched.body));
        }
        let versions = self.upstream_list(module)?;
        let allowed = self.allowed(module, &versions)?;
        let Some(best) = highest(&allowed) else {
            return Err(Failure::new(
                403,
                format!(
                    "{module}@latest ({}) is blocked by gatehouse: {}; no other version of {module} is allowed",
                    info.version,
                    decision_message(&decision)
                ),
            ));
        };
        let fetched = fetch(self.host, &self.version_url(module, best, "info"))?;
        Ok(Response::new(200, JSON, fetched.body))
    }

    /// A version's `.info`, gated on the version upstream resolved it to.
    fn info(&self, module: &str, version: &str) -> Result<Response, Failure> {
        let fetched = fetch(self.host, &self.version_url(module, version, "info"))?;
        let info = parse_info(&fetched)?;
        self.admit(Purpose::Metadata, module, &info, &fetched.body)?;
        Ok(Response::new(200, JSON, fetched.body))
    }

    /// A version's `go.mod`, gated and checked against the checksum database.
    fn go_mod(
        &self,
        settings: &Settings,
        module: &str,
        version: &str,
    ) -> Result<Response, Failure> {
        let sumdb = settings.checksum_database()?;
        self.admit_version(Purpose::Metadata, module, version)?;
        let fetched = fetch(self.host, &self.version_url(module, version, "mod"))?;
        if let Some(sumdb) = sumdb {
            let expected = self.recorded(sumdb, module, version, Recorded::GoMod)?;
            let actual = hash_go_mod(&fetched.body);
            check(&expected, &actual, &format!("{module}@{version}/go.mod"))?;
        }
        Ok(Response::new(200, TEXT, fetched.body))
    }

    /// A version's source zip: gated as an artifact, its contents' `h1:` hash
    /// checked against the checksum database, then served byte for byte.
    ///
    /// The protocol declares no digest of the zip file itself (the database
    /// records a hash of its contents), so the host cannot verify it as an
    /// artifact plan; the zip passes through this component instead, bounded
    /// by the host's metadata size limit and the guest's memory.
    fn zip(&self, settings: &Settings, module: &str, version: &str) -> Result<Response, Failure> {
        let sumdb = settings.checksum_database()?;
        self.admit_version(Purpose::Artifact, module, version)?;
        let fetched = fetch(self.host, &self.version_url(module, version, "zip"))?;
        if let Some(sumdb) = sumdb {
            let expected = self.recorded(sumdb, module, version, Recorded::Zip)?;
            let what = format!("{module}@{version}.zip");
            let actual = hash_zip(&fetched.body)
                .map_err(|e| Failure::new(502, format!("{what} from upstream: {e}")))?;
            check(&expected, &actual, &what)?;
        }
        Ok(Response::new(200, "application/zip", fetched.body))
    }

    /// Gates `version` with what its `.info` says (its time), or with the bare
    /// version when upstream has no `.info` for it.
    fn admit_version(&self, purpose: Purpose, module: &str, version: &str) -> Result<(), Failure> {
        let url = self.version_url(module, version, "info");
        let fetched = fetch(self.host, &url)?;
        let info = parse_info(&fetched)?;
        if info.version != version {
            return Err(Failure::new(
                502,
                format!("{url}: upstream describes version {} instead", info.version),
            ));
        }
        self.admit(purpose, module, &info, &fetched.body)
    }

    /// `Err` with a 403 naming rule and reason when the gate blocks.
    fn admit(
        &self,
        purpose: Purpose,
        module: &str,
        info: &Info,
        raw: &[u8],
    ) -> Result<(), Failure> {
        let decision = self.gate_one(purpose, version_facts(module, info, raw))?;
        if decision.action == Action::Block {
            return Err(Failure::new(
                403,
                format!(
                    "{module}@{} is blocked by gatehouse: {}",
                    info.version,
                    decision_message(&decision)
                ),
            ));
        }
        Ok(())
    }

    fn gate_one(&self, purpose: Purpose, facts: VersionFacts) -> Result<Decision, Failure> {
        let mut decisions = self.host.gate(purpose, &[facts])?;
        Ok(decisions.remove(0))
    }

    /// Upstream's `@v/list`, one version per line.
    fn upstream_list(&self, module: &str) -> Result<Vec<String>, Failure> {
        let fetched = fetch(self.host, &self.url(module, "@v/list"))?;
        let text = String::from_utf8_lossy(&fetched.body);
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// The versions among `versions` that the gate does not block (one batch).
    fn allowed<'v>(&self, module: &str, versions: &'v [String]) -> Result<Vec<&'v str>, Failure> {
        let facts: Vec<VersionFacts> = versions
            .iter()
            .map(|version| {
                let raw = serde_json::json!({ "Version": version }).to_string();
                facts(module, version, None, raw)
            })
            .collect();
        let decisions = self.host.gate(Purpose::Metadata, &facts)?;
        Ok(versions
            .iter()
            .zip(&decisions)
            .filter(|(_, decision)| decision.action != Action::Block)
            .map(|(version, _)| version.as_str())
            .collect())
    }

    /// The `h1:` hash the checksum database records.
    fn recorded(
        &self,
        sumdb: &str,
        module: &str,
        version: &str,
        what: Recorded,
    ) -> Result<String, Failure> {
        let url = lookup_url(sumdb, module, version);
        let unverified = |why: String| {
            Failure::new(
                502,
                format!(
                    "gatehouse cannot verify {module}@{version}: {why}; refusing to serve it unverified"
                ),
            )
        };
        let fetched = self
            .host
            .fetch(&url, None)
            .map_err(|e| unverified(Failure::fetch(&url, e).message))?;
        if fetched.status != 200 {
            return Err(unverified(format!(
                "the checksum database answered HTTP {} for {url}",
                fetched.status
            )));
        }
        let body = String::from_utf8_lossy(&fetched.body);
        recorded_hash(&body, module, version, what)
            .map(str::to_owned)
            .ok_or_else(|| {
                unverified(format!(
                    "the checksum database's answer at {url} has no hash for it"
                ))
            })
    }
}

/// `Err` (502) unless the hash upstream's bytes have is the recorded one.
fn check(expected: &str, actual: &str, what: &str) -> Result<(), Failure> {
    if expected == actual {
        return Ok(());
    }
    Err(Failure::new(
        502,
        format!(
            "{what} from upstream does not match the checksum database \
             (recorded {expected}, upstream's has {actual}); refusing to serve it"
        ),
    ))
}

/// GETs `url` from upstream; 404 and 410 pass through (the module or version
/// does not exist), other failures are 502 or 504.
fn fetch(host: &impl Host, url: &str) -> Result<Fetched, Failure> {
    upstream_answer(url, host.fetch(url, None), |status| {
        Failure::new(status, format!("{url}: not found upstream"))
    })
}

fn parse_info(fetched: &Fetched) -> Result<Info, Failure> {
    serde_json::from_slice(&fetched.body)
        .map_err(|e| Failure::new(502, format!("{}: not a version's .info: {e}", fetched.url)))
}

fn version_facts(module: &str, info: &Info, raw: &[u8]) -> VersionFacts {
    let published = info
        .time
        .as_deref()
        .and_then(|time| time.parse::<jiff::Timestamp>().ok())
        .map(|time| time.as_second());
    facts(
        module,
        &info.version,
        published,
        String::from_utf8_lossy(raw).into_owned(),
    )
}

/// One version's facts; the protocol says nothing of licenses, scripts or
/// digests of the zip file.
fn facts(module: &str, version: &str, published: Option<i64>, raw: String) -> VersionFacts {
    VersionFacts {
        published,
        raw,
        ..VersionFacts::named(ECOSYSTEM, module, version)
    }
}

/// The version go's `@latest` would choose: the highest release, else the
/// highest pre-release; versions that are not semantic versions never win.
fn highest<'v>(versions: &[&'v str]) -> Option<&'v str> {
    let order = |a: &&str, b: &&str| {
        let release = |v: &str| !gatehouse_versions::is_prerelease(ECOSYSTEM, v);
        release(a)
            .cmp(&release(b))
            .then_with(|| gatehouse_versions::compare(ECOSYSTEM, a, b).unwrap_or(Ordering::Equal))
    };
    versions
        .iter()
        .copied()
        .filter(|v| crate::route::is_canonical(v))
        .max_by(order)
}

#[cfg(test)]
mod tests;
