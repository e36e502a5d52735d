//! `oci`: the OCI distribution protocol, for container images.
//!
//! The host serves it under `/v2/{upstream}/`, one route per entry of
//! `upstreams:` with `format: oci`, and answers the API version check and
//! refuses writes itself. Below the prefix:
//!
//! - `/{repository}/manifests/{tag|digest}`: the manifest or image index is
//!   fetched from upstream with the OCI and Docker schema 2 types the client
//!   accepts (schema 1 is refused), verified against the digest asked for or
//!   upstream's `Docker-Content-Digest`, and every image it stands for (each
//!   platform of an index) is gated with its config's facts and its OS
//!   packages (read by the host out of its layers); a block answers 403
//!   `DENIED` with the rules and reasons;
//! - `/{repository}/blobs/{digest}`: an artifact plan, verified by the host;
//! - `/{repository}/tags/list`: upstream's tags.
//!
//! Settings: none; the adapter's config block is ignored.

mod error;
mod facts;
mod media;
mod packages;
mod route;
mod service;

use gatehouse_adapter_sdk::{Guest, Outcome, Request, WitHost};

pub use service::handle;

pub struct Oci;

impl Guest for Oci {
    fn handle(_settings: String, request: Request) -> Outcome {
        handle(&WitHost, &request)
    }
}

gatehouse_adapter_sdk::export_adapter!(Oci);
