//! Host-side bindings of the WIT worlds, generated in one place from `wit/`.

/// The `policy` world: what a rule exports and may import.
pub mod policy {
    wasmtime::component::bindgen!({
        world: "policy",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The `adapter` world; its shared interfaces are the policy world's types.
pub mod adapter {
    wasmtime::component::bindgen!({
        world: "adapter",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types": super::policy::gatehouse::plugin::types,
            "gatehouse:plugin/osv": super::policy::gatehouse::plugin::osv,
            "gatehouse:plugin/store": super::policy::gatehouse::plugin::store,
            "gatehouse:plugin/audit": super::policy::gatehouse::plugin::audit,
            "gatehouse:plugin/log": super::policy::gatehouse::plugin::log,
        },
    });
}

/// The `manifest` export of a `registry-adapter` (0.1.2), which adapters
/// built against older versions lack.
pub mod manifest_reader {
    wasmtime::component::bindgen!({
        world: "manifest-reader",
        path: "../wit",
        exports: { default: async },
        with: {
            "gatehouse:plugin/types": super::policy::gatehouse::plugin::types,
        },
    });
}

pub use policy::gatehouse::plugin::osv::{Advisory, Interval, PackageAdvisory, Severity};
pub use policy::gatehouse::plugin::types::{
    Action, Context, Dependency, Digest, FactFields, FactReads, Purpose, Verdict, VersionFacts,
};
