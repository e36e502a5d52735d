//! The policies page: for each loaded policy, the gate-policy in effect per
//! ecosystem served (the `default` block merged with the ecosystem's, as
//! the gate merges them): its mode, `on_error`, `on_stale`, budget and the
//! settings the component gets; and the configured policies whose
//! component is missing. The host keeps no record of fixture tests (`gatehouse
//! policy test` runs them at deploy time), so the page says so.

use std::sync::Arc;

use hyper::{Response, StatusCode};

use super::html::{self, Nav, Row, badge, esc, table};
use super::session::Signed;
use crate::app::App;
use crate::ecosystem::{canonical_ecosystem, osv_names};
use crate::http::Body;

pub fn page(app: &Arc<App>, signed: &Signed) -> Response<Body> {
    let generation = app.runtime.current();
    let mut ecosystems: Vec<&str> = generation
        .adapters
        .keys()
        .filter_map(|adapter| canonical_ecosystem(adapter))
        .collect();
    ecosystems.sort_unstable();
    ecosystems.dedup();
    if ecosystems.is_empty() {
        // No adapter loaded: every ecosystem the host knows.
        ecosystems = osv_names().collect();
    }
    let mut body = format!(
        "<p class=\"hint\">Generation {}: the gate-policy file's <code>default</code> block merged key by key with each ecosystem's, as the gate applies it, for the ecosystems the loaded adapters serve ({}).</p>",
        generation.id,
        esc(&ecosystems.join(", "))
    );
    for policy in &generation.policies {
        let rows: Vec<Row> = ecosystems
            .iter()
            .map(|ecosystem| {
                let (controls, settings) =
                    generation.gate_policy.settings_for(&policy.name, ecosystem);
                let name = |value: serde_json::Result<serde_json::Value>| {
                    value
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                };
                Row {
                    class: if controls.enabled { "" } else { "expired" },
                    cells: vec![
                        esc(ecosystem),
                        if controls.enabled {
                            badge(&name(serde_json::to_value(controls.mode)))
                        } else {
                            badge("disabled")
                        },
                        esc(&name(serde_json::to_value(controls.on_error))),
                        esc(controls.on_stale.name()),
                        format!("{} ms", controls.timeout.as_millis()),
                        format!("{} MiB", controls.memory_bytes >> 20),
                        format!("<code>{}</code>", esc(&settings)),
                    ],
                }
            })
            .collect();
        body.push_str(&format!(
            "<section class=\"policy\" aria-labelledby=\"policy-{0}\"><h2 id=\"policy-{0}\">{0}</h2><p class=\"hint\">sha256 <code class=\"digest\">{1}</code></p>",
            esc(&policy.name),
            esc(&policy.sha256)
        ));
        body.push_str(&table(
            &format!("The {} policy's settings per ecosystem", policy.name),
            &[
                "Ecosystem",
                "Mode",
                "On error",
                "On stale",
                "Timeout",
                "Memory",
                "Settings",
            ],
            &rows,
            "",
        ));
        body.push_str("</section>");
    }
    if generation.policies.is_empty() {
        body.push_str("<p class=\"empty\">No policy component is loaded.</p>");
    }
    let missing: Vec<Row> = generation
        .missing_policies
        .iter()
        .map(|(policy, problem)| Row {
            class: "error",
            cells: vec![esc(policy), esc(problem)],
        })
        .collect();
    if !missing.is_empty() {
        body.push_str("<section aria-labelledby=\"missing\"><h2 id=\"missing\">Configured but not loaded</h2>");
        body.push_str(&table(
            "Policies the gate-policy file configures whose component is missing (their ecosystems block)",
            &["Policy", "Problem"],
            &missing,
            "",
        ));
        body.push_str("</section>");
    }
    body.push_str("<section aria-labelledby=\"fixtures\"><h2 id=\"fixtures\">Fixture tests</h2><p>The host does not record fixture test runs: <code>gatehouse policy test</code> runs a component's fixtures before it is deployed, and a component that fails to load shows its error on the overview.</p></section>");
    html::page(
        StatusCode::OK,
        "Policies",
        Nav::Policies,
        Some(signed),
        &body,
    )
}
