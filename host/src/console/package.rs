//! A package's page: every version the audit log has seen with its latest
//! decision and why, links to the SBOMs kept for them, the advisories the
//! OSV mirror holds for it, its exceptions and reviews, and the forms that
//! add either. The SBOMs themselves are served here too, so a console
//! session reads them without a client token.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use hyper::{Response, StatusCode};
use serde_json::Value;

use super::exceptions::{Prefill, exception_form, exception_table, review_form, review_table};
use super::html::{self, Nav, Row, badge, esc, query_value, table};
use super::session::Signed;
use crate::admin::read_audit;
use crate::app::App;
use crate::capabilities::audit::AuditQuery;
use crate::ecosystem::named_package;
use crate::http::{Body, HttpError};

/// The audit records read for one package (newest first).
const RECORDS: usize = 1000;

#[derive(Debug, serde::Deserialize)]
pub struct Which {
    ecosystem: String,
    name: String,
}

pub async fn page(
    app: &Arc<App>,
    signed: &Signed,
    which: Which,
) -> Result<Response<Body>, HttpError> {
    let (ecosystem, package) =
        named_package(&which.ecosystem, &which.name).map_err(HttpError::BadRequest)?;
    let query = AuditQuery {
        ecosystem: Some(ecosystem.to_owned()),
        package: Some(package.clone()),
        limit: Some(RECORDS),
        ..AuditQuery::default()
    };
    let records = read_audit(app, move |log| log.query(&query)).await?.records;
    let (versions, blocking_rules) = versions_seen(&records);
    let back = format!(
        "/console/package?ecosystem={}&name={}",
        query_value(ecosystem),
        query_value(&package)
    );

    let mut body = format!(
        "<p class=\"hint\">{} in {}. <a href=\"/console/audit?ecosystem={}&amp;package={}\">Its audit records</a>.</p>",
        esc(&package),
        esc(ecosystem),
        query_value(ecosystem),
        query_value(&package)
    );
    body.push_str("<section aria-labelledby=\"seen\"><h2 id=\"seen\">Versions seen</h2>");
    body.push_str(&table(
        "Every version seen, with its latest decision",
        &["Version", "Decision", "Rules", "Why", "Event", "When"],
        &versions,
        "The audit log has no decision about a version of this package.",
    ));
    body.push_str("</section>");

    body.push_str("<section aria-labelledby=\"sboms\"><h2 id=\"sboms\">SBOMs</h2>");
    body.push_str(&sbom_links(app, ecosystem, &package, &records).await);
    body.push_str("</section>");

    body.push_str("<section aria-labelledby=\"advisories\"><h2 id=\"advisories\">Advisories</h2>");
    body.push_str(&advisories(app, ecosystem, &package).await);
    body.push_str("</section>");

    let exceptions: Vec<_> = app
        .runtime
        .caps
        .exceptions
        .list()
        .into_iter()
        .filter(|e| e.ecosystem == ecosystem && e.package == package)
        .collect();
    let prefill = Prefill {
        ecosystem: ecosystem.to_owned(),
        package: package.clone(),
        rules: blocking_rules.into_iter().collect::<Vec<_>>().join(","),
    };
    body.push_str("<section aria-labelledby=\"exceptions\"><h2 id=\"exceptions\">Exceptions</h2>");
    body.push_str(&exception_table(signed, &exceptions, &back));
    body.push_str(&exception_form(signed, &prefill, &back));
    body.push_str("</section><section aria-labelledby=\"reviews\"><h2 id=\"reviews\">Reviews</h2>");
    body.push_str(&review_table(
        &app.reviews.list(Some(ecosystem), Some(&package)),
    ));
    body.push_str(&review_form(signed, &prefill, &back));
    body.push_str("</section>");
    Ok(html::page(
        StatusCode::OK,
        &format!("Package {package}"),
        Nav::None,
        Some(signed),
        &body,
    ))
}

