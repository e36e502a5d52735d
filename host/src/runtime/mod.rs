//! The component runtime: loads adapters and policies from their directories,
//! type-checks them against their worlds, and swaps in a new [`Generation`]
//! atomically. Requests hold the generation they started with; a component
//! that fails any step is rejected and the previous version stays live.

pub mod engine;
pub mod guest;
pub mod reads;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use wasmtime::component::Linker;

use crate::bindings::adapter::AdapterPre;
use crate::bindings::manifest_reader::ManifestReaderPre;
use crate::bindings::policy::PolicyPre;
use crate::capabilities::Capabilities;
use crate::capabilities::audit::AuditRecord;
use crate::gate_policy::GatePolicy;
use engine::{Engine, sha256_hex};
use guest::GuestState;

/// Which world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Adapter,
    Policy,
    GatePolicy,
}

/// A component ready to instantiate.
pub struct Loaded<P> {
    pub name: Arc<str>,
    pub sha256: String,
    pub pre: P,
    /// The costly facts it reads (policies; see [`reads`]).
    pub reads: reads::Reads,
    /// It imports the `osv` interface: its answers depend on the advisory
    /// data, so a policy's `on_stale` applies to it.
    pub reads_advisories: bool,
}

pub type LoadedPolicy = Loaded<PolicyPre<GuestState>>;
pub type LoadedAdapter = Loaded<AdapterEntry>;

/// An adapter's exports: its registry protocol, and (since 0.1.2) reading
/// its ecosystem's manifests out of artifacts.
pub struct AdapterEntry {
    pub handle: AdapterPre<GuestState>,
    /// None for adapters built against 0.1.0 and 0.1.1.
    pub manifest: Option<ManifestReaderPre<GuestState>>,
}

/// Everything a request needs, frozen at one moment.
pub struct Generation {
    pub id: u64,
    pub engine: wasmtime::Engine,
    /// Sorted by name: the order policies run in.
    pub policies: Vec<Arc<LoadedPolicy>>,
    pub adapters: BTreeMap<String, Arc<LoadedAdapter>>,
    pub gate_policy: Arc<GatePolicy>,
    /// Policies the gate-policy file configures that have no loaded component,
    /// with what is wrong ("is configured ... but its component ... is
    /// missing"): the gate fails closed for them.
    pub missing_policies: BTreeMap<String, String>,
    /// Run-time failures of components, shared by every generation.
    pub failures: Arc<Failures>,
}

/// A component's last run-time failure (trap, deadline, memory, a guest error).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeFailure {
    pub time: String,
    /// `deadline`, `memory`, `trap` or `guest`.
    pub kind: String,
    pub message: String,
}

/// Run-time failures per component: the last one and how many there were.
#[derive(Default)]
pub struct Failures(Mutex<BTreeMap<(Kind, String), (u64, RuntimeFailure)>>);

impl Failures {
    /// Records that `name` failed at run time.
    pub fn record(&self, kind: Kind, name: &str, failure: &guest::GuestFailure) {
        let last = RuntimeFailure {
            time: now_rfc3339(),
            kind: failure.class().to_owned(),
            message: failure.to_string(),
        };
        let mut failures = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failures
            .entry((kind, name.to_owned()))
            .or_insert((0, last.clone()));
        entry.0 += 1;
        entry.1 = last;
    }

    fn of(&self, kind: Kind, name: &str) -> Option<(u64, RuntimeFailure)> {
        let failures = self.0.lock().unwrap_or_else(|e| e.into_inner());
        failures.get(&(kind, name.to_owned())).cloned()
    }
}

/// What `GET /api/v1/admin/components` shows for one component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentStatus {
    pub name: String,
    pub kind: Kind,
    pub path: String,
    /// The sha256 of the version now serving, if any.
    pub sha256: Option<String>,
    pub loaded_at: Option<String>,
    /// `active`, `rejected` (the previous version, if any, still serves).
    pub status: String,
    /// The last load error (the previous version, if any, kept serving).
    pub last_error: Option<String>,
    pub compile_ms: Option<f64>,
    pub from_cache: Option<bool>,
    /// How often it failed at run time since the process started.
    pub failures: u64,
    /// Its last run-time failure (a failing policy blocks, fail-closed,
    /// unless its `on_error` is `allow`).
    pub last_failure: Option<RuntimeFailure>,
}

