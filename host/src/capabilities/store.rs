//! The `store` interface: a small key-value store with expiry, one namespace
//! per component, plus the host's own read-only namespace under `gatehouse/`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::bindings::policy::gatehouse::plugin::store::Host;
use crate::runtime::guest::GuestState;

const HOST_PREFIX: &str = "gatehouse/";
const MAX_KEY: usize = 512;
const MAX_VALUE: usize = 256 << 10;
const MAX_ENTRIES_PER_NAMESPACE: usize = 10_000;

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

/// The store behind every component's `store` import.
#[derive(Default)]
pub struct KvStore {
    namespaces: Mutex<HashMap<String, HashMap<String, Entry>>>,
    /// Writes to the host's namespace: decisions cached across requests are
    /// keyed by it, since policies read that namespace.
    host_writes: AtomicU64,
}

/// The host's namespace, written by the admin API and read by components.
pub const HOST_NAMESPACE: &str = "";

impl KvStore {
    /// Changes whenever the host's namespace does.
    pub fn host_epoch(&self) -> u64 {
        self.host_writes.load(Ordering::Acquire)
    }

    fn wrote(&self, namespace: &str) {
        if namespace == HOST_NAMESPACE {
            self.host_writes.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<Vec<u8>> {
        let namespaces = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        let entry = namespaces.get(namespace)?.get(key)?;
        match entry.expires {
            Some(at) if at <= Instant::now() => None,
            _ => Some(entry.value.clone()),
        }
    }

    pub fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), String> {
        if key.len() > MAX_KEY || value.len() > MAX_VALUE {
            return Err(format!(
                "key or value too large (limits: {MAX_KEY} B key, {MAX_VALUE} B value)"
            ));
        }
        let mut namespaces = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        let entries = namespaces.entry(namespace.to_owned()).or_default();
        if entries.len() >= MAX_ENTRIES_PER_NAMESPACE && !entries.contains_key(key) {
            let now = Instant::now();
            entries.retain(|_, e| e.expires.is_none_or(|at| at > now));
            if entries.len() >= MAX_ENTRIES_PER_NAMESPACE {
                return Err(format!("store full ({MAX_ENTRIES_PER_NAMESPACE} keys)"));
            }
        }
        let expires = ttl.map(|ttl| Instant::now() + ttl);
        entries.insert(key.to_owned(), Entry { value, expires });
        drop(namespaces);
        self.wrote(namespace);
        Ok(())
    }

    pub fn delete(&self, namespace: &str, key: &str) {
        let mut namespaces = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entries) = namespaces.get_mut(namespace) {
            entries.remove(key);
        }
        drop(namespaces);
        self.wrote(namespace);
    }
}

/// Resolves a guest's key to (namespace, key); `gatehouse/` keys are the host's.
fn locate<'a>(component: &'a str, key: &'a str) -> (&'a str, &'a str, bool) {
    match key.strip_prefix(HOST_PREFIX) {
        Some(rest) => (HOST_NAMESPACE, rest, true),
        None => (component, key, false),
    }
}

impl Host for GuestState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        // An outcome built on stored data cannot be checked for staleness.
        self.trace.reusable = false;
        let (namespace, key, _) = locate(&self.component, &key);
        Ok(self.caps.store.get(namespace, key))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> wasmtime::Result<Result<(), String>> {
        let (namespace, key, host_owned) = locate(&self.component, &key);
        if host_owned {
            return Ok(Err("keys under gatehouse/ are read-only".into()));
        }
        let ttl = ttl_seconds.map(|s| Duration::from_secs(s.into()));
        Ok(self.caps.store.set(namespace, key, value, ttl))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        let (namespace, key, host_owned) = locate(&self.component, &key);
        if !host_owned {
            self.caps.store.delete(namespace, key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_expiry() {
        let store = KvStore::default();
        store.set("a", "k", b"1".to_vec(), None).expect("set");
        assert_eq!(store.get("a", "k"), Some(b"1".to_vec()));
        assert_eq!(store.get("b", "k"), None);
        store
            .set("a", "gone", b"x".to_vec(), Some(Duration::ZERO))
            .expect("set");
        assert_eq!(store.get("a", "gone"), None);
        assert!(store.set("a", "big", vec![0; MAX_VALUE + 1], None).is_err());
        assert_eq!(
            locate("policy", "gatehouse/reviews/x"),
            ("", "reviews/x", true)
        );
    }
}
