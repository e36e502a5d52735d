//! The component runtime: loads adapters and policies from their directories,
//! type-checks them against their worlds, and swaps in a new [`Generation`]
//! atomically. Requests hold the generation they started with; a component
//! that fails any step is rejected and the previous version stays live.

pub mod engine;
pub mod guest;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use wasmtime::component::{HasSelf, Linker};

use crate::audit::AuditRecord;
use crate::bindings::adapter::{Adapter, AdapterPre};
use crate::bindings::policy::{Policy, PolicyPre};
use crate::capabilities::Capabilities;
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
}

pub type LoadedPolicy = Loaded<PolicyPre<GuestState>>;
pub type LoadedAdapter = Loaded<AdapterPre<GuestState>>;

/// Everything a request needs, frozen at one moment.
pub struct Generation {
    pub id: u64,
    pub engine: wasmtime::Engine,
    /// Sorted by name: the order policies run in.
    pub policies: Vec<Arc<LoadedPolicy>>,
    pub adapters: BTreeMap<String, Arc<LoadedAdapter>>,
    pub gate_policy: Arc<GatePolicy>,
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
    pub last_error: Option<String>,
    pub compile_ms: Option<f64>,
    pub from_cache: Option<bool>,
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
        wasmtime_wasi::p2::add_to_linker_async(&mut policy_linker)?;
        Policy::add_to_linker::<_, HasSelf<GuestState>>(&mut policy_linker, |s| s)?;
        let mut adapter_linker = Linker::new(engine.wasmtime());
        wasmtime_wasi::p2::add_to_linker_async(&mut adapter_linker)?;
        Adapter::add_to_linker::<_, HasSelf<GuestState>>(&mut adapter_linker, |s| s)?;
        let empty = Generation {
            id: 0,
            engine: engine.wasmtime().clone(),
            policies: Vec::new(),
            adapters: BTreeMap::new(),
            gate_policy: Arc::new(GatePolicy::default()),
        };
        Ok(Arc::new(Runtime {
            engine,
            policy_linker,
            adapter_linker,
            current: ArcSwap::from_pointee(empty),
            status: Mutex::new(BTreeMap::new()),
            reloading: tokio::sync::Mutex::new(()),
            ready: AtomicBool::new(false),
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

    pub fn statuses(&self) -> Vec<ComponentStatus> {
        self.lock_status().values().cloned().collect()
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Kind, String), ComponentStatus>> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rescans the directories and the gate-policy file; swaps in what changed.
    pub async fn reload(self: &Arc<Self>) {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.current();

        let policies = self
            .load_dir(
                Kind::Policy,
                &self.layout.policies_dir,
                &old.policies
                    .iter()
                    .map(|p| (p.name.to_string(), p.clone()))
                    .collect(),
            )
            .await;
        let adapters = self
            .load_dir(
                Kind::Adapter,
                &self.layout.adapters_dir,
                &old.adapters
                    .iter()
                    .map(|(n, a)| (n.clone(), a.clone()))
                    .collect(),
            )
            .await;
        let gate_policy = self.load_gate_policy(&old.gate_policy);

        let same = |a: &[(String, String)], b: &[(String, String)]| a == b;
        let shas = |items: &mut dyn Iterator<Item = (String, String)>| items.collect::<Vec<_>>();
        let unchanged = same(
            &shas(&mut policies.iter().map(|(n, p)| (n.clone(), p.sha256.clone()))),
            &shas(
                &mut old
                    .policies
                    .iter()
                    .map(|p| (p.name.to_string(), p.sha256.clone())),
            ),
        ) && same(
            &shas(&mut adapters.iter().map(|(n, a)| (n.clone(), a.sha256.clone()))),
            &shas(
                &mut old
                    .adapters
                    .iter()
                    .map(|(n, a)| (n.clone(), a.sha256.clone())),
            ),
        ) && *gate_policy == *old.gate_policy;

        if !unchanged || old.id == 0 {
            for name in gate_policy.policy_names() {
                if !policies.contains_key(name) {
                    tracing::warn!(
                        policy = name,
                        "the gate-policy file configures a policy no component implements; ignoring it"
                    );
                }
            }
            let generation = Generation {
                id: old.id + 1,
                engine: self.engine.wasmtime().clone(),
                policies: policies.into_values().collect(),
                adapters,
                gate_policy,
            };
            tracing::info!(
                generation = generation.id,
                policies = generation.policies.len(),
                adapters = generation.adapters.len(),
                "components swapped in"
            );
            self.current.store(Arc::new(generation));
        }
        self.ready.store(true, Ordering::Release);
    }

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
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) => {
                    self.reject(
                        kind,
                        &name,
                        &path,
                        previous.get(&name).map(|p| p.sha256.clone()),
                        format!("reading: {error}"),
                    );
                    if let Some(prev) = previous.get(&name) {
                        loaded.insert(name, prev.clone());
                    }
                    continue;
                }
            };
            let sha256 = sha256_hex(&bytes);
            if let Some(prev) = previous.get(&name).filter(|p| p.sha256 == sha256) {
                loaded.insert(name, prev.clone());
                continue;
            }
            let this = self.clone();
            let digest = sha256.clone();
            let compiled = tokio::task::spawn_blocking(move || {
                let (component, info) = this.engine.load(&bytes, &digest)?;
                let pre = this.instantiate_pre(&component)?;
                anyhow::Ok((pre, info))
            })
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r);
            match compiled {
                Ok((pre, info)) => {
                    let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
                    self.lock_status().insert(
                        (kind, name.clone()),
                        ComponentStatus {
                            name: name.clone(),
                            kind,
                            path: path.display().to_string(),
                            sha256: Some(sha256.clone()),
                            loaded_at: Some(now),
                            status: "active".into(),
                            last_error: None,
                            compile_ms: Some(info.took.as_secs_f64() * 1000.0),
                            from_cache: Some(info.from_cache),
                        },
                    );
                    self.caps.audit.append(&AuditRecord {
                        event: "component-load".into(),
                        package: name.clone(),
                        components: vec![format!("{name}@{sha256}")],
                        reason: format!(
                            "{kind:?} loaded in {:.1} ms (cached: {})",
                            info.took.as_secs_f64() * 1000.0,
                            info.from_cache
                        ),
                        ..AuditRecord::default()
                    });
                    tracing::info!(component = %name, ?kind, %sha256, ms = info.took.as_millis() as u64, cached = info.from_cache, "component loaded");
                    loaded.insert(
                        name.clone(),
                        Arc::new(Loaded {
                            name: name.as_str().into(),
                            sha256,
                            pre,
                        }),
                    );
                }
                Err(error) => {
                    self.reject(
                        kind,
                        &name,
                        &path,
                        previous.get(&name).map(|p| p.sha256.clone()),
                        format!("{error:#}"),
                    );
                    if let Some(prev) = previous.get(&name) {
                        loaded.insert(name, prev.clone());
                    }
                }
            }
        }
        self.lock_status()
            .retain(|(k, name), _| *k != kind || seen.contains(name));
        loaded
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
            .or_insert_with(|| ComponentStatus {
                name: name.into(),
                kind,
                path: path.display().to_string(),
                sha256: None,
                loaded_at: None,
                status: String::new(),
                last_error: None,
                compile_ms: None,
                from_cache: None,
            });
        entry.sha256 = serving;
        entry.status = "rejected".into();
        entry.last_error = Some(error);
    }

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
                        name,
                        kind: Kind::GatePolicy,
                        path: path.display().to_string(),
                        sha256: std::fs::read(path).ok().map(|b| sha256_hex(&b)),
                        loaded_at: Some(
                            humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                        ),
                        status: "active".into(),
                        last_error: None,
                        compile_ms: None,
                        from_cache: None,
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

impl Instantiable<AdapterPre<GuestState>> for Runtime {
    fn instantiate_pre(
        &self,
        component: &wasmtime::component::Component,
    ) -> anyhow::Result<AdapterPre<GuestState>> {
        Ok(AdapterPre::new(
            self.adapter_linker.instantiate_pre(component)?,
        )?)
    }
}

/// The `*.wasm` files of `dir`, sorted; a missing directory has none.
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
