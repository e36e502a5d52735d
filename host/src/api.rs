//! The HTTP API: `/api/v1/decide` (the pre-flight, see [`crate::preflight`]),
//! `/api/v1/sbom` (artifact SBOMs, and a project's from its lockfile, see
//! [`crate::sbom`]) and, through [`crate::admin`], the admin API.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::admin;
use crate::app::App;
use crate::config::Bounds;
use crate::http::{Body, HttpError, json, read_body, read_json};
use crate::preflight::{Answer, Preflight, Query};

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
    fn parse(request: &Request<Incoming>) -> Result<Self, HttpError> {
        serde_urlencoded::from_str(request.uri().query().unwrap_or(""))
            .map_err(|e| HttpError::BadRequest(format!("decide's parameters: {e}")))
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
fn check_queries(queries: &[Query], bounds: &Bounds) -> Result<(), HttpError> {
    if queries.len() > bounds.decide_queries {
        return Err(HttpError::BadRequest(format!(
            "{} queries in one decide request; at most {} are accepted (limits.decide_queries): split the batch",
            queries.len(),
            bounds.decide_queries
        )));
    }
    match queries.iter().find_map(|q| q.too_long(bounds)) {
        Some(problem) => Err(HttpError::BadRequest(problem)),
        None => Ok(()),
    }
}

/// Artifact SBOMs are at `{SBOM_PREFIX}{ecosystem}/{name}/{version}`.
const SBOM_PREFIX: &str = "/api/v1/sbom/";

/// The (OSV ecosystem, name, version) an SBOM path names; the name may hold
/// slashes (npm scopes, Go module paths), percent-encoded or not.
fn sbom_subject(rest: &str) -> Result<(&'static str, String, String), HttpError> {
    let usage = || {
        HttpError::BadRequest(format!(
            "an SBOM is at {SBOM_PREFIX}{{ecosystem}}/{{name}}/{{version}}"
        ))
    };
    let (ecosystem, rest) = rest.split_once('/').ok_or_else(usage)?;
    let (name, version) = rest.rsplit_once('/').ok_or_else(usage)?;
    let decode = |text: &str| {
        url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let (name, version) = (decode(name), decode(version));
    if name.is_empty() || version.is_empty() {
        return Err(usage());
    }
    Ok((crate::preflight::ecosystem(ecosystem)?.osv, name, version))
}

/// A lockfile body, its kind said by `file`, as the packages it pins.
async fn read_lockfile(
    request: Request<Incoming>,
    file: &str,
    timeout: std::time::Duration,
) -> Result<Vec<Query>, HttpError> {
    let body = read_body(request, MAX_DECIDE_BODY, timeout).await?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| HttpError::BadRequest("the lockfile is not UTF-8".into()))?;
    let pins = gatehouse_lockfile::read(file, &text)?;
    Ok(pins.into_iter().map(Query::from).collect())
}

async fn decide(
    app: &App,
    queries: &[Query],
    offline: bool,
    requester: Option<&str>,
) -> Result<Vec<Answer>, HttpError> {
    check_queries(queries, &app.runtime.caps.bounds)?;
    // A misspelt ecosystem is the caller's mistake, not a package's verdict.
    for query in queries {
        crate::preflight::ecosystem(&query.ecosystem)?;
    }
    let preflight = Preflight {
        generation: app.runtime.current(),
        caps: &app.runtime.caps,
        routes: &app.proxy.routes,
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
    HttpError::respond(answer(app, request, requester).await)
}

async fn answer(
    app: &Arc<App>,
    request: Request<Incoming>,
    requester: Option<String>,
) -> Result<Response<Body>, HttpError> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/api/v1/decide") => {
            let options = DecideOptions::parse(&request)?;
            let (Some(ecosystem), Some(name), Some(version)) =
                (&options.ecosystem, &options.name, &options.version)
            else {
                return Err(HttpError::BadRequest(
                    "decide needs ecosystem, name and version".into(),
                ));
            };
            let query = Query {
                ecosystem: ecosystem.clone(),
                name: name.clone(),
                version: version.clone(),
            };
            let answer = decide(app, &[query], options.offline(), requester.as_deref())
                .await?
                .pop()
                .ok_or_else(|| HttpError::Internal("no answer".into()))?;
            // The answer is the body either way; a failure picks the status.
            let status = match &answer.outcome {
                Ok(_) => StatusCode::OK,
                Err(failure) => HttpError::from(failure.clone()).status(),
            };
            Ok(json(status, &answer.to_json()))
        }
        (Method::POST, "/api/v1/decide") => {
            let options = DecideOptions::parse(&request)?;
            let timeout = app.runtime.caps.bounds.request_body_timeout();
            let queries: Vec<Query> = match &options.lockfile {
                Some(file) => read_lockfile(request, file, timeout).await?,
                None => read_json(request, MAX_DECIDE_BODY, timeout).await?,
            };
            let answers = decide(app, &queries, options.offline(), requester.as_deref()).await?;
            Ok(json(
                StatusCode::OK,
                &answers.iter().map(Answer::to_json).collect(),
            ))
        }
        (Method::POST, "/api/v1/sbom") => {
            let options = DecideOptions::parse(&request)?;
            let Some(file) = options.lockfile.clone() else {
                return Err(HttpError::BadRequest(
                    "a project SBOM needs ?lockfile=NAME (package-lock.json, pnpm-lock.yaml, requirements.txt, uv.lock, Cargo.lock or go.sum) and the lockfile as the body".into(),
                ));
            };
            let timeout = app.runtime.caps.bounds.request_body_timeout();
            let queries = read_lockfile(request, &file, timeout).await?;
            let answers = decide(app, &queries, options.offline(), requester.as_deref()).await?;
            Ok(json(StatusCode::OK, &crate::sbom::project(&file, &answers)))
        }
        (Method::GET, sbom) if sbom.starts_with(SBOM_PREFIX) => {
            let (ecosystem, name, version) = sbom_subject(&sbom[SBOM_PREFIX.len()..])?;
            app.sbom(ecosystem, &name, &version).await
        }
        _ if path.starts_with(admin::ADMIN) => {
            let name = admin::authenticate(app, &request, requester.as_deref())?;
            Ok(admin::handle(app, request, &name).await)
        }
        _ => Err(HttpError::NotFound(format!("no API at {path}"))),
    }
}
