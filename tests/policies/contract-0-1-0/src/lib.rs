//! A policy built against `gatehouse:plugin@0.1.0`, whose WIT is kept frozen in
//! `wit/` here: the WIT only grows in minor versions, so a host at a later 0.1.x
//! must load it and answer through it unchanged. It blocks every version that
//! the OSV import reports, naming the contract, and allows the rest.
// The generated glue is `unsafe` and lifts records into long argument lists.
#![allow(unsafe_code, clippy::too_many_arguments)]

wit_bindgen::generate!({ world: "policy", path: "wit" });

use gatehouse::plugin::osv;
use gatehouse::plugin::types::Action;

struct Contract;

impl Guest for Contract {
    fn evaluate(
        _settings: String,
        _context: Context,
        facts: Vec<VersionFacts>,
    ) -> Result<Vec<Verdict>, String> {
        let Some(first) = facts.first() else {
            return Ok(Vec::new());
        };
        let versions: Vec<String> = facts.iter().map(|f| f.version.clone()).collect();
        let found = osv::affecting(&first.ecosystem, &first.name, &versions);
        Ok(found
            .iter()
            .map(|advisories| {
                let (action, reason) = if advisories.is_empty() {
                    (Action::Allow, String::new())
                } else {
                    (Action::Block, "reported (contract 0.1.0)".to_owned())
                };
                Verdict {
                    action,
                    rule: "contract-0-1-0".into(),
                    reason,
                    advisories: advisories.iter().map(|a| a.id.clone()).collect(),
                }
            })
            .collect())
    }
}

export!(Contract);
