//! Differential tests: `gatehouse_versions` against each ecosystem's own
//! implementation (node's `semver`, Python's `packaging`, the `semver` crate
//! cargo uses, Go's `x/mod/semver`), each asked once for a batch of the
//! fixtures' versions, every published version of a few hundred popular
//! packages (`corpus/`, fetched once by `corpus/fetch.py` from the registries
//! the clients are configured with), 100,000 generated ones, and a few
//! hundred ranges.
//! Every disagreement is a bug, or listed in the ecosystem's allow-list with
//! the reason it is intended.

// Synchronous tests: blocking file access is what they need.
#![allow(clippy::disallowed_methods)]

mod cargo;
mod go;
mod harness;
mod npm;
mod pypi;