/// Links to the SBOM of every version in `records` that has one.
async fn sbom_links(
    app: &Arc<App>,
    ecosystem: &'static str,
    package: &str,
    records: &[Value],
) -> String {
    let mut versions: Vec<String> = records
        .iter()
        .filter_map(|record| record["version"].as_str())
        .filter(|version| !version.is_empty())
        .map(str::to_owned)
        .collect();
    versions.sort();
    versions.dedup();
    let (store, name) = (app.proxy.sboms.clone(), package.to_owned());
    let kept = tokio::task::spawn_blocking(move || {
        versions
            .into_iter()
            .filter(|version| matches!(store.get(ecosystem, &name, version), Ok(Some(_))))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    if kept.is_empty() {
        return "<p class=\"hint\">No SBOM is kept for a version of this package: gatehouse makes one when it verifies an artifact.</p>".into();
    }
    let links: String = kept
        .iter()
        .map(|version| {
            format!(
                "<li><a href=\"/console/sbom?ecosystem={}&amp;name={}&amp;version={}\">{} {} (CycloneDX JSON)</a></li>",
                query_value(ecosystem),
                query_value(package),
                query_value(version),
                esc(package),
                esc(version)
            )
        })
        .collect();
    format!("<ul>{links}</ul>")
}

/// Which version's SBOM `/console/sbom` serves.
#[derive(Debug, serde::Deserialize)]
pub struct Version {
    ecosystem: String,
    name: String,
    version: String,
}

/// The kept SBOM of one version, as `GET /api/v1/sbom/...` serves it.
pub async fn sbom(app: &Arc<App>, which: Version) -> Result<Response<Body>, HttpError> {
    let (ecosystem, package) =
        named_package(&which.ecosystem, &which.name).map_err(HttpError::BadRequest)?;
    app.sbom(ecosystem, &package, &which.version).await
}

/// One row per version, from its newest record, and the rules that blocked
/// any of them.
fn versions_seen(records: &[Value]) -> (Vec<Row>, BTreeSet<String>) {
    let text = |record: &Value, field: &str| record[field].as_str().unwrap_or("").to_owned();
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    let mut blocking = BTreeSet::new();
    for record in records {
        let (version, action) = (text(record, "version"), text(record, "action"));
        if version.is_empty() || action.is_empty() {
            continue;
        }
        if action == "block" {
            blocking.extend(
                text(record, "rule")
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
            );
        }
        if !seen.insert(version.clone()) {
            continue;
        }
        let line = record["line"].as_u64().unwrap_or(0);
        rows.push(Row {
            class: if action == "block" { "error" } else { "" },
            cells: vec![
                esc(&version),
                badge(&action),
                esc(&text(record, "rule")),
                format!(
                    "<span class=\"reason\">{}</span>",
                    esc(&text(record, "reason"))
                ),
                format!(
                    "<a href=\"/console/audit?line={line}\">{}</a>",
                    esc(&text(record, "event"))
                ),
                esc(&text(record, "time")),
            ],
        });
    }
    (rows, blocking)
}

/// The advisories the mirror holds for the package (a failure to read them
/// is shown, not fatal: the rest of the page still serves).
async fn advisories(app: &App, ecosystem: &str, package: &str) -> String {
    let source = app.runtime.caps.osv.clone();
    let (ecosystem, package) = (ecosystem.to_owned(), package.to_owned());
    let found = tokio::task::spawn_blocking(move || source.advisories(&ecosystem, &package))
        .await
        .map_err(|died| died.to_string())
        .and_then(|read| read.map_err(|failed| failed.to_string()));
    let list = match found {
        Ok(list) => list,
        Err(problem) => {
            return format!(
                "<p class=\"problem\">The advisories could not be read: {}</p>",
                esc(&problem)
            );
        }
    };
    let rows: Vec<Row> = list
        .iter()
        .map(|entry| {
            let advisory = &entry.advisory;
            let ranges: Vec<String> = entry
                .intervals
                .iter()
                .map(|i| {
                    let end = match (&i.fixed, &i.last_affected) {
                        (Some(fixed), _) => format!(" < {fixed}"),
                        (None, Some(last)) => format!(" ≤ {last}"),
                        (None, None) => String::new(),
                    };
                    match &i.introduced {
                        Some(start) => format!("≥ {start}{end}"),
                        None => format!("all{end}"),
                    }
                })
                .chain(entry.versions.iter().cloned())
                .collect();
            Row::new(vec![
                esc(&advisory.id),
                badge(if advisory.malicious {
                    "malicious"
                } else {
                    "advisory"
                }),
                esc(&format!("{:?}", advisory.severity).to_lowercase()),
                esc(&advisory.summary),
                esc(&ranges.join(", ")),
            ])
        })
        .collect();
    table(
        "Advisories the OSV mirror holds for this package",
        &["Id", "Kind", "Severity", "Summary", "Affects"],
        &rows,
        "The OSV mirror holds no advisory for this package.",
    )
}