impl ComponentStatus {
    fn new(name: &str, kind: Kind, path: &Path) -> Self {
        ComponentStatus {
            name: name.to_owned(),
            kind,
            path: path.display().to_string(),
            sha256: None,
            loaded_at: None,
            status: String::new(),
            last_error: None,
            compile_ms: None,
            from_cache: None,
            failures: 0,
            last_failure: None,
        }
    }
}

/// Whether `component` imports the `osv` interface (any version).
pub fn imports_osv(component: &wasmtime::component::Component) -> bool {
    component
        .component_type()
        .imports(component.engine())
        .any(|(name, _)| name.starts_with("gatehouse:plugin/osv"))
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

type Fingerprint<'a> = (
    Vec<(&'a str, &'a str)>,
    Vec<(&'a str, &'a str)>,
    &'a GatePolicy,
    &'a BTreeMap<String, String>,
);

impl Generation {
    /// The costly facts the policies of this generation read.
    pub fn reads(&self) -> reads::Reads {
        self.policies
            .iter()
            .fold(reads::Reads::nothing(), |reads, policy| {
                reads.union(&policy.reads)
            })
    }

    /// What identifies a generation's contents: component digests and settings.
    fn fingerprint(&self) -> Fingerprint<'_> {
        (
            self.policies
                .iter()
                .map(|p| (&*p.name, p.sha256.as_str()))
                .collect(),
            self.adapters
                .iter()
                .map(|(n, a)| (n.as_str(), a.sha256.as_str()))
                .collect(),
            &self.gate_policy,
            &self.missing_policies,
        )
    }
}

/// Where components and the gate-policy file live.
#[derive(Debug, Clone)]
pub struct Layout {
    pub adapters_dir: PathBuf,
    pub policies_dir: PathBuf,
    pub gate_policy: PathBuf,
}

pub struct Runtime {
    engine: Engine,
    policy_linker: Linker<GuestState>,
    adapter_linker: Linker<GuestState>,
    current: ArcSwap<Generation>,
    status: Mutex<BTreeMap<(Kind, String), ComponentStatus>>,
    reloading: tokio::sync::Mutex<()>,
    ready: AtomicBool,
    failures: Arc<Failures>,
    pub caps: Arc<Capabilities>,
    pub layout: Layout,
}

impl Runtime {
    pub fn new(
        engine: Engine,
        caps: Arc<Capabilities>,
        layout: Layout,
    ) -> anyhow::Result<Arc<Self>> {
        let mut policy_linker = Linker::new(engine.wasmtime());
        guest::add_policy_imports(&mut policy_linker)?;
        let mut adapter_linker = Linker::new(engine.wasmtime());
        guest::add_adapter_imports(&mut adapter_linker)?;
        let failures = Arc::new(Failures::default());
        let empty = Generation {
            id: 0,
            engine: engine.wasmtime().clone(),
            policies: Vec::new(),
            adapters: BTreeMap::new(),
            gate_policy: Arc::new(GatePolicy::default()),
            missing_policies: BTreeMap::new(),
            failures: failures.clone(),
        };
        Ok(Arc::new(Runtime {
            engine,
            policy_linker,
            adapter_linker,
            current: ArcSwap::from_pointee(empty),
            status: Mutex::new(BTreeMap::new()),
            reloading: tokio::sync::Mutex::new(()),
            ready: AtomicBool::new(false),
            failures,
            caps,
            layout,
        }))
    }

    /// The generation new requests use.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// True once the first load finished.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Every component's status, with its run-time failures.
    pub fn statuses(&self) -> Vec<ComponentStatus> {
        let mut statuses: Vec<ComponentStatus> = self.lock_status().values().cloned().collect();
        for status in &mut statuses {
            if let Some((count, last)) = self.failures.of(status.kind, &status.name) {
                status.failures = count;
                status.last_failure = Some(last);
            }
        }
        statuses
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Kind, String), ComponentStatus>> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rescans the directories and the gate-policy file; swaps in what changed.
    pub async fn reload(self: &Arc<Self>) {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.current();
        let previous_policies = old
            .policies
            .iter()
            .map(|p| (p.name.to_string(), p.clone()))
            .collect();
        let policies = self
            .load_dir(Kind::Policy, &self.layout.policies_dir, &previous_policies)
            .await;
        let adapters = self
            .load_dir(Kind::Adapter, &self.layout.adapters_dir, &old.adapters)
            .await;
        let gate_policy = self.load_gate_policy(&old.gate_policy);
        let missing_policies = self.missing_policies(&gate_policy, &policies);
        let generation = Generation {
            id: old.id + 1,
            engine: self.engine.wasmtime().clone(),
            policies: policies.into_values().collect(),
            adapters,
            gate_policy,
            missing_policies,
            failures: self.failures.clone(),
        };
        if old.id == 0 || generation.fingerprint() != old.fingerprint() {
            for (policy, problem) in &generation.missing_policies {
                tracing::error!(
                    policy,
                    "the {policy} policy {problem}: its ecosystems block until the component is back or the configuration is removed"
                );
            }
            tracing::info!(
                generation = generation.id,
                policies = generation.policies.len(),
                adapters = generation.adapters.len(),
                "components swapped in"
            );
            crate::metrics::metrics()
                .generation
                .set(generation.id as i64);
            self.current.store(Arc::new(generation));
        }
        self.ready.store(true, Ordering::Release);
    }

