//! The HTTP API: `/api/v1/decide` (the gate, offline) and, through
//! [`crate::admin`], the admin API.

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::admin;
use crate::bindings::{Purpose, VersionFacts};
use crate::bounds::Bounds;
use crate::capabilities::Capabilities;
use crate::gate::action_name;
use crate::runtime::Generation;
use crate::server::{App, Body, error, json};

const MAX_DECIDE_BODY: usize = 8 << 20;

/// A package version named by a client of the decide API or `gatehouse check`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Query {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
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
/// field's length. The 400 to answer when one is past its cap.
fn check_queries(queries: &[Query], bounds: &Bounds) -> Result<(), Box<Response<Body>>> {
    let refuse = |message: String| Box::new(error(StatusCode::BAD_REQUEST, &message));
    if queries.len() > bounds.decide_queries {
        return Err(refuse(format!(
            "{} queries in one decide request; at most {} are accepted (limits.decide_queries): split the batch",
            queries.len(),
            bounds.decide_queries
        )));
    }
    match queries.iter().find_map(|q| q.too_long(bounds)) {
        Some(problem) => Err(refuse(problem)),
        None => Ok(()),
    }
}

/// Minimal facts for a named version (no upstream metadata is consulted).
pub fn facts_for(query: &Query) -> VersionFacts {
    VersionFacts {
        ecosystem: query.ecosystem.clone(),
        name: query.name.clone(),
        version: query.version.clone(),
        published: None,
        license: None,
        install_scripts: Vec::new(),
        deprecated: None,
        yanked: None,
        size: None,
        digests: Vec::new(),
        dependencies: Vec::new(),
        raw: "{}".into(),
    }
}

/// Runs the gate for `queries` and describes each decision as JSON.
pub async fn decide(
    generation: &Generation,
    caps: &Arc<Capabilities>,
    queries: &[Query],
    requester: Option<&str>,
) -> Vec<serde_json::Value> {
    let facts: Vec<VersionFacts> = queries.iter().map(facts_for).collect();
    let decisions = generation
        .gate(caps, Purpose::Check, &facts, requester)
        .await;
    queries
        .iter()
        .zip(decisions)
        .map(|(query, decision)| {
            json!({
                "ecosystem": query.ecosystem,
                "name": query.name,
                "version": query.version,
                "action": action_name(decision.action),
                "verdicts": decision.verdicts.iter().map(|v| json!({
                    "action": action_name(v.action),
                    "rule": v.rule,
                    "reason": v.reason,
                    "advisories": v.advisories,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
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
            let query = request.uri().query().unwrap_or("");
            let query: Query = match serde_urlencoded::from_str(query) {
                Ok(query) => query,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("decide needs ecosystem, name and version: {e}"),
                    );
                }
            };
            let queries = [query];
            if let Err(refused) = check_queries(&queries, &app.runtime.caps.bounds) {
                return *refused;
            }
            let mut answers = decide(
                &app.runtime.current(),
                &app.runtime.caps,
                &queries,
                requester.as_deref(),
            )
            .await;
            json(StatusCode::OK, &answers.pop().unwrap_or_default())
        }
        (Method::POST, "/api/v1/decide") => {
            let queries: Vec<Query> = match read_json(app, request, MAX_DECIDE_BODY).await {
                Ok(queries) => queries,
                Err(response) => return *response,
            };
            if let Err(refused) = check_queries(&queries, &app.runtime.caps.bounds) {
                return *refused;
            }
            let answers = decide(
                &app.runtime.current(),
                &app.runtime.caps,
                &queries,
                requester.as_deref(),
            )
            .await;
            json(StatusCode::OK, &serde_json::Value::Array(answers))
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

/// Reads a JSON request body of at most `limit` bytes, within
/// `limits.request_body_timeout_ms`, or the 4xx to answer.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    app: &App,
    request: Request<Incoming>,
    limit: usize,
) -> Result<T, Box<Response<Body>>> {
    let timeout = app.runtime.caps.bounds.request_body_timeout();
    let reading = Limited::new(request.into_body(), limit).collect();
    let body = tokio::time::timeout(timeout, reading)
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
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("the body is not the JSON expected here: {e}"),
        ))
    })
}
