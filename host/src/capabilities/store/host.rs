//! The `store` interface on [`KvStore`]: a component reads and writes its
//! own namespace, and reads the host's under `gatehouse/`.

use std::time::Duration;

use super::locate;
use crate::bindings::policy::gatehouse::plugin::store::Host;
use crate::runtime::guest::GuestState;

impl Host for GuestState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.check_deadline()?;
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
        self.check_deadline()?;
        let (namespace, key, host_owned) = locate(&self.component, &key);
        if host_owned {
            return Ok(Err("keys under gatehouse/ are read-only".into()));
        }
        let ttl = ttl_seconds.map(|s| Duration::from_secs(s.into()));
        Ok(self.caps.store.set(namespace, key, value, ttl))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.check_deadline()?;
        let (namespace, key, host_owned) = locate(&self.component, &key);
        if !host_owned {
            self.caps.store.delete(namespace, key);
        }
        Ok(())
    }
}
