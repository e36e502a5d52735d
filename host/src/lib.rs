//! gatehouse: a package firewall. A pull-through proxy for package registries
//! whose ecosystem adapters and policy rules are WebAssembly components.
//!
//! Imports flow one way, like the data (`tests/all/architecture.rs` fails on
//! a cycle). From the top:
//!
//! - The HTTP layer: [`server`] accepts connections and routes; [`app`] is
//!   what a request can reach; [`proxy`] runs an ecosystem's request through
//!   its adapter and serves the outcome; `oci` is the container registries'
//!   front (`/v2/`) onto it; `api` (`decide`) and `admin` answer
//!   the JSON APIs; `console` serves the admin console's pages, another
//!   view onto `admin`'s operations; [`http`] holds the shared body and response helpers and
//!   `HttpError`, the one place a failure becomes a status and a message.
//! - Beside the proxy: `preflight` (`decide` and `check` on the adapter's own
//!   facts, with the `host/lockfile` crate's readers), [`artifact`] (fetch, hash, verify,
//!   store and serve bytes natively), [`contents`] (the artifact check: its
//!   own manifest, read by the `gatehouse-archive` crate, against registry metadata; its SBOM via
//!   `sbom` into [`sbom_store`]), [`memo`] (adapter outcomes reused while
//!   what they were built from holds), [`gate`] (one package's facts through
//!   every policy, the last-stop gate's batch), [`adapter_route`] (one call of
//!   an adapter component on its route).
//! - [`runtime`]: the wasmtime engine, loaded generations of components, hot
//!   swap, and each call's store ([`runtime::guest`]), which composes the
//!   capabilities' per-call states.
//! - [`capabilities`]: one folder per WIT interface the host offers, each its
//!   service (`mod.rs`) and its WIT side (`host.rs`: a view with
//!   `impl Host`, and `add_to_linker`): `audit` (the crash-safe hash chain),
//!   `upstream` (fetch + cache, only where `egress` allows), `osv` (the
//!   mirror, its sync and health), `store`, `log`, and `gate` (the narrow
//!   handle adapters evaluate facts through).
//! - Below: [`config`] (the YAML read once into one resolved `Settings`,
//!   every default in `config::defaults`), `exceptions`, [`reviews`],
//!   [`auth`], `metrics`, and leaves: `bounds` (applying the caps), `egress`
//!   (where bytes may come from), `ecosystem` (names and spellings),
//!   [`bindings`] (the generated WIT types), `text`, `single_flight`,
//!   `state_file`.
//! - The command line (`cli`, `init`, `policy_project`, `policy_test`) sits
//!   on top; the binary calls [`run`].

pub mod adapter_route;
pub(crate) mod admin;
pub(crate) mod api;
pub mod app;
pub mod artifact;
pub mod auth;
pub mod bindings;
pub(crate) mod bounds;
pub mod capabilities;
pub(crate) mod cli;
pub mod components;
pub mod config;
pub(crate) mod console;
pub mod contents;
pub(crate) mod ecosystem;
pub(crate) mod egress;
pub(crate) mod exceptions;
pub mod gate;
pub mod gate_policy;
pub mod http;
pub(crate) mod init;
pub mod memo;
pub(crate) mod metrics;
pub(crate) mod oci;
pub(crate) mod policy_project;
pub(crate) mod policy_test;
pub(crate) mod preflight;
pub mod proxy;
pub mod reviews;
pub mod runtime;
pub(crate) mod sbom;
pub mod sbom_store;
pub mod server;
pub(crate) mod single_flight;
pub(crate) mod state_file;
pub(crate) mod text;

/// The command line, the binary's one entry point into the library.
pub use cli::{Cli, run};
