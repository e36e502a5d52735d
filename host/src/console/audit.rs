//! The audit page: the filters of `GET /api/v1/admin/proxy/audit`
//! (ecosystem, package, version, action, event, user, since), newest first
//! one page at a time, one record in full with its verdicts, and the chain's
//! verification on request (it reads every file).

use std::sync::Arc;

use hyper::{Response, StatusCode};
use serde_json::Value;

use super::html::{self, Nav, Row, badge, esc, package_link, query_value, table};
use super::session::Signed;
use crate::admin::read_audit;
use crate::app::App;
use crate::capabilities::audit::AuditQuery;
use crate::http::{Body, HttpError};

/// Records per page.
const PAGE: usize = 50;

/// The page's query: the API's filters, empty fields meaning "any".
#[derive(Debug, Default, serde::Deserialize)]
pub struct Filters {
    #[serde(default)]
    ecosystem: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    since: String,
    before: Option<usize>,
    /// Show this line in full.
    line: Option<usize>,
    /// Verify the chain.
    #[serde(default)]
    verify: String,
}

impl Filters {
    /// The filters as `(name, value)`, empty ones left out.
    fn fields(&self) -> [(&'static str, &str); 7] {
        [
            ("ecosystem", self.ecosystem.as_str()),
            ("package", self.package.as_str()),
            ("version", self.version.as_str()),
            ("action", self.action.as_str()),
            ("event", self.event.as_str()),
            ("user", self.user.as_str()),
            ("since", self.since.as_str()),
        ]
    }

    fn query(&self) -> AuditQuery {
        let some = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        AuditQuery {
            ecosystem: some(&self.ecosystem),
            package: some(&self.package),
            version: some(&self.version),
            action: some(&self.action),
            event: some(&self.event),
            user: some(&self.user),
            since: some(&self.since),
            limit: Some(PAGE),
            before: self.before,
        }
    }

    /// The query string of these filters (for paging links).
    fn link(&self) -> String {
        self.fields()
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(name, value)| format!("{name}={}", query_value(value.trim())))
            .collect::<Vec<_>>()
            .join("&amp;")
    }
}

pub async fn page(
    app: &Arc<App>,
    signed: &Signed,
    filters: Filters,
) -> Result<Response<Body>, HttpError> {
    if let Some(line) = filters.line {
        return record(app, signed, line).await;
    }
    let mut body = filter_form(&filters);
    body.push_str(&chain_state(app, !filters.verify.is_empty()).await);
    let query = filters.query();
    let page = read_audit(app, move |log| log.query(&query)).await?;
    let rows: Vec<Row> = page.records.iter().map(summary_row).collect();
    body.push_str(&table(
        "Audit records, newest first",
        &[
            "Line",
            "Time",
            "Event",
            "Ecosystem",
            "Package",
            "Version",
            "Action",
            "Rule",
            "Requester",
            "Reason",
        ],
        &rows,
        "No audit record matches these filters.",
    ));
    if let Some(next) = page.next {
        let filters = filters.link();
        let separator = if filters.is_empty() { "" } else { "&amp;" };
        body.push_str(&format!(
            "<p><a class=\"button\" href=\"/console/audit?{filters}{separator}before={next}\" rel=\"next\">Older records</a></p>"
        ));
    }
    Ok(html::page(
        StatusCode::OK,
        "Audit",
        Nav::Audit,
        Some(signed),
        &body,
    ))
}

fn filter_form(filters: &Filters) -> String {
    let actions = [
        ("", "any"),
        ("allow", "allow"),
        ("warn", "warn"),
        ("block", "block"),
    ];
    format!(
        "<form method=\"get\" action=\"/console/audit\" class=\"filters card\" role=\"search\" aria-label=\"Audit filters\">{}{}{}{}{}{}{}\
         <div class=\"actions\"><button type=\"submit\" id=\"filter\">Filter</button> <a href=\"/console/audit\">Clear</a></div></form>",
        html::ecosystem_select("ecosystem", Some(("", "any")), &filters.ecosystem),
        html::text_input("Package", "package", &filters.package, ""),
        html::text_input("Version", "version", &filters.version, ""),
        html::select("Action", "action", &actions, &filters.action),
        html::text_input(
            "Event",
            "event",
            &filters.event,
            "placeholder=\"metadata, artifact, check, auth-failure…\""
        ),
        html::text_input(
            "User",
            "user",
            &filters.user,
            "placeholder=\"name or address\""
        ),
        html::text_input(
            "Since",
            "since",
            &filters.since,
            "placeholder=\"24h, or 2026-01-31T00:00:00Z\""
        ),
    )
}

