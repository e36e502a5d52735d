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

pub mod admin;
pub mod advisories;
pub mod api;
pub mod artifact;
pub mod audit;
pub mod auth;
pub mod bindings;
pub mod bounds;
pub mod capabilities;
pub mod cli;
pub mod components;
pub mod config;
pub mod ecosystem;
pub mod egress;
pub mod exceptions;
pub mod gate;
pub mod gate_policy;
pub mod init;
pub mod lockfile;
pub mod memo;
pub mod metrics;
pub mod policy_project;
pub mod policy_test;
pub mod preflight;
pub mod reviews;
pub mod runtime;
pub mod server;
pub mod single_flight;
pub mod state_file;
pub mod upstream;
