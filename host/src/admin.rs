//! The admin API under `/api/v1/admin/`: components, OSV status, the audit
//! log, exceptions and reviews. Every call needs an admin token
//! (`Authorization: Bearer`); refusals are answered 401 and audited.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::SystemTime;

use hyper::body::Incoming;
use hyper::header::WWW_AUTHENTICATE;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::api::read_json;
use crate::bounds::cut_str;
use crate::capabilities::audit::{AuditQuery, AuditRecord};
use crate::exceptions::{ExceptionError, NewException};
use crate::reviews::{NewReview, ReviewError};
use crate::server::{App, Body, error, json};

pub const ADMIN: &str = "/api/v1/admin/";

const MAX_ADMIN_BODY: usize = 64 << 10;

/// The admin token's name, or the 401 to answer (already audited).
pub fn authenticate(
    app: &App,
    request: &Request<Incoming>,
    requester: Option<&str>,
) -> Result<String, Box<Response<Body>>> {
    let presented = crate::auth::presented_token(request.headers());
    if let Some(name) = presented
        .as_deref()
        .and_then(|token| app.admin_tokens.identify(token))
    {
        return Ok(name.to_owned());
    }
    let why = if app.admin_tokens.is_empty() {
        "the admin API is off: no admin tokens are configured (`gatehouse token new NAME` prints one for admin.tokens)"
    } else if presented.is_none() {
        "an admin token is required (Authorization: Bearer TOKEN)"
    } else {
        "the admin token is not valid"
    };
    Err(Box::new(refuse(
        app,
        "admin",
        requester,
        request.uri().path(),
        why,
    )))
}

/// Audits and counts a refused request, and answers 401 with a challenge
/// the client understands (Basic makes pip, go and Maven send credentials).
/// The record keeps `limits.audit_path_bytes` of the path, and each client
/// address gets `limits.auth_failures_per_minute` records a minute: past that,
/// one record says the rest are counted, and the count is recorded with the
/// address's next failure after the minute.
pub fn refuse(
    app: &App,
    scope: &'static str,
    requester: Option<&str>,
    path: &str,
    why: &str,
) -> Response<Body> {
    let bounds = &app.runtime.caps.bounds;
    let address = requester
        .and_then(|r| r.parse::<IpAddr>().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let verdict = app
        .auth_failures
        .failure(address, bounds.auth_failures_per_minute);
    let record = |reason: String| {
        app.runtime.caps.audit.append(&AuditRecord {
            event: "auth-failure".into(),
            requester: requester.map(str::to_owned),
            reason,
            ..AuditRecord::default()
        });
    };
    if verdict.suppressed_before > 0 {
        record(format!(
            "{} more auth failures from {address} in the minute before were counted, not recorded",
            verdict.suppressed_before
        ));
    }
    if verdict.record {
        record(format!(
            "{scope} {}: {why}",
            cut_str(path, bounds.audit_path_bytes)
        ));
    } else if verdict.starts_suppressing {
        record(format!(
            "more than {} auth failures from {address} within a minute (limits.auth_failures_per_minute): the rest are counted, not recorded",
            bounds.auth_failures_per_minute
        ));
    }
    crate::metrics::metrics()
        .auth_failures
        .get_or_create(&crate::metrics::AuthLabels { scope })
        .inc();
    let mut response = error(StatusCode::UNAUTHORIZED, why);
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        "Basic realm=\"gatehouse\"".parse().expect("static header"),
    );
    response
}

