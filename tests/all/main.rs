//! gatehouse's integration tests, compiled as one binary: each module drives a
//! real `gatehouse serve` (and, where it matters, real clients) against fake
//! upstreams that the suite itself serves on 127.0.0.1.

// Tests prepare and inspect files directly; blocking a test's runtime is fine.
#![allow(clippy::disallowed_methods)]

mod admin;
mod architecture;
mod archives;
mod bounds;
mod cargo;
mod console;
mod durability;
mod egress;
// Each fake offers more knobs than one test uses.
#[allow(dead_code)]
mod fake_cargo;
#[allow(dead_code)]
mod fake_go;
mod fake_http;
#[allow(dead_code)]
mod fake_maven;
#[allow(dead_code)]
mod fake_npm;
#[allow(dead_code)]
mod fake_pypi;
mod freshness;
mod go;
mod host;
mod maven;
mod npm;
mod oci;
mod offline;
mod osv;
mod policies;
mod preflight;
mod pypi;
mod sdk;
mod support;
