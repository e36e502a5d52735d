//! `npm`: the gatehouse adapter for the npm registry protocol.
//!
//! - `GET /{name}` (scoped names in every spelling): upstream's full packument,
//!   each version gated (one `metadata` batch), blocked versions deprecated or
//!   removed (see [`settings`]), dist-tags kept off them, tarball URLs pointed
//!   here; the abbreviated form for `Accept: application/vnd.npm.install-v1+json`.
//! - `GET /{name}/-/{file}.tgz`: planned as an artifact from the (cached)
//!   packument's URL and digests; the host gates, verifies and serves it.
//! - `POST /-/npm/v1/security/advisories/bulk`: `npm audit`, answered from the
//!   host's OSV mirror (see [`audit`]).
//! - `/-/ping` and the root.
//! - The tarball's own `package.json`, for the host's artifact check (see
//!   [`manifest`]).
//!
//! The request flow lives in `service`, over the SDK's `Host` trait, so it
//! runs natively in tests against a fake host; this file is only the glue to
//! the host's imports, which exist inside the component alone.

pub mod audit;
pub mod facts;
pub mod integrity;
pub mod json;
pub mod manifest;
pub mod packument;
pub mod route;
pub mod settings;
pub mod tags;

mod service;

use gatehouse_adapter_sdk::{Guest, Outcome, Request, WitHost};

pub use service::handle;

pub struct NpmAdapter;

impl Guest for NpmAdapter {
    fn handle(settings: String, request: Request) -> Outcome {
        handle(&WitHost, &settings, &request)
    }
}

gatehouse_adapter_sdk::export_adapter!(NpmAdapter, manifest = manifest::read);