/// The chain's state: checked when asked (`verify`), since it reads every file.
async fn chain_state(app: &App, verify: bool) -> String {
    let state = if !verify {
        "<p>Not checked on this view: checking reads every file of the log. <a class=\"button\" href=\"/console/audit?verify=1\" id=\"verify\">Verify the chain</a></p>".to_owned()
    } else {
        match read_audit(app, |log| log.verify_chain()).await {
            Ok(verified) => format!(
                "<p id=\"chain-state\">{} {} lines in {} files link up, each matching its hash{}{}.</p>",
                badge("ok"),
                verified.lines,
                verified.files,
                if verified.recovered > 0 {
                    format!(
                        "; {} torn tails were cut after crashes (see the <code>recovered</code> records)",
                        verified.recovered
                    )
                } else {
                    String::new()
                },
                if verified.pruned_start {
                    "; the oldest files were removed by retention"
                } else {
                    ""
                }
            ),
            Err(broken) => format!(
                "<p id=\"chain-state\" role=\"alert\">{} {}</p>",
                badge("broken"),
                esc(&broken.to_string())
            ),
        }
    };
    format!(
        "<section class=\"card\" aria-labelledby=\"chain\"><h2 id=\"chain\">Chain</h2>{state}</section>"
    )
}

fn text<'a>(record: &'a Value, field: &str) -> &'a str {
    record[field].as_str().unwrap_or("")
}

fn summary_row(record: &Value) -> Row {
    let line = record["line"].as_u64().unwrap_or(0);
    let (ecosystem, package) = (text(record, "ecosystem"), text(record, "package"));
    let action = text(record, "action");
    Row::new(vec![
        format!(
            "<a href=\"/console/audit?line={line}\" aria-label=\"Record {line} in full\">{line}</a>"
        ),
        esc(text(record, "time")),
        esc(text(record, "event")),
        esc(ecosystem),
        if package.is_empty() || ecosystem.is_empty() {
            esc(package)
        } else {
            package_link(ecosystem, package)
        },
        esc(text(record, "version")),
        if action.is_empty() {
            String::new()
        } else {
            badge(action)
        },
        esc(text(record, "rule")),
        esc(text(record, "requester")),
        format!(
            "<span class=\"reason\">{}</span>",
            esc(text(record, "reason"))
        ),
    ])
}

/// One record in full: every field, and its verdicts (rule with reason).
async fn record(app: &App, signed: &Signed, line: usize) -> Result<Response<Body>, HttpError> {
    let query = AuditQuery {
        before: Some(line.saturating_add(1)),
        limit: Some(1),
        ..AuditQuery::default()
    };
    let page = read_audit(app, move |log| log.query(&query)).await?;
    let record = page
        .records
        .into_iter()
        .find(|r| r["line"].as_u64() == Some(line as u64))
        .ok_or_else(|| HttpError::NotFound(format!("no audit record at line {line}")))?;
    let mut body = String::from("<dl class=\"record card\">");
    if let Value::Object(fields) = &record {
        for (name, value) in fields {
            let shown = match value {
                Value::String(text) => esc(text),
                other => format!("<code>{}</code>", esc(&other.to_string())),
            };
            body.push_str(&format!("<dt>{}</dt><dd>{shown}</dd>", esc(name)));
        }
    }
    body.push_str("</dl>");
    let rules: Vec<&str> = text(&record, "rule")
        .split(',')
        .filter(|r| !r.is_empty())
        .collect();
    // The gate joins the verdicts' rules with "," and their reasons with
    // "; "; a reason may hold "; " itself, so pairs are only read back when
    // the counts agree, and otherwise the rules stand with the whole reason.
    let reason = text(&record, "reason");
    let reasons: Vec<&str> = reason.split("; ").collect();
    let verdicts: Vec<Row> = if rules.is_empty() {
        Vec::new()
    } else if rules.len() == reasons.len() {
        rules
            .iter()
            .zip(&reasons)
            .map(|(rule, reason)| Row::new(vec![esc(rule), esc(reason)]))
            .collect()
    } else {
        vec![Row::new(vec![esc(&rules.join(", ")), esc(reason)])]
    };
    body.push_str("<h2>Verdicts</h2>");
    body.push_str(&table(
        "The verdicts of this record",
        &["Rule", "Reason"],
        &verdicts,
        "This record carries no verdict.",
    ));
    body.push_str("<p><a href=\"/console/audit\">All records</a></p>");
    Ok(html::page(
        StatusCode::OK,
        &format!("Audit record {line}"),
        Nav::Audit,
        Some(signed),
        &body,
    ))
}
