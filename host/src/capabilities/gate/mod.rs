//! The `gate` capability: an adapter asks the active policy set about a batch.

mod host;
