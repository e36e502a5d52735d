//! The overview: decisions, blocks and warnings of the last 24 hours as
//! charts (from the audit index), the packages blocked most with their
//! rules, the OSV mirror's freshness per ecosystem, and the components
//! loaded with their digests, load errors highlighted.

use std::collections::BTreeSet;
use std::sync::Arc;

use hyper::{Response, StatusCode};

use super::html::{self, Nav, Row, badge, esc, package_link, table};
use super::session::Signed;
use crate::admin::read_audit;
use crate::app::App;
use crate::capabilities::audit::{AuditQuery, BlockedPackage};
use crate::capabilities::osv::advisories::age_text;
use crate::http::{Body, HttpError};

/// Hours the charts cover.
const HOURS: usize = 24;
/// Packages the top-blocked table lists.
const TOP: usize = 10;
/// Blocks of one package read for the rules behind them.
const RULE_SAMPLE: usize = 50;

pub async fn page(app: &Arc<App>, signed: &Signed) -> Result<Response<Body>, HttpError> {
    let activity = read_audit(app, |log| log.activity(HOURS, TOP)).await?;
    let series = |pick: fn(&crate::capabilities::audit::HourCounts) -> u64| -> Vec<u64> {
        activity.hours.iter().map(pick).collect()
    };
    let mut body = String::from(
        "<section aria-labelledby=\"activity\"><h2 id=\"activity\">The last 24 hours</h2><div class=\"charts\">",
    );
    body.push_str(&html::bar_chart(
        "chart-decided",
        "Requests decided",
        "decided",
        &series(|h| h.decided),
    ));
    body.push_str(&html::bar_chart(
        "chart-blocked",
        "Blocks",
        "blocked",
        &series(|h| h.blocked),
    ));
    body.push_str(&html::bar_chart(
        "chart-warned",
        "Warnings",
        "warned",
        &series(|h| h.warned),
    ));
    body.push_str("</div><p class=\"hint\">Counted from the audit log: every metadata document, artifact and checked version decided is one request.</p></section>");

    let mut rows = Vec::new();
    for blocked in &activity.top_blocked {
        let rules = rules_behind(app, blocked).await?;
        rows.push(Row::new(vec![
            esc(&blocked.ecosystem),
            package_link(&blocked.ecosystem, &blocked.package),
            blocked.blocks.to_string(),
            esc(&rules.into_iter().collect::<Vec<_>>().join(", ")),
        ]));
    }
    body.push_str(
        "<section aria-labelledby=\"top-blocked\"><h2 id=\"top-blocked\">Blocked most</h2>",
    );
    body.push_str(&table(
        "Packages blocked most in the last 24 hours",
        &["Ecosystem", "Package", "Blocks", "Rules"],
        &rows,
        "Nothing was blocked in the last 24 hours.",
    ));
    body.push_str("</section>");

    let osv: Vec<Row> = app
        .runtime
        .caps
        .osv
        .health()
        .into_iter()
        .map(|health| Row {
            class: if health.stale.is_some() { "error" } else { "" },
            cells: vec![
                esc(&health.ecosystem),
                health.records.to_string(),
                health.age_seconds.map_or_else(
                    || "never synced".into(),
                    |age| format!("{} ago", age_text(age)),
                ),
                match &health.stale {
                    Some(why) => format!("{} {}", badge("stale"), esc(why)),
                    None => badge("ok"),
                },
                esc(health.last_error.as_deref().unwrap_or("")),
            ],
        })
        .collect();
    body.push_str(
        "<section aria-labelledby=\"osv\"><h2 id=\"osv\">Advisory data (OSV mirror)</h2>",
    );
    body.push_str(&table(
        "Freshness of the OSV mirror per ecosystem",
        &[
            "Ecosystem",
            "Advisories",
            "Last sync",
            "State",
            "Last sync error",
        ],
        &osv,
        "No ecosystem's advisories are mirrored (osv.sync is off, or no adapter is loaded).",
    ));
    body.push_str("</section>");

    let components: Vec<Row> = app
        .runtime
        .statuses()
        .into_iter()
        .map(|status| {
            let failed = status.last_error.is_some() || status.status != "active";
            let problem = [
                status.last_error.clone(),
                status.last_failure.as_ref().map(|f| {
                    format!(
                        "{} run-time failures, the last at {} ({}): {}",
                        status.failures, f.time, f.kind, f.message
                    )
                }),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
            Row {
                class: if failed { "error" } else { "" },
                cells: vec![
                    esc(&status.name),
                    esc(&serde_json::to_value(status.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()),
                    badge(&status.status),
                    format!(
                        "<code class=\"digest\">{}</code>",
                        esc(status.sha256.as_deref().unwrap_or("none"))
                    ),
                    esc(status.loaded_at.as_deref().unwrap_or("")),
                    esc(&problem),
                ],
            }
        })
        .collect();
    body.push_str(&format!(
        "<section aria-labelledby=\"components\"><h2 id=\"components\">Components (generation {})</h2>",
        app.runtime.current().id
    ));
    body.push_str(&table(
        "Components loaded, with their digests and any load error",
        &["Name", "Kind", "Status", "sha256", "Loaded", "Problems"],
        &components,
        "No components are loaded.",
    ));
    body.push_str("</section>");
    Ok(html::page(
        StatusCode::OK,
        "Overview",
        Nav::Overview,
        Some(signed),
        &body,
    ))
}

/// The rules named by the package's latest blocks.
async fn rules_behind(app: &App, blocked: &BlockedPackage) -> Result<BTreeSet<String>, HttpError> {
    let query = AuditQuery {
        ecosystem: Some(blocked.ecosystem.clone()),
        package: Some(blocked.package.clone()),
        action: Some("block".into()),
        limit: Some(RULE_SAMPLE),
        ..AuditQuery::default()
    };
    let page = read_audit(app, move |log| log.query(&query)).await?;
    Ok(page
        .records
        .iter()
        .filter_map(|record| record["rule"].as_str())
        .flat_map(|rules| rules.split(','))
        .map(str::trim)
        .filter(|rule| !rule.is_empty())
        .map(str::to_owned)
        .collect())
}
