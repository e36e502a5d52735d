//! The admin API under `/api/v1/admin/`: components, OSV status, the audit
//! log, exceptions and reviews. Every call needs an admin token
//! (`Authorization: Bearer`); refusals are answered 401 and audited.

use std::sync::Arc;
use std::time::SystemTime;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::capabilities::audit::{AuditQuery, AuditRecord};
use crate::exceptions::NewException;
use crate::http::{Body, HttpError, json, read_json};
use crate::reviews::NewReview;

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
    let why = if app.admin_tokens.is_empty() {
        "the admin API is off: no admin tokens are configured (`gatehouse token new NAME` prints one for admin.tokens)"
    } else if presented.is_none() {
        "an admin token is required (Authorization: Bearer TOKEN)"
    } else {
        "the admin token is not valid"
    };
    Err(app.refuse("admin", requester, request.uri().path(), why))
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
    let audit = |event: &str, reason: String| {
        caps.audit.append(&AuditRecord {
            event: event.into(),
            requester: Some(admin.to_owned()),
            reason,
            ..AuditRecord::default()
        });
    };
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
            // The newest records too; the index lookup is file I/O: off the async threads.
            caps.audit.flush().await?;
            let log = caps.audit.clone();
            let page = tokio::task::spawn_blocking(move || log.query(&filters)).await??;
            Ok(json(StatusCode::OK, &json!(page)))
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
            Ok(json(StatusCode::OK, &json!({ "exceptions": list })))
        }
        (Method::POST, "exceptions", "") => {
            let new: NewException = read_json(request, MAX_ADMIN_BODY, body_timeout).await?;
            let (exceptions, by) = (caps.exceptions.clone(), admin.to_owned());
            let exception = blocking(move || exceptions.add(new, &by)).await?;
            audit(
                "exception-add",
                serde_json::to_string(&exception).unwrap_or_default(),
            );
            Ok(json(StatusCode::CREATED, &json!(exception)))
        }
        (Method::DELETE, "exceptions", id) if !id.is_empty() => {
            let (exceptions, owned) = (caps.exceptions.clone(), id.to_owned());
            blocking(move || exceptions.delete(&owned)).await?;
            audit("exception-delete", id.to_owned());
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
            let (reviews, by) = (app.reviews.clone(), admin.to_owned());
            let review = blocking(move || reviews.add(new, &by)).await?;
            audit("review", serde_json::to_string(&review).unwrap_or_default());
            Ok(json(StatusCode::CREATED, &json!(review)))
        }
        _ => Err(HttpError::NotFound(format!("no admin API at {path}"))),
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