    /// The policies `gate_policy` configures that are not among `loaded`,
    /// each with what is wrong with its component.
    fn missing_policies(
        &self,
        gate_policy: &GatePolicy,
        loaded: &BTreeMap<String, Arc<LoadedPolicy>>,
    ) -> BTreeMap<String, String> {
        let file = self
            .layout
            .gate_policy
            .file_name()
            .map_or_else(|| "the gate-policy file".into(), |n| n.to_string_lossy());
        let status = self.lock_status();
        gate_policy
            .policy_names()
            .filter(|name| !loaded.contains_key(*name))
            .map(|name| {
                let path = self.layout.policies_dir.join(format!("{name}.wasm"));
                let error = status
                    .get(&(Kind::Policy, name.to_owned()))
                    .and_then(|s| s.last_error.as_deref());
                let problem = match error {
                    Some(error) => format!(
                        "is configured in {file} but its component {} failed to load ({error})",
                        path.display()
                    ),
                    None => format!(
                        "is configured in {file} but its component {} is missing",
                        path.display()
                    ),
                };
                (name.to_owned(), problem)
            })
            .collect()
    }

    /// Loads every `*.wasm` of `dir`; a file that fails keeps its previous version.
    async fn load_dir<P: Send + Sync + 'static>(
        self: &Arc<Self>,
        kind: Kind,
        dir: &Path,
        previous: &BTreeMap<String, Arc<Loaded<P>>>,
    ) -> BTreeMap<String, Arc<Loaded<P>>>
    where
        Self: Instantiable<P>,
    {
        let mut loaded = BTreeMap::new();
        let mut seen = Vec::new();
        for path in wasm_files(dir) {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            seen.push(name.clone());
            let before = previous.get(&name);
            match self.load_one(kind, &name, &path, before).await {
                Ok(component) => {
                    loaded.insert(name, component);
                }
                Err(error) => {
                    self.reject(kind, &name, &path, before.map(|p| p.sha256.clone()), error);
                    if let Some(before) = before {
                        loaded.insert(name, before.clone());
                    }
                }
            }
        }
        self.lock_status()
            .retain(|(k, name), _| *k != kind || seen.contains(name));
        loaded
    }

    /// Reads, compiles (off the async threads) and type-checks one component.
    async fn load_one<P: Send + Sync + 'static>(
        self: &Arc<Self>,
        kind: Kind,
        name: &str,
        path: &Path,
        before: Option<&Arc<Loaded<P>>>,
    ) -> Result<Arc<Loaded<P>>, String>
    where
        Self: Instantiable<P>,
    {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| format!("reading: {e}"))?;
        let sha256 = sha256_hex(&bytes);
        if let Some(before) = before.filter(|b| b.sha256 == sha256) {
            return Ok(before.clone());
        }
        let this = self.clone();
        let digest = sha256.clone();
        let (pre, info, reads, reads_advisories) = tokio::task::spawn_blocking(move || {
            let (component, info) = this.engine.load(&bytes, &digest)?;
            anyhow::Ok((
                this.instantiate_pre(&component)?,
                info,
                reads::declared(&bytes),
                imports_osv(&component),
            ))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{e:#}"))?;
        let compile_ms = info.took.as_secs_f64() * 1000.0;
        self.lock_status().insert(
            (kind, name.to_owned()),
            ComponentStatus {
                sha256: Some(sha256.clone()),
                loaded_at: Some(now_rfc3339()),
                status: "active".into(),
                compile_ms: Some(compile_ms),
                from_cache: Some(info.from_cache),
                ..ComponentStatus::new(name, kind, path)
            },
        );
        self.caps.audit.append(&AuditRecord {
            event: "component-load".into(),
            package: name.to_owned(),
            components: vec![format!("{name}@{sha256}")],
            reason: format!(
                "{kind:?} loaded in {compile_ms:.1} ms (cached: {})",
                info.from_cache
            ),
            ..AuditRecord::default()
        });
        tracing::info!(component = name, ?kind, %sha256, compile_ms, cached = info.from_cache, "component loaded");
        Ok(Arc::new(Loaded {
            name: name.into(),
            sha256,
            pre,
            reads,
            reads_advisories,
        }))
    }

    fn reject(&self, kind: Kind, name: &str, path: &Path, serving: Option<String>, error: String) {
        tracing::error!(component = name, ?kind, %error, "component rejected; the previous version (if any) keeps serving");
        self.caps.audit.append(&AuditRecord {
            event: "component-reject".into(),
            package: name.into(),
            reason: error.clone(),
            ..AuditRecord::default()
        });
        let mut status = self.lock_status();
        let entry = status
            .entry((kind, name.to_owned()))
            .or_insert_with(|| ComponentStatus::new(name, kind, path));
        entry.sha256 = serving;
        entry.status = "rejected".into();
        entry.last_error = Some(error);
    }

    // A small YAML file, read at start-up and when it changes.
    #[allow(clippy::disallowed_methods)]
    fn load_gate_policy(&self, old: &Arc<GatePolicy>) -> Arc<GatePolicy> {
        let path = &self.layout.gate_policy;
        let name = "gate-policy".to_owned();
        if !path.exists() {
            self.lock_status().remove(&(Kind::GatePolicy, name));
            return Arc::new(GatePolicy::default());
        }
        match GatePolicy::load(path) {
            Ok(policy) => {
                if policy != **old {
                    self.caps.audit.append(&AuditRecord {
                        event: "config-reload".into(),
                        package: path.display().to_string(),
                        ..AuditRecord::default()
                    });
                }
                self.lock_status().insert(
                    (Kind::GatePolicy, name.clone()),
                    ComponentStatus {
                        sha256: std::fs::read(path).ok().map(|b| sha256_hex(&b)),
                        loaded_at: Some(now_rfc3339()),
                        status: "active".into(),
                        ..ComponentStatus::new(&name, Kind::GatePolicy, path)
                    },
                );
                Arc::new(policy)
            }
            Err(error) => {
                self.reject(Kind::GatePolicy, &name, path, None, error.to_string());
                old.clone()
            }
        }
    }
}

/// Type-checks a compiled component against a world.
pub trait Instantiable<P> {
    fn instantiate_pre(&self, component: &wasmtime::component::Component) -> anyhow::Result<P>;
}

impl Instantiable<PolicyPre<GuestState>> for Runtime {
    fn instantiate_pre(
        &self,
        component: &wasmtime::component::Component,
    ) -> anyhow::Result<PolicyPre<GuestState>> {
        Ok(PolicyPre::new(
            self.policy_linker.instantiate_pre(component)?,
        )?)
    }
}

impl Instantiable<AdapterEntry> for Runtime {
    fn instantiate_pre(
        &self,
        component: &wasmtime::component::Component,
    ) -> anyhow::Result<AdapterEntry> {
        let pre = self.adapter_linker.instantiate_pre(component)?;
        Ok(AdapterEntry {
            manifest: ManifestReaderPre::new(pre.clone()).ok(),
            handle: AdapterPre::new(pre)?,
        })
    }
}

/// The `*.wasm` files of `dir`, sorted; a missing directory has none.
// A directory listing, at start-up and when the directory changes.
#[allow(clippy::disallowed_methods)]
fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "wasm") && path.is_file())
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `on_stale` applies to the policies whose answers depend on the mirror:
    /// of the defaults, exactly those two.
    #[test]
    fn only_the_advisory_policies_import_osv() {
        let cache = tempfile::tempdir().expect("tempdir");
        let engine = Engine::new(cache.path()).expect("engine");
        let importing: Vec<&str> = crate::components::POLICIES
            .iter()
            .filter(|(_, bytes)| {
                let digest = sha256_hex(bytes);
                let (component, _) = engine.load(bytes, &digest).expect("compiles");
                imports_osv(&component)
            })
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(importing, ["malicious", "vulnerability"]);
    }
}
