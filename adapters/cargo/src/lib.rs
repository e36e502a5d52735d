//! `cargo` (crate `cargo-registry`): the Cargo sparse registry protocol.
//!
//! `/index/config.json` points cargo's downloads back at this adapter
//! (`/api/v1/crates/{crate}/{version}/download`). Index files
//! (`/index/{1,2,3/c,ab/cd}/{name}`) are fetched from the configured upstream
//! sparse index, every version is gated in one batch, and blocked versions are
//! marked `"yanked": true` — other lines pass through byte-identical — so
//! lockfiles that pin them still resolve and fail at the download with the
//! reason. A download is resolved through the upstream index file and the
//! upstream `config.json`'s `dl` template; the request only names a crate and
//! a version, never where the bytes come from.
//!
//! A crate's own `Cargo.toml` is read for the host's artifact check (see
//! `manifest`).
//!
//! Settings: none; the adapter's config block is ignored.

mod index;
mod manifest;
mod registry;
mod route;
mod service;

use gatehouse_adapter_sdk::{Guest, Outcome, Request, WitHost};

pub use service::handle;

pub struct CargoRegistry;

impl Guest for CargoRegistry {
    fn handle(_settings: String, request: Request) -> Outcome {
        handle(&WitHost, &request)
    }
}

gatehouse_adapter_sdk::export_adapter!(CargoRegistry, manifest = manifest::read);
