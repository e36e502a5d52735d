//! The host capabilities a policy may call.
//!
//! In a component these call the WIT imports; on a native target (unit tests)
//! they are answered by the thread's [`crate::testing::MockHost`].

use crate::Advisory;

#[cfg(target_arch = "wasm32")]
use crate::bindings::gatehouse::plugin as imports;

/// The advisories affecting each of `versions` of one package, in input order.
pub fn osv_affecting(ecosystem: &str, name: &str, versions: &[String]) -> Vec<Vec<Advisory>> {
    #[cfg(target_arch = "wasm32")]
    {
        imports::osv::affecting(ecosystem, name, versions)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::with_mock(|host| host.affecting(ecosystem, name, versions))
    }
}

/// Reads a key of this component's store (or, under `gatehouse/`, the host's data).
pub fn store_get(key: &str) -> Option<Vec<u8>> {
    #[cfg(target_arch = "wasm32")]
    {
        imports::store::get(key)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::with_mock(|host| host.store.get(key).cloned())
    }
}

/// Writes a key of this component's store, expiring after `ttl_seconds` when given.
pub fn store_set(key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), String> {
    #[cfg(target_arch = "wasm32")]
    {
        imports::store::set(key, value, ttl_seconds)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = ttl_seconds;
        crate::testing::with_mock(|host| {
            host.store.insert(key.to_owned(), value.to_vec());
            Ok(())
        })
    }
}

/// Appends a note about `name@version` to the audit log.
pub fn audit_note(ecosystem: &str, name: &str, version: &str, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        imports::audit::note(ecosystem, name, version, message)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::with_mock(|host| {
            host.notes
                .push(format!("{ecosystem} {name}@{version}: {message}"))
        })
    }
}

/// Writes a warning to the host's log, tagged with this component's name.
pub fn log_warn(message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        imports::log::log(imports::log::Level::Warn, message)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::with_mock(|host| host.logs.push(message.to_owned()))
    }
}
