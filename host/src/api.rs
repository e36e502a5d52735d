//! The HTTP API: `/api/v1/decide` (the pre-flight, see [`crate::preflight`])
//! and, through [`crate::admin`], the admin API.

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::admin;
use crate::config::Bounds;
use crate::preflight::{Answer, Preflight, PreflightError, Query};
use crate::server::{App, Body, error, json};

const MAX_DECIDE_BODY: usize = 8 << 20;

/// `decide`'s query parameters besides a GET's package version.
#[derive(Debug, Default, serde::Deserialize)]
struct DecideOptions {
    ecosystem: Option<String>,
    name: Option<String>,
    version: Option<String>,
    /// `true` or `1`: judge names and versions alone, without upstream.
    offline: Option<String>,
    /// POST only: the body is this lockfile (its file name says its kind).
    lockfile: Option<String>,
}

impl DecideOptions {
    fn parse(request: &Request<Incoming>) -> Result<Self, Box<Response<Body>>> {
        serde_urlencoded::from_str(request.uri().query().unwrap_or("")).map_err(|e| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                &format!("decide's parameters: {e}"),
            ))
        })
    }

    fn offline(&self) -> bool {
        matches!(self.offline.as_deref(), Some("true" | "1" | "yes"))
    }
}

impl Query {
    /// Why the query is refused, when a field is past its cap.
    fn too_long(&self, bounds: &Bounds) -> Option<String> {
        [
            (
                "ecosystem",
                &self.ecosystem,
                bounds.name_bytes,
                "name_bytes",
            ),
            ("name", &self.name, bounds.name_bytes, "name_bytes"),
            (
                "version",
                &self.version,
                bounds.version_bytes,
                "version_bytes",
            ),
        ]
        .into_iter()
        .find(|(_, value, cap, _)| value.len() > *cap)
        .map(|(field, value, cap, key)| {
            format!(
                "the {field} is {} bytes long; at most {cap} are accepted (limits.{key})",
                value.len()
            )
        })
    }
}

/// Checks a decide request against the caps: the number of queries and each
/// field's length. Why the request is refused when one is past its cap.
fn check_queries(queries: &[Query], bounds: &Bounds) -> Result<(), String> {
    if queries.len() > bounds.decide_queries {
        return Err(format!(
            "{} queries in one decide request; at most {} are accepted (limits.decide_queries): split the batch",
            queries.len(),
            bounds.decide_queries
        ));
    }
    match queries.iter().find_map(|q| q.too_long(bounds)) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

async fn decide(
    app: &App,
    queries: &[Query],
    offline: bool,
    requester: Option<&str>,
) -> Result<Vec<Answer>, Response<Body>> {
    check_queries(queries, &app.runtime.caps.bounds)
        .map_err(|problem| error(StatusCode::BAD_REQUEST, &problem))?;
    // A misspelt ecosystem is the caller's mistake, not a package's verdict.
    for query in queries {
        if let Err(unknown) = crate::preflight::ecosystem(&query.ecosystem) {
            return Err(error(StatusCode::BAD_REQUEST, &unknown.to_string()));
        }
    }
    let preflight = Preflight {
        generation: app.runtime.current(),
        caps: &app.runtime.caps,
        routes: &app.routes,
        offline,
        requester,
    };
    Ok(preflight.decide(queries).await)
}

pub async fn handle(
    app: &Arc<App>,
    request: Request<Incoming>,
    requester: Option<String>,
) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/api/v1/decide") => {
            let options = match DecideOptions::parse(&request) {
                Ok(options) => options,
                Err(response) => return *response,
            };
            let (Some(ecosystem), Some(name), Some(version)) =
                (&options.ecosystem, &options.name, &options.version)
            else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "decide needs ecosystem, name and version",
                );
            };
            let query = Query {
                ecosystem: ecosystem.clone(),
                name: name.clone(),
                version: version.clone(),
            };
            let mut answers =
                match decide(app, &[query], options.offline(), requester.as_deref()).await {
                    Ok(answers) => answers,
                    Err(response) => return response,
                };
            let Some(answer) = answers.pop() else {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "no answer");
            };
            let status = match &answer.outcome {
                Ok(_) => StatusCode::OK,
                Err(PreflightError::UnknownEcosystem(_) | PreflightError::Invalid(_)) => {
                    StatusCode::BAD_REQUEST
                }
                Err(PreflightError::NotFound(_)) => StatusCode::NOT_FOUND,
                Err(PreflightError::Upstream(_)) => StatusCode::BAD_GATEWAY,
            };
            json(status, &answer.to_json())
        }
        (Method::POST, "/api/v1/decide") => {
            let options = match DecideOptions::parse(&request) {
                Ok(options) => options,
                Err(response) => return *response,
            };
            let queries: Vec<Query> = match &options.lockfile {
                Some(file) => match read_lockfile(app, request, file).await {
                    Ok(queries) => queries,
                    Err(response) => return *response,
                },
                None => match read_json(app, request, MAX_DECIDE_BODY).await {
                    Ok(queries) => queries,
                    Err(response) => return *response,
                },
            };
            match decide(app, &queries, options.offline(), requester.as_deref()).await {
                Ok(answers) => json(
                    StatusCode::OK,
                    &answers.iter().map(Answer::to_json).collect(),
                ),
                Err(response) => response,
            }
        }
        _ if path.starts_with(admin::ADMIN) => {
            match admin::authenticate(app, &request, requester.as_deref()) {
                Ok(name) => admin::handle(app, request, &name).await,
                Err(refused) => *refused,
            }
        }
        _ => error(StatusCode::NOT_FOUND, &format!("no API at {path}")),
    }
}

/// The packages a posted lockfile pins, or the 4xx to answer.
async fn read_lockfile(
    app: &App,
    request: Request<Incoming>,
    file: &str,
) -> Result<Vec<Query>, Box<Response<Body>>> {
    let body = read_body(app, request, MAX_DECIDE_BODY).await?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| Box::new(error(StatusCode::BAD_REQUEST, "the lockfile is not UTF-8")))?;
    crate::lockfile::read(file, &text)
        .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, &e.to_string())))
}

/// A request body of at most `limit` bytes that arrives within
/// `limits.request_body_timeout_ms`, or the 4xx to answer.
async fn read_body(
    app: &App,
    request: Request<Incoming>,
    limit: usize,
) -> Result<bytes::Bytes, Box<Response<Body>>> {
    let timeout = app.runtime.caps.bounds.request_body_timeout();
    let reading = Limited::new(request.into_body(), limit).collect();
    Ok(tokio::time::timeout(timeout, reading)
        .await
        .map_err(|_| {
            Box::new(error(
                StatusCode::REQUEST_TIMEOUT,
                &format!("the request body took longer than {timeout:?} to arrive"),
            ))
        })?
        .map_err(|_| {
            Box::new(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("body too large (at most {limit} bytes) or unreadable"),
            ))
        })?
        .to_bytes())
}

/// Reads a JSON request body (see [`read_body`]), or the 4xx to answer.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    app: &App,
    request: Request<Incoming>,
    limit: usize,
) -> Result<T, Box<Response<Body>>> {
    let body = read_body(app, request, limit).await?;
    serde_json::from_slice(&body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("the body is not the JSON expected here: {e}"),
        ))
    })
}
