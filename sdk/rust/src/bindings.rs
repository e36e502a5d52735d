//! The policy world's bindings, generated from `wit/` (the one source of truth).
#![allow(missing_docs, unsafe_code, clippy::all)]

wit_bindgen::generate!({
    world: "policy",
    path: "../../wit",
    pub_export_macro: true,
    export_macro_name: "__export_policy",
    default_bindings_module: "gatehouse_sdk::bindings",
    additional_derives: [PartialEq],
});
