//! A policy for the host's tests: `{"behavior": ...}` picks the misbehaviour.
//!
//! Guest-only: `loop`, `hoard` (memory), `trap`, `short` (too few verdicts),
//! `block` (every version, reason "misbehave blocks" or the setting
//! `reason`, escape sequences and all), `huge-reason` (blocks
//! with a 5 MB reason). Loops on a host capability, each until the host stops
//! it: `osv-loop`, `store-loop`, `log-loop`, `note-loop`. And `osv-million`
//! (one `osv.affecting` call with 1,000,000 versions), `store-fill` (64 KiB
//! values under new keys until the store refuses; blocks with its error). An
//! unknown or missing behavior allows; `by-name` takes the behaviour from the
//! first package's name.

use gatehouse_sdk::host::{audit_note, log_warn, osv_affecting, store_set};
use gatehouse_sdk::{Context, Policy, Verdict, VersionFacts};

#[derive(serde::Deserialize, Default)]
pub struct Settings {
    #[serde(default)]
    behavior: String,
    reason: Option<String>,
}

pub struct Misbehave;

/// Calls `host_call` until the host stops the guest.
fn forever(mut host_call: impl FnMut(u64)) -> ! {
    let mut n: u64 = 0;
    loop {
        host_call(n);
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

impl Policy for Misbehave {
    type Settings = Settings;

    fn evaluate(
        settings: &Settings,
        _: &Context,
        facts: &[VersionFacts],
    ) -> Result<Vec<Verdict>, String> {
        let blocks = |reason: &str| -> Result<Vec<Verdict>, String> {
            Ok(facts.iter().map(|_| Verdict::block(reason)).collect())
        };
        // `by-name`: the package's name picks the behaviour, so one
        // configuration serves many (decide accepts real ecosystems only).
        let behavior = match settings.behavior.as_str() {
            "by-name" => facts.first().map_or("allow", |f| f.name.as_str()),
            behavior => behavior,
        };
        match behavior {
            "loop" => forever(|_| {}),
            "hoard" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("misbehave was told to trap"),
            "short" => Ok(Vec::new()),
            "block" => blocks(settings.reason.as_deref().unwrap_or("misbehave blocks")),
            "huge-reason" => blocks(&"x".repeat(5_000_000)),
            "osv-loop" => {
                let versions: Vec<String> = (0..1000).map(|i| format!("1.0.{i}")).collect();
                forever(|_| {
                    std::hint::black_box(osv_affecting("npm", "looped", &versions));
                })
            }
            "osv-million" => {
                let versions: Vec<String> = (0..1_000_000).map(|i| format!("1.{i}.0")).collect();
                let found = osv_affecting("npm", "million", &versions);
                Ok(facts
                    .iter()
                    .map(|_| Verdict::block(format!("{} lists answered", found.len())))
                    .collect())
            }
            "store-loop" => forever(|n| {
                let _ = store_set(&format!("k{}", n % 100), b"v", None);
            }),
            "store-fill" => {
                let value = vec![7; 64 << 10];
                for n in 0.. {
                    if let Err(error) = store_set(&format!("fill-{n}"), &value, None) {
                        return blocks(&error);
                    }
                }
                unreachable!("the store refuses first")
            }
            "log-loop" => forever(|n| log_warn(&format!("flood line {n}: {}", "y".repeat(200)))),
            "note-loop" => forever(|n| audit_note("npm", "noted", "1.0.0", &format!("note {n}"))),
            _ => Ok(facts.iter().map(|_| Verdict::allow()).collect()),
        }
    }
}

gatehouse_sdk::export_policy!(Misbehave);
