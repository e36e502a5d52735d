//! The admin API under `/api/v1/admin/`: components, OSV status, the audit
//! log, exceptions and reviews. Every call needs an admin token
//! (`Authorization: Bearer`); refusals are answered 401 and audited.
//!
//! Its operations ([`read_audit`], [`add_exception`], [`delete_exception`],
//! [`add_review`]) are shared with the console, another view onto them.

use std::sync::Arc;
use std::time::SystemTime;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::capabilities::audit::{AuditError, AuditLog, AuditQuery, AuditRecord};
use crate::exceptions::{Exception, NewException};
use crate::http::{Body, HttpError, json, read_json};
use crate::reviews::{NewReview, Review};

pub const ADMIN: &str = "/api/v1/admin/";

const MAX_ADMIN_BODY: usize = 64 << 10;

/// The admin token's name, or the 401 to answer (already audited).
pub fn authenticate(
    app: &App,
    request: &Request<Incoming>,
    requester: Option<&str>,
) -> Result<String, HttpError> {
    let presented = crate::auth::presented_token(request.headers());
    if let Some(name) = presented
        .as_deref()
        .and_then(|token| app.admin_tokens.identify(token))
    {
        return Ok(name.to_owned());
    }
    let why = refusal(
        app,
        "the admin API",
        presented.as_deref(),
        "an admin token is required (Authorization: Bearer TOKEN)",
    );
    Err(app.refuse("admin", requester, request.uri().path(), &why))
}

/// Why `presented` is no admin token: none are configured (`surface` is
/// off), none was presented (`ask` says how to), or it is wrong.
pub(crate) fn refusal(app: &App, surface: &str, presented: Option<&str>, ask: &str) -> String {
    if app.admin_tokens.is_empty() {
        format!(
            "{surface} is off: no admin tokens are configured (`gatehouse token new NAME` prints one for admin.tokens)"
        )
    } else if presented.is_none() {
        ask.to_owned()
    } else {
        "the admin token is not valid".to_owned()
    }
}

/// One admin call by the holder of token `admin`.
pub async fn handle(app: &Arc<App>, request: Request<Incoming>, admin: &str) -> Response<Body> {
    HttpError::respond(answer(app, request, admin).await)
}

async fn answer(
    app: &Arc<App>,
    request: Request<Incoming>,
    admin: &str,
) -> Result<Response<Body>, HttpError> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let resource = path.trim_start_matches(ADMIN);
    let (collection, item) = resource.split_once('/').unwrap_or((resource, ""));
    let caps = &app.runtime.caps;
    let body_timeout = caps.bounds.request_body_timeout();
    match (request.method().clone(), collection, item) {
        (Method::GET, "components", "") => Ok(json(
            StatusCode::OK,
            &json!({
                "generation": app.runtime.current().id,
                "components": app.runtime.statuses(),
            }),
        )),
        (Method::GET, "osv", "") => {
            let mirror = app
                .mirror
                .as_ref()
                .ok_or_else(|| HttpError::NotFound("no OSV mirror is open".into()))?;
            Ok(json(
                StatusCode::OK,
                &json!({ "ecosystems": mirror.status()?, "generation": mirror.generation() }),
            ))
        }
        (Method::GET, "proxy", "audit") => {
            let filters: AuditQuery = serde_urlencoded::from_str(&query)
                .map_err(|e| HttpError::BadRequest(format!("audit filters: {e}")))?;
            let page = read_audit(app, move |log| log.query(&filters)).await?;
            Ok(json(StatusCode::OK, &json!(page)))
        }
        (Method::GET, "exceptions", "") => {
            let now = SystemTime::now();
            let list: Vec<serde_json::Value> = caps
                .exceptions
                .list()
                .into_iter()
                .map(|e| {
                    let mut value = json!(e);
                    value["expired"] = e.expired(now).into();
                    value
                })
                .collect();
            Ok(json(StatusCode::OK, &json!({ "exceptions": list })))
        }
        (Method::POST, "exceptions", "") => {
            let new: NewException = read_json(request, MAX_ADMIN_BODY, body_timeout).await?;
            let exception = add_exception(app, new, admin).await?;
            Ok(json(StatusCode::CREATED, &json!(exception)))
        }
        (Method::DELETE, "exceptions", id) if !id.is_empty() => {
            delete_exception(app, id, admin).await?;
            Ok(json(StatusCode::OK, &json!({ "deleted": id })))
        }
        (Method::GET, "reviews", "") => {
            #[derive(serde::Deserialize)]
            struct Filter {
                ecosystem: Option<String>,
                package: Option<String>,
            }
            let filter: Filter = serde_urlencoded::from_str(&query)
                .map_err(|e| HttpError::BadRequest(format!("review filters: {e}")))?;
            Ok(json(
                StatusCode::OK,
                &json!({
                    "reviews": app.reviews.list(filter.ecosystem.as_deref(), filter.package.as_deref())
                }),
            ))
        }
        (Method::POST, "reviews", "") => {
            let new: NewReview = read_json(request, MAX_ADMIN_BODY, body_timeout).await?;
            let review = add_review(app, new, admin).await?;
            Ok(json(StatusCode::CREATED, &json!(review)))
        }
        _ => Err(HttpError::NotFound(format!("no admin API at {path}"))),
    }
}

/// Reads the audit log with `read` once every record appended so far is on
/// disk (the newest included), on the blocking pool: index lookups and
/// chain checks are file I/O, kept off the async threads.
pub(crate) async fn read_audit<T: Send + 'static>(
    app: &App,
    read: impl FnOnce(&AuditLog) -> Result<T, AuditError> + Send + 'static,
) -> Result<T, HttpError> {
    let log = app.runtime.caps.audit.clone();
    log.flush().await?;
    Ok(tokio::task::spawn_blocking(move || read(&log)).await??)
}

/// Adds an exception for `admin`, audited as `exception-add`.
pub(crate) async fn add_exception(
    app: &App,
    new: NewException,
    admin: &str,
) -> Result<Exception, HttpError> {
    let (exceptions, by) = (app.runtime.caps.exceptions.clone(), admin.to_owned());
    let exception = blocking(move || exceptions.add(new, &by)).await?;
    audit_change(app, admin, "exception-add", json!(exception).to_string());
    Ok(exception)
}

/// Deletes (revokes) exception `id` for `admin`, audited as `exception-delete`.
pub(crate) async fn delete_exception(app: &App, id: &str, admin: &str) -> Result<(), HttpError> {
    let (exceptions, owned) = (app.runtime.caps.exceptions.clone(), id.to_owned());
    blocking(move || exceptions.delete(&owned)).await?;
    audit_change(app, admin, "exception-delete", id.to_owned());
    Ok(())
}

/// Records a review by `admin`, audited as `review`.
pub(crate) async fn add_review(
    app: &App,
    new: NewReview,
    admin: &str,
) -> Result<Review, HttpError> {
    let (reviews, by) = (app.reviews.clone(), admin.to_owned());
    let review = blocking(move || reviews.add(new, &by)).await?;
    audit_change(app, admin, "review", json!(review).to_string());
    Ok(review)
}

/// The audit record of an admin's change.
fn audit_change(app: &App, admin: &str, event: &str, reason: String) {
    app.runtime.caps.audit.append(&AuditRecord {
        event: event.into(),
        requester: Some(admin.to_owned()),
        reason,
        ..AuditRecord::default()
    });
}

/// Runs a change that writes its state file on the blocking pool, not an
/// async worker (a panic in it carries on here, as if it ran inline).
async fn blocking<T: Send + 'static>(change: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(change).await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
