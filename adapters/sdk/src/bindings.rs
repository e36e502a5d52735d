//! The adapter world's bindings, generated from `wit/` (the one source of truth).
#![allow(missing_docs, unsafe_code, clippy::all)]

wit_bindgen::generate!({
    world: "registry-adapter",
    path: "../../wit",
    pub_export_macro: true,
    export_macro_name: "__export_adapter",
    default_bindings_module: "gatehouse_adapter_sdk::bindings",
});
