//! Exceptions and reviews: the lists (expired exceptions greyed, each live
//! one with its revoke button), the forms that create them (also on a
//! package's page), and the writes behind them, through `admin`'s
//! operations so they are validated and audited as the API's are.

use std::sync::Arc;
use std::time::SystemTime;

use hyper::{Response, StatusCode};

use super::html::{self, Control, Nav, Row, badge, esc, package_link, table};
use super::session::Signed;
use crate::admin::{add_exception, add_review, delete_exception};
use crate::app::App;
use crate::exceptions::{Exception, NewException};
use crate::http::{Body, HttpError};
use crate::reviews::{NewReview, Review};

/// Where a write returns when its form names no page.
const HERE: &str = "/console/exceptions";

/// The expiry choices of the exception form.
const EXPIRIES: [(&str, &str); 6] = [
    ("1h", "1 hour"),
    ("8h", "8 hours"),
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
];

pub fn page(app: &Arc<App>, signed: &Signed) -> Response<Body> {
    let exceptions = app.runtime.caps.exceptions.list();
    let mut body = String::from(
        "<section aria-labelledby=\"exceptions\"><h2 id=\"exceptions\">Exceptions</h2>",
    );
    body.push_str(&exception_table(signed, &exceptions, HERE));
    body.push_str(&exception_form(signed, &Prefill::default(), HERE));
    body.push_str("</section><section aria-labelledby=\"reviews\"><h2 id=\"reviews\">Reviews</h2>");
    body.push_str(&review_table(&app.reviews.list(None, None)));
    body.push_str(&review_form(signed, &Prefill::default(), HERE));
    body.push_str("</section>");
    html::page(
        StatusCode::OK,
        "Exceptions and reviews",
        Nav::Exceptions,
        Some(signed),
        &body,
    )
}

/// What a form starts filled with (a package's page fills in the package).
#[derive(Debug, Default)]
pub struct Prefill {
    pub ecosystem: String,
    pub package: String,
    pub rules: String,
}

/// The exceptions, newest first; expired ones greyed, live ones revocable.
pub fn exception_table(signed: &Signed, exceptions: &[Exception], back: &str) -> String {
    let now = SystemTime::now();
    let rows: Vec<Row> = exceptions
        .iter()
        .rev()
        .map(|exception| {
            let expired = exception.expired(now);
            let revoke = html::post_form(
                signed,
                "/console/exceptions/revoke",
                "inline",
                &format!(
                    "{}{}<button type=\"submit\" class=\"danger\" aria-label=\"Revoke {id} for {package}\">Revoke</button>",
                    html::hidden("id", &exception.id),
                    html::hidden("back", back),
                    id = esc(&exception.id),
                    package = esc(&exception.package),
                ),
            );
            Row {
                class: if expired { "expired" } else { "" },
                cells: vec![
                    format!("<code class=\"id\">{}</code>", esc(&exception.id)),
                    esc(&exception.ecosystem),
                    package_link(&exception.ecosystem, &exception.package),
                    esc(exception.versions.as_deref().unwrap_or("every version")),
                    esc(&exception.rules.join(", ")),
                    esc(&exception.reason),
                    format!(
                        "{} {}",
                        badge(if expired { "expired" } else { "active" }),
                        html::time(exception.expires)
                    ),
                    format!(
                        "{} by {}",
                        html::time(exception.created),
                        esc(&exception.created_by)
                    ),
                    revoke,
                ],
            }
        })
        .collect();
    table(
        "Exceptions, newest first (expired ones greyed)",
        &[
            "Id",
            "Ecosystem",
            "Package",
            "Versions",
            "Rules",
            "Reason",
            "Expires",
            "Created",
            "",
        ],
        &rows,
        "No exceptions.",
    )
}

/// A form's package: chosen in it, or fixed by the page (a package's).
fn package_fields(prefill: &Prefill, ecosystem: Control<'_>, package: Control<'_>) -> String {
    if prefill.package.is_empty() {
        format!(
            "{}{}",
            html::ecosystem_select(ecosystem, None, &prefill.ecosystem),
            html::text_input("Package", package, "", "required")
        )
    } else {
        format!(
            "{}{}",
            html::hidden(ecosystem.name, &prefill.ecosystem),
            html::hidden(package.name, &prefill.package)
        )
    }
}

