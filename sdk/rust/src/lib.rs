//! `gatehouse-sdk`: write gatehouse policies in Rust.
//!
//! A policy implements [`Policy`] and exports itself with [`export_policy!`]:
//!
//! ```ignore
//! use gatehouse_sdk::{Context, Policy, Verdict, VersionFacts};
//!
//! #[derive(serde::Deserialize, Default)]
//! struct Settings { banned: Vec<String> }
//!
//! struct Banned;
//! impl Policy for Banned {
//!     type Settings = Settings;
//!     fn check(settings: &Settings, _: &Context, facts: &VersionFacts) -> Verdict {
//!         if settings.banned.contains(&facts.name) {
//!             Verdict::block(format!("{} is banned here; pick another package", facts.name))
//!         } else {
//!             Verdict::allow()
//!         }
//!     }
//! }
//! gatehouse_sdk::export_policy!(Banned);
//! ```
//!
//! The host capabilities (`osv`, `store`, `audit`, `log`) are in [`host`]; on a
//! native target they are served by [`testing::MockHost`], so a policy's logic is
//! unit-tested with plain `cargo test`, and [`testing::run_fixtures`] runs the
//! policy's fixture files there too.
//!
//! Helpers for what most rules need: [`OnMatch`] (an `action: warn|block`
//! setting), [`names`] (package names as registries compare them, `name@version`
//! entries), [`text::excerpt`] (quoting registry text in a reason), [`duration`]
//! and [`version`] (each ecosystem's version order and ranges).

pub mod bindings;
pub mod duration;
pub mod host;
pub mod names;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod text;
mod verdict;

pub use bindings::gatehouse::plugin::osv::{Advisory, Severity};
pub use bindings::gatehouse::plugin::types::{
    Action, Context, Dependency, Digest, Purpose, Verdict, VersionFacts,
};
pub use gatehouse_versions as version;
pub use serde;
pub use serde_json;
pub use verdict::OnMatch;

/// Facts that name `name@version` of `ecosystem` and nothing more (a
/// package a policy looks up on its own, such as an image's OS package).
pub fn named(ecosystem: &str, name: &str, version: &str) -> VersionFacts {
    VersionFacts {
        ecosystem: ecosystem.into(),
        name: name.into(),
        version: version.into(),
        published: None,
        license: None,
        install_scripts: Vec::new(),
        deprecated: None,
        yanked: None,
        size: None,
        digests: Vec::new(),
        dependencies: Vec::new(),
        raw: "{}".into(),
    }
}

/// A batch's verdicts, one per version in input order, or why the policy could
/// not judge the batch (the host then applies the policy's `on_error`).
pub type Verdicts = Result<Vec<Verdict>, String>;

/// A gatehouse rule.
///
/// Implement [`Policy::check`] for a per-version rule, or [`Policy::evaluate`]
/// when the rule wants the whole batch at once (e.g. one OSV query for every
/// version of a package).
pub trait Policy {
    /// The policy's block of the gate-policy file, deserialised. Missing keys
    /// should default so that an empty block works. The host passes `{}` for an
    /// empty block, which `()` cannot read: a rule without settings uses an empty
    /// struct (`struct Settings {}`).
    type Settings: serde::de::DeserializeOwned + Default;

    /// The verdict for one version. The default allows.
    fn check(settings: &Self::Settings, context: &Context, facts: &VersionFacts) -> Verdict {
        let _ = (settings, context, facts);
        Verdict::allow()
    }

    /// The verdicts for a batch: one per input, in order.
    fn evaluate(settings: &Self::Settings, context: &Context, facts: &[VersionFacts]) -> Verdicts {
        Ok(facts
            .iter()
            .map(|f| Self::check(settings, context, f))
            .collect())
    }
}

/// The `gatehouse:reads` tokens of one `reads` entry (for [`export_policy!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __reads_tokens {
    (raw) => {
        "raw "
    };
    (raw ($($key:literal),+)) => {
        concat!($("raw.", $key, " "),+)
    };
    (dependencies) => {
        "dependencies "
    };
    ($other:ident $($keys:tt)?) => {
        compile_error!(concat!(
            "`reads` knows `raw`, `raw(\"key\", ...)` and `dependencies`, not `",
            stringify!($other),
            "`"
        ))
    };
}

/// `text` as the byte array of a custom section (for [`export_policy!`]).
#[doc(hidden)]
pub const fn section_bytes<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    let mut out = [0u8; N];
    let mut at = 0;
    while at < N {
        out[at] = bytes[at];
        at += 1;
    }
    out
}

/// Parses the settings JSON (an empty document means defaults) and runs `P`.
///
/// This is what the exported `evaluate` calls, and what tests call natively.
pub fn run<P: Policy>(settings: &str, context: &Context, facts: &[VersionFacts]) -> Verdicts {
    let settings: P::Settings = if settings.trim().is_empty() {
        P::Settings::default()
    } else {
        serde_json::from_str(settings).map_err(|e| format!("invalid settings: {e}"))?
    };
    let verdicts = P::evaluate(&settings, context, facts)?;
    if verdicts.len() != facts.len() {
        return Err(format!(
            "policy returned {} verdicts for {} versions",
            verdicts.len(),
            facts.len()
        ));
    }
    Ok(verdicts)
}

/// Exports a [`Policy`] implementation as the component's `evaluate`.
///
/// `export_policy!(P, reads: [...])` also declares which costly facts the
/// policy reads: `raw` (all of it), `raw("scripts", "license")` (only those
/// top-level keys of it), `dependencies`; `reads: []` for none. Adapters skip
/// building what no policy reads. Without `reads`, the policy gets everything.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty, reads: [$($field:ident $(($($key:literal),+ $(,)?))?),* $(,)?]) => {
        $crate::export_policy!($policy);

        // Never empty: a zero-sized section could be dropped by the linker,
        // which would read as "reads everything".
        #[cfg(target_arch = "wasm32")]
        const __GATEHOUSE_READS: &str =
            concat!($($crate::__reads_tokens!($field $(($($key),+))?),)* "\n");
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        #[used]
        #[unsafe(link_section = "gatehouse:reads")]
        static __GATEHOUSE_READS_SECTION: [u8; __GATEHOUSE_READS.len()] =
            $crate::section_bytes(__GATEHOUSE_READS);
    };
    ($policy:ty) => {
        #[doc(hidden)]
        pub struct __GatehousePolicyExport;

        impl $crate::bindings::Guest for __GatehousePolicyExport {
            fn evaluate(
                settings: ::std::string::String,
                context: $crate::Context,
                facts: ::std::vec::Vec<$crate::VersionFacts>,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::Verdict>, ::std::string::String> {
                $crate::run::<$policy>(&settings, &context, &facts)
            }
        }

        $crate::bindings::__export_policy!(__GatehousePolicyExport with_types_in $crate::bindings);
    };
}
