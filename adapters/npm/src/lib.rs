//! `npm`: the gatehouse adapter for the npm registry protocol.
//!
//! - `GET /{name}` (scoped names in every spelling): upstream's full packument,
//!   each version gated (one `metadata` batch), blocked versions deprecated or
//!   removed (see [`settings`]), dist-tags kept off them, tarball URLs pointed
//!   here; the abbreviated form for `Accept: application/vnd.npm.install-v1+json`.
//! - `GET /{name}/-/{file}.tgz`: planned as an artifact from the (cached)
//!   packument's URL and digests; the host gates, verifies and serves it.
//! - `POST /-/npm/v1/security/advisories/bulk`: `npm audit`, answered from the
//!   host's OSV mirror (see [`audit`]).
//! - `/-/ping` and the root.
//!
//! The logic lives in plain modules tested natively; this file is the glue to
//! the host's imports, which only exist inside the component.

pub mod audit;
pub mod facts;
pub mod integrity;
pub mod json;
pub mod packument;
pub mod route;
pub mod settings;
pub mod tags;

use gatehouse_adapter_sdk::{
    ArtifactPlan, ErrorFormat, FetchError, Guest, Outcome, Purpose, Request, Response, gate,
    gate_reads, osv, upstream,
};

use crate::packument::{Form, Packument, Rendering, blocks};
use crate::route::{PackageName, Route, route};
use crate::settings::Settings;

struct NpmAdapter;

impl Guest for NpmAdapter {
    fn handle(settings: String, request: Request) -> Outcome {
        handle(&settings, &request).unwrap_or_else(Outcome::from)
    }
}

gatehouse_adapter_sdk::export_adapter!(NpmAdapter);

/// Answers one request; `Err` carries the error response.
fn handle(settings: &str, request: &Request) -> Result<Outcome, Response> {
    let settings = Settings::parse(settings).map_err(|e| Response::json_error(500, &e))?;
    let route = route(&request.path);
    let method = request.method.to_ascii_uppercase();
    match (&route, method.as_str()) {
        (Route::AdvisoriesBulk, "POST") => {
            return audit_report(&settings, request).map(Outcome::from);
        }
        (_, "GET" | "HEAD") => {}
        _ => {
            return Err(Response::json_error(
                405,
                &format!("gatehouse serves npm packages read-only; {method} is not supported here"),
            )
            .with_header("allow", "GET, HEAD"));
        }
    }
    match route {
        Route::Root | Route::Ping => Ok(json_ok("{}").into()),
        Route::AdvisoriesBulk => Err(Response::json_error(405, "npm audit sends POST here")),
        Route::UnsupportedEndpoint => Err(Response::json_error(
            404,
            &format!("gatehouse does not serve {}", request.path),
        )),
        Route::Invalid(reason) => Err(Response::json_error(404, &reason)),
        Route::Packument(name) => packument(&settings, request, &name).map(Outcome::from),
        Route::Tarball { name, filename } => tarball(&name, &filename).map(Outcome::Artifact),
    }
}

/// `npm audit`'s answer: the mirror's advisories for every posted package.
fn audit_report(settings: &Settings, request: &Request) -> Result<Response, Response> {
    let posted = audit::parse_request(&request.body).map_err(|e| Response::json_error(400, &e))?;
    let mut report = serde_json::Map::new();
    for (name, versions) in &posted {
        let found = audit::package_report(
            versions,
            &osv::advisories("npm", name),
            settings.advisory_url.as_deref(),
        );
        if !found.is_empty() {
            report.insert(name.clone(), found.into());
        }
    }
    Ok(json_ok(&serde_json::Value::Object(report).to_string()))
}

fn json_ok(body: &str) -> Response {
    Response::new(200, "application/json", body)
}

/// The gated packument, in the form the client asked for.
fn packument(
    settings: &Settings,
    request: &Request,
    name: &PackageName,
) -> Result<Response, Response> {
    let fetched = fetch_packument(name)?;
    let doc = Packument::parse(&fetched.body).map_err(|e| Response::json_error(502, &e))?;
    let facts = doc.facts(name, &gate_reads());
    let decisions = gate(Purpose::Metadata, &facts);
    if decisions.len() != facts.len() {
        return Err(Response::json_error(
            500,
            &format!(
                "the gate answered {} decisions for {} versions of {name}",
                decisions.len(),
                facts.len()
            ),
        ));
    }
    drop(facts);
    let form = Form::from_accept(request.header("accept"));
    let rendering = Rendering {
        name,
        public_base: &request.public_base,
        form,
        blocked_versions: settings.blocked_versions,
    };
    let body = doc.render(&rendering, &blocks(&decisions));
    let mut response = Response::new(200, form.content_type(), body).with_header("vary", "Accept");
    if fetched.stale {
        response = response.with_header(
            "warning",
            "110 gatehouse \"stale: upstream is unreachable\"",
        );
    }
    Ok(response)
}

/// The artifact plan for a tarball, from the packument's URL and digests.
fn tarball(name: &PackageName, filename: &str) -> Result<ArtifactPlan, Response> {
    let fetched = fetch_packument(name)?;
    let doc = Packument::parse(&fetched.body).map_err(|e| Response::json_error(502, &e))?;
    let version = name
        .version_in_filename(filename)
        .and_then(|number| doc.version(number))
        .ok_or_else(|| {
            Response::json_error(
                404,
                &format!("{name} has no version whose tarball is {filename}"),
            )
        })?;
    let facts = doc.version_facts(version, name, &gate_reads());
    if facts.digests.is_empty() {
        return Err(Response::json_error(
            502,
            &format!(
                "upstream declares no integrity or shasum for {name}@{}; gatehouse serves only verifiable tarballs",
                version.number
            ),
        ));
    }
    let url = version.upstream_tarball().ok_or_else(|| {
        Response::json_error(
            502,
            &format!(
                "upstream declares no http(s) tarball URL for {name}@{}",
                version.number
            ),
        )
    })?;
    Ok(ArtifactPlan {
        url,
        digests: facts.digests.clone(),
        facts,
        content_type: "application/octet-stream".into(),
        error_format: ErrorFormat::Json,
    })
}

/// Upstream's full packument for `name`, or the response to give instead.
fn fetch_packument(name: &PackageName) -> Result<upstream::Fetched, Response> {
    let url = format!("{}/{}", upstream::base(), name.upstream_path());
    let fetched = upstream::fetch(&url, Some("application/json")).map_err(|error| {
        let (status, problem) = match &error {
            FetchError::Forbidden(detail) => (502, format!("is not allowed ({detail})")),
            FetchError::Unreachable(detail) => (502, format!("is unreachable ({detail})")),
            FetchError::Timeout(detail) => (504, format!("timed out ({detail})")),
            FetchError::TooLarge(detail) => (502, format!("sent too large a document ({detail})")),
        };
        Response::json_error(
            status,
            &format!("the upstream npm registry {problem} for {name}"),
        )
    })?;
    match fetched.status {
        200..=299 => Ok(fetched),
        404 | 410 => {
            let content_type = fetched
                .headers
                .iter()
                .find(|(header, _)| header == "content-type")
                .map_or("application/json", |(_, value)| value.as_str());
            Err(Response::new(
                fetched.status,
                content_type,
                fetched.body.clone(),
            ))
        }
        status => Err(Response::json_error(
            502,
            &format!("the upstream npm registry answered HTTP {status} for {name}"),
        )),
    }
}
