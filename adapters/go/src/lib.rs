//! `goproxy`: the gatehouse adapter for the Go module proxy protocol
//! (`GOPROXY=http://gatehouse/go`).
//!
//! - `/{module}/@v/list`: upstream's list without the blocked versions (one
//!   gate batch, ecosystem `Go`, names the decoded module path).
//! - `/{module}/@latest`: upstream's answer, or when that version is blocked
//!   the `.info` of the highest allowed version.
//! - `/{module}/@v/{version}.info`, `.mod`: gated; a block is a 403 whose text
//!   the go command prints (never 404 or 410, on which it would try the next
//!   proxy or `direct`).
//! - `/{module}/@v/{version}.zip`: gated as an artifact, checked against the
//!   checksum database and served byte for byte (see [`service`] for why the
//!   zip passes through the adapter rather than an artifact plan).
//!
//! Settings: `{"sumdb": "http://...", "verify": true}`. `go.mod` files and zips
//! are served only when their `h1:` hash matches the checksum database's
//! record; without a `sumdb` only `verify: false` serves them (unchecked).
//!
//! The logic lives in plain modules tested natively; this file is the glue to
//! the host's imports, which only exist inside the component.

pub mod dirhash;
pub mod escape;
pub mod route;
pub mod service;
pub mod sumdb;

use gatehouse_adapter_sdk::{Guest, Outcome, Request, WitHost};

pub use service::{Settings, handle};

pub struct GoProxy;

impl Guest for GoProxy {
    fn handle(settings: String, request: Request) -> Outcome {
        handle(&WitHost, &settings, &request)
    }
}

gatehouse_adapter_sdk::export_adapter!(GoProxy);