/// The form that creates an exception.
pub fn exception_form(signed: &Signed, prefill: &Prefill, back: &str) -> String {
    let package = package_fields(prefill, "ecosystem".into(), "package".into());
    let inner = format!(
        "<h3>New exception</h3>{package}{}{}{}{}{}<div class=\"actions\"><button type=\"submit\" id=\"create-exception\">Create the exception</button></div>",
        html::text_input(
            "Rules it lets the package past (comma-separated; * for all)",
            "rules",
            &prefill.rules,
            "required"
        ),
        html::text_input(
            "Versions (an exact version or a range; empty: every version)",
            "versions",
            "",
            ""
        ),
        html::text_input("Reason", "reason", "", "required"),
        html::select("Expires in", "expires_in", &EXPIRIES, "7d"),
        html::hidden("back", back),
    );
    html::post_form(signed, "/console/exceptions", "card", &inner)
}

/// Reviews, newest first.
pub fn review_table(reviews: &[Review]) -> String {
    let rows: Vec<Row> = reviews
        .iter()
        .rev()
        .map(|review| {
            Row::new(vec![
                esc(&review.ecosystem),
                package_link(&review.ecosystem, &review.package),
                esc(review.version.as_deref().unwrap_or("every version")),
                format!("{:.1}", review.score),
                esc(&review.reviewer),
                esc(&review.comment),
                esc(&review.time),
            ])
        })
        .collect();
    table(
        "Reviews, newest first",
        &[
            "Ecosystem",
            "Package",
            "Version",
            "Score",
            "Reviewer",
            "Comment",
            "Time",
        ],
        &rows,
        "No reviews.",
    )
}

/// The form that records a review.
pub fn review_form(signed: &Signed, prefill: &Prefill, back: &str) -> String {
    let package = package_fields(
        prefill,
        Control {
            id: "review-ecosystem",
            name: "ecosystem",
        },
        Control {
            id: "review-package",
            name: "package",
        },
    );
    let inner = format!(
        "<h3>New review</h3>{package}{}{}{}{}<div class=\"actions\"><button type=\"submit\" id=\"create-review\">Record the review</button></div>",
        html::text_input(
            "Version (empty: the whole package)",
            Control {
                id: "review-version",
                name: "version"
            },
            "",
            ""
        ),
        html::field(
            "Score (0 to 5)",
            "score",
            "<input type=\"number\" id=\"score\" name=\"score\" min=\"0\" max=\"5\" step=\"0.5\" value=\"4\" required>"
        ),
        html::text_input("Comment", "comment", "", ""),
        html::hidden("back", back),
    );
    html::post_form(signed, "/console/reviews", "card", &inner)
}

/// The exception form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct ExceptionFields {
    ecosystem: String,
    package: String,
    #[serde(default)]
    versions: String,
    rules: String,
    reason: String,
    expires_in: String,
}

pub async fn create(
    app: &App,
    signed: &Signed,
    fields: ExceptionFields,
) -> Result<&'static str, HttpError> {
    let versions = fields.versions.trim();
    let new = NewException {
        ecosystem: fields.ecosystem,
        package: fields.package,
        versions: (!versions.is_empty()).then(|| versions.to_owned()),
        rules: fields.rules.split(',').map(str::to_owned).collect(),
        reason: fields.reason,
        expires: None,
        expires_in: Some(fields.expires_in),
    };
    add_exception(app, new, &signed.admin).await?;
    Ok(HERE)
}

/// The revoke button's fields.
#[derive(Debug, serde::Deserialize)]
pub struct Revoke {
    id: String,
}

pub async fn revoke(app: &App, signed: &Signed, revoke: Revoke) -> Result<&'static str, HttpError> {
    delete_exception(app, &revoke.id, &signed.admin).await?;
    Ok(HERE)
}

/// The review form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct ReviewFields {
    ecosystem: String,
    package: String,
    #[serde(default)]
    version: String,
    score: f64,
    #[serde(default)]
    comment: String,
}

pub async fn review(
    app: &App,
    signed: &Signed,
    fields: ReviewFields,
) -> Result<&'static str, HttpError> {
    let new = NewReview {
        ecosystem: fields.ecosystem,
        package: fields.package,
        version: Some(fields.version),
        score: fields.score,
        reviewer: None,
        comment: fields.comment,
    };
    add_review(app, new, &signed.admin).await?;
    Ok(HERE)
}
