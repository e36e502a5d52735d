//! The `store` interface on [`KvStore`]: a component reads and writes its
//! own namespace, and reads the host's under `gatehouse/`.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasData, Linker};

use super::{KvStore, locate};
use crate::bindings::policy::gatehouse::plugin::store::{self, Host};
use crate::capabilities::Call;

/// The store one call reaches, and whether it read from it.
pub struct StoreState {
    store: Arc<KvStore>,
    read: bool,
}

impl StoreState {
    pub fn new(store: Arc<KvStore>) -> Self {
        StoreState { store, read: false }
    }

    /// Whether the call read stored data: an outcome built on it cannot be
    /// checked for staleness, so it is not reused.
    pub fn read(&self) -> bool {
        self.read
    }
}

/// One call's view of its store state.
pub struct StoreView<'a> {
    pub call: &'a Call,
    pub state: &'a mut StoreState,
}

struct HasStore;

impl HasData for HasStore {
    type Data<'a> = StoreView<'a>;
}

/// Adds the `store` interface to `linker`, each call's view from `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> StoreView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasStore>(linker, get)
}

impl Host for StoreView<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.call.check_deadline()?;
        self.state.read = true;
        let (namespace, key, _) = locate(&self.call.component, &key);
        Ok(self.state.store.get(namespace, key))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> wasmtime::Result<Result<(), String>> {
        self.call.check_deadline()?;
        let (namespace, key, host_owned) = locate(&self.call.component, &key);
        if host_owned {
            return Ok(Err("keys under gatehouse/ are read-only".into()));
        }
        let ttl = ttl_seconds.map(|s| Duration::from_secs(s.into()));
        Ok(self.state.store.set(namespace, key, value, ttl))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.call.check_deadline()?;
        let (namespace, key, host_owned) = locate(&self.call.component, &key);
        if !host_owned {
            self.state.store.delete(namespace, key);
        }
        Ok(())
    }
}
