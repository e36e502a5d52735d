//! `pypi`: the Python simple repository API (PEP 503 HTML and PEP 691 JSON,
//! with PEP 592 yanks, PEP 658/714 metadata files and PEP 700 fields).
//!
//! Pages are fetched from the configured upstream index, every version is
//! gated in one batch, blocked versions are yanked with the reason (or
//! hidden), and file links are rewritten to `/files/{project}/{filename}`
//! below this adapter. A download is resolved through the upstream page
//! again; the request only names a file, never where it comes from.
//!
//! A distribution's own core metadata is read for the host's artifact check
//! (see `manifest`).
//!
//! Settings: `{"blocked_files": "yank" | "hide"}` (default `yank`).

mod download;
mod filename;
mod html;
mod json;
mod manifest;
mod name;
mod negotiate;
mod page;
mod release;
mod route;
mod service;

use gatehouse_adapter_sdk::{Guest, Outcome, Request, WitHost};

pub use service::{Settings, handle};

pub struct Pypi;

impl Guest for Pypi {
    fn handle(settings: String, request: Request) -> Outcome {
        handle(&WitHost, &settings, &request)
    }
}

gatehouse_adapter_sdk::export_adapter!(Pypi, manifest = manifest::read);
