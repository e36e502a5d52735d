//! gatehouse: a package firewall. A pull-through proxy for package registries
//! whose ecosystem adapters and policy rules are WebAssembly components.
//!
//! One way through the code: [`server`] receives a request → the adapter
//! component ([`runtime`]) turns it into a response or an artifact plan, using
//! [`upstream`] (fetch + cache, only where [`egress`] allows) and [`gate`] (the
//! policy batch) through the [`capabilities`] → [`artifact`] fetches, verifies
//! and serves bytes natively.
//!
//! Beside that path: [`bounds`] (every cap and the guest deadline's
//! settings), [`audit`] (the crash-safe hash chain, its writer thread,
//! rotation and index), [`advisories`] (the OSV mirror kept current, its
//! health and the live fallback), [`preflight`] (`decide` and `check` judging
//! on the adapter's own facts, with [`lockfile`] readers).

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
pub(crate) mod ecosystem;
pub(crate) mod egress;
pub(crate) mod exceptions;
pub mod gate;
pub mod gate_policy;
pub mod http;
pub(crate) mod init;
pub(crate) mod lockfile;
pub mod memo;
pub(crate) mod metrics;
pub(crate) mod policy_project;
pub(crate) mod policy_test;
pub(crate) mod preflight;
pub mod proxy;
pub mod reviews;
pub mod runtime;
pub mod server;
pub(crate) mod single_flight;
pub(crate) mod state_file;
pub(crate) mod text;

/// The command line, the binary's one entry point into the library.
pub use cli::{Cli, run};
