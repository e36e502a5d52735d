//! A policy for the host's tests: `{"behavior": "loop" | "hoard" | "trap" | "short" | "block"}`.
//! `block` blocks every version with reason "misbehave blocks" (or the
//! setting `reason`, escape sequences and all); an unknown or missing
//! behavior allows.

use gatehouse_sdk::{Context, Policy, Verdict, VersionFacts};

#[derive(serde::Deserialize, Default)]
pub struct Settings {
    #[serde(default)]
    behavior: String,
    reason: Option<String>,
}

pub struct Misbehave;

impl Policy for Misbehave {
    type Settings = Settings;

    fn evaluate(
        settings: &Settings,
        _: &Context,
        facts: &[VersionFacts],
    ) -> Result<Vec<Verdict>, String> {
        match settings.behavior.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "hoard" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("misbehave was told to trap"),
            "short" => Ok(Vec::new()),
            "block" => Ok(facts
                .iter()
                .map(|_| Verdict::block(settings.reason.as_deref().unwrap_or("misbehave blocks")))
                .collect()),
            _ => Ok(facts.iter().map(|_| Verdict::allow()).collect()),
        }
    }
}

gatehouse_sdk::export_policy!(Misbehave);
