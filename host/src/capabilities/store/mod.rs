//! The `store` interface: a small key-value store with expiry, one namespace
//! per component, plus the host's own read-only namespace under `gatehouse/`.
//! Each component's namespace is capped in keys and bytes (`limits.store_*`);
//! the host's namespace holds operator data and is not.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod host;

pub use host::{StoreState, StoreView, add_to_linker};

const HOST_PREFIX: &str = "gatehouse/";
const MAX_KEY: usize = 512;
const MAX_VALUE: usize = 256 << 10;

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// One namespace and the bytes its keys and values take.
#[derive(Default)]
struct Namespace {
    entries: HashMap<String, Entry>,
    bytes: usize,
}

impl Namespace {
    fn remove(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= key.len() + old.value.len();
        }
    }

    fn purge_expired(&mut self) {
        let now = Instant::now();
        let mut freed = 0;
        self.entries.retain(|key, entry| {
            let live = entry.live(now);
            if !live {
                freed += key.len() + entry.value.len();
            }
            live
        });
        self.bytes -= freed;
    }
}

/// How much one component may keep.
#[derive(Debug, Clone, Copy)]
pub struct StoreCaps {
    pub keys: usize,
    pub bytes: usize,
}

impl Default for StoreCaps {
    fn default() -> Self {
        let bounds = crate::config::Bounds::default();
        StoreCaps {
            keys: bounds.store_keys_per_component,
            bytes: bounds.store_bytes_per_component,
        }
    }
}

/// The store behind every component's `store` import.
#[derive(Default)]
pub struct KvStore {
    namespaces: Mutex<HashMap<String, Namespace>>,
    /// Writes to the host's namespace: decisions cached across requests are
    /// keyed by it, since policies read that namespace.
    host_writes: AtomicU64,
    caps: StoreCaps,
}

/// The host's namespace, written by the admin API and read by components.
pub const HOST_NAMESPACE: &str = "";

impl KvStore {
    /// A store whose component namespaces hold at most `caps`.
    pub fn with_caps(caps: StoreCaps) -> Self {
        KvStore {
            caps,
            ..KvStore::default()
        }
    }

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
        let entry = namespaces.get(namespace)?.entries.get(key)?;
        entry.live(Instant::now()).then(|| entry.value.clone())
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
        let space = namespaces.entry(namespace.to_owned()).or_default();
        if namespace != HOST_NAMESPACE {
            self.make_room(space, key, value.len())?;
        }
        space.remove(key);
        space.bytes += key.len() + value.len();
        let expires = ttl.map(|ttl| Instant::now() + ttl);
        space
            .entries
            .insert(key.to_owned(), Entry { value, expires });
        drop(namespaces);
        self.wrote(namespace);
        Ok(())
    }

    /// Refuses a write that would take `space` past the caps, once expired
    /// entries are gone.
    fn make_room(&self, space: &mut Namespace, key: &str, value_len: usize) -> Result<(), String> {
        let fits = |space: &Namespace| {
            let replaced = space
                .entries
                .get(key)
                .map_or(0, |old| key.len() + old.value.len());
            let keys_ok = space.entries.len() < self.caps.keys || replaced > 0;
            let bytes_ok = space.bytes - replaced + key.len() + value_len <= self.caps.bytes;
            keys_ok && bytes_ok
        };
        if fits(space) {
            return Ok(());
        }
        space.purge_expired();
        if fits(space) {
            return Ok(());
        }
        Err(format!(
            "store full: this component keeps {} keys in {} bytes, and the limits are {} keys and {} bytes (limits.store_keys_per_component, limits.store_bytes_per_component); delete keys or give them a ttl",
            space.entries.len(),
            space.bytes,
            self.caps.keys,
            self.caps.bytes
        ))
    }

    pub fn delete(&self, namespace: &str, key: &str) {
        let mut namespaces = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(space) = namespaces.get_mut(namespace) {
            space.remove(key);
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

    #[test]
    fn a_component_namespace_is_capped_in_bytes_and_keys() {
        let store = KvStore::with_caps(StoreCaps {
            keys: 3,
            bytes: 100,
        });
        store.set("a", "k1", vec![0; 40], None).expect("fits");
        store
            .set("a", "k1", vec![0; 90], None)
            .expect("a replacement counts once");
        let full = store.set("a", "k2", vec![0; 20], None).unwrap_err();
        assert!(
            full.contains("store full") && full.contains("100 bytes"),
            "{full}"
        );
        store.delete("a", "k1");
        store.set("a", "k2", vec![0; 20], None).expect("room again");
        store.set("a", "k3", vec![], None).expect("second key");
        store.set("a", "k4", vec![], None).expect("third key");
        assert!(store.set("a", "k5", vec![], None).is_err(), "a fourth key");
        store
            .set(HOST_NAMESPACE, "big", vec![0; 1000], None)
            .expect("the host's namespace is not capped");
    }
}
