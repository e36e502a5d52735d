//! The OCI distribution front. Container clients address a registry by
//! host, so images go through a path prefix in their name, as proxy-cache
//! projects of other registries do: `HOST/{upstream}/{repository}:{tag}`
//! asks `GET /v2/{upstream}/{repository}/manifests/{tag}`, where
//! `{upstream}` names an entry of `upstreams:` with `format: oci`.
//!
//! The host answers the API version check (`/v2/`) and refuses writes
//! itself; everything else goes to the OCI adapter on that upstream's route
//! ([`crate::proxy`]). Every answer carries
//! `Docker-Distribution-API-Version`, and every failure is the spec's error
//! document, so skopeo, podman and docker print its message.

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};

use crate::app::App;
use crate::http::{Body, HttpError, json};

/// The path every distribution API request starts with.
pub const PREFIX: &str = "/v2";

/// Whether `path` is the distribution API's.
pub fn is_oci_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/v2/")
}

/// Answers one distribution API request.
pub async fn handle(
    app: &App,
    request: Request<Incoming>,
    requester: Option<String>,
    user: Option<String>,
) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let below = path
        .strip_prefix(PREFIX)
        .unwrap_or_default()
        .trim_start_matches('/');
    let mut response = if below.is_empty() {
        // The version check: clients probe it before anything else, and
        // `docker login` sends its credentials here.
        json(StatusCode::OK, &serde_json::json!({}))
    } else {
        let (upstream, rest) = below.split_once('/').unwrap_or((below, ""));
        answer(app, upstream, rest, request, requester, user)
            .await
            .unwrap_or_else(HttpError::into_oci_response)
    };
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

async fn answer(
    app: &App,
    upstream: &str,
    rest: &str,
    request: Request<Incoming>,
    requester: Option<String>,
    user: Option<String>,
) -> Result<Response<Body>, HttpError> {
    let is_oci = app
        .proxy
        .routes
        .get(upstream)
        .is_some_and(crate::adapter_route::AdapterRoute::serves_oci);
    if !is_oci {
        return Err(HttpError::NotFound(format!(
            "no OCI upstream is named {upstream:?}: pull images as HOST/UPSTREAM/REPOSITORY:TAG, UPSTREAM an entry of upstreams: with format: oci"
        )));
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Err(HttpError::MethodNotAllowed(
            "gatehouse is a read-only pull-through registry: pushes and deletes are refused".into(),
        ));
    }
    app.proxy
        .answer(
            &app.runtime,
            upstream,
            &format!("v2/{upstream}"),
            &format!("/{rest}"),
            request,
            requester,
            user,
        )
        .await
}