/// One admin call by the holder of token `admin`.
pub async fn handle(app: &Arc<App>, request: Request<Incoming>, admin: &str) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let resource = path.trim_start_matches(ADMIN);
    let (collection, item) = resource.split_once('/').unwrap_or((resource, ""));
    let caps = &app.runtime.caps;
    let audit = |event: &str, reason: String| {
        caps.audit.append(&AuditRecord {
            event: event.into(),
            requester: Some(admin.to_owned()),
            reason,
            ..AuditRecord::default()
        });
    };
    match (request.method().clone(), collection, item) {
        (Method::GET, "components", "") => json(
            StatusCode::OK,
            &json!({
                "generation": app.runtime.current().id,
                "components": app.runtime.statuses(),
            }),
        ),
        (Method::GET, "osv", "") => match &app.mirror {
            Some(mirror) => match mirror.status() {
                Ok(status) => json(
                    StatusCode::OK,
                    &json!({ "ecosystems": status, "generation": mirror.generation() }),
                ),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            },
            None => error(StatusCode::NOT_FOUND, "no OSV mirror is open"),
        },
        (Method::GET, "proxy", "audit") => {
            let filters: AuditQuery = match serde_urlencoded::from_str(&query) {
                Ok(filters) => filters,
                Err(e) => return error(StatusCode::BAD_REQUEST, &format!("audit filters: {e}")),
            };
            // The newest records too; the index lookup is file I/O: off the async threads.
            if let Err(unavailable) = caps.audit.flush().await {
                return error(StatusCode::SERVICE_UNAVAILABLE, &unavailable.to_string());
            }
            let log = caps.audit.clone();
            match tokio::task::spawn_blocking(move || log.query(&filters)).await {
                Ok(Ok(page)) => json(StatusCode::OK, &json!(page)),
                Ok(Err(e @ crate::capabilities::audit::AuditError::Query(_))) => {
                    error(StatusCode::BAD_REQUEST, &e.to_string())
                }
                Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        (Method::GET, "exceptions", "") => {
            let now = SystemTime::now();
            let list: Vec<serde_json::Value> = caps
                .exceptions
                .list()
                .into_iter()
                .map(|e| {
                    let expired = e.expires <= now;
                    let mut value = json!(e);
                    value["expired"] = expired.into();
                    value
                })
                .collect();
            json(StatusCode::OK, &json!({ "exceptions": list }))
        }
        (Method::POST, "exceptions", "") => {
            let new: NewException = match read_json(app, request, MAX_ADMIN_BODY).await {
                Ok(new) => new,
                Err(response) => return *response,
            };
            let (exceptions, by) = (caps.exceptions.clone(), admin.to_owned());
            match blocking(move || exceptions.add(new, &by)).await {
                Ok(exception) => {
                    audit(
                        "exception-add",
                        serde_json::to_string(&exception).unwrap_or_default(),
                    );
                    json(StatusCode::CREATED, &json!(exception))
                }
                Err(e) => exception_error(&e),
            }
        }
        (Method::DELETE, "exceptions", id) if !id.is_empty() => {
            let (exceptions, owned) = (caps.exceptions.clone(), id.to_owned());
            match blocking(move || exceptions.delete(&owned)).await {
                Ok(()) => {
                    audit("exception-delete", id.to_owned());
                    json(StatusCode::OK, &json!({ "deleted": id }))
                }
                Err(e) => exception_error(&e),
            }
        }
        (Method::GET, "reviews", "") => {
            #[derive(serde::Deserialize)]
            struct Filter {
                ecosystem: Option<String>,
                package: Option<String>,
            }
            match serde_urlencoded::from_str::<Filter>(&query) {
                Ok(filter) => json(
                    StatusCode::OK,
                    &json!({
                        "reviews": app.reviews.list(filter.ecosystem.as_deref(), filter.package.as_deref())
                    }),
                ),
                Err(e) => error(StatusCode::BAD_REQUEST, &format!("review filters: {e}")),
            }
        }
        (Method::POST, "reviews", "") => {
            let new: NewReview = match read_json(app, request, MAX_ADMIN_BODY).await {
                Ok(new) => new,
                Err(response) => return *response,
            };
            let (reviews, by) = (app.reviews.clone(), admin.to_owned());
            match blocking(move || reviews.add(new, &by)).await {
                Ok(review) => {
                    audit("review", serde_json::to_string(&review).unwrap_or_default());
                    json(StatusCode::CREATED, &json!(review))
                }
                Err(ReviewError::Invalid(message)) => error(StatusCode::BAD_REQUEST, &message),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        _ => error(StatusCode::NOT_FOUND, &format!("no admin API at {path}")),
    }
}

/// Runs a change that writes its state file on the blocking pool, not an
/// async worker (a panic in it carries on here, as if it ran inline).
async fn blocking<T: Send + 'static>(change: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(change).await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn exception_error(e: &ExceptionError) -> Response<Body> {
    let status = match e {
        ExceptionError::Invalid(_) => StatusCode::BAD_REQUEST,
        ExceptionError::NotFound(_) => StatusCode::NOT_FOUND,
        ExceptionError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, &e.to_string())
}
