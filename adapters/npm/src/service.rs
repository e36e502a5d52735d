//! The request flow: route, fetch the packument, gate, render or plan.
//!
//! Everything the host provides goes through [`Host`], so the whole flow runs
//! natively in tests against a fake.

use gatehouse_adapter_sdk::{
    ArtifactPlan, ErrorFormat, Failure, Fetched, Host, Outcome, Purpose, Request, Response,
    upstream_answer,
};

use crate::audit;
use crate::packument::{Form, Packument, Rendering, blocks};
use crate::route::{PackageName, Route, route};
use crate::settings::Settings;

/// Answers one request. Failures are `{"error": message}`, which npm and
/// pnpm print.
pub fn handle(host: &impl Host, settings: &str, request: &Request) -> Outcome {
    serve(host, settings, request)
        .unwrap_or_else(|failure| failure.response(ErrorFormat::Json).into())
}

fn serve(host: &impl Host, settings: &str, request: &Request) -> Result<Outcome, Failure> {
    let settings = Settings::parse(settings).map_err(|e| Failure::new(500, e))?;
    let route = route(&request.path);
    let method = request.method.to_ascii_uppercase();
    match (&route, method.as_str()) {
        (Route::AdvisoriesBulk, "POST") => {
            return audit_report(host, &settings, request).map(Outcome::from);
        }
        (_, "GET" | "HEAD") => {}
        _ => {
            let refusal = Response::json_error(
                405,
                &format!("gatehouse serves npm packages read-only; {method} is not supported here"),
            );
            return Ok(refusal.with_header("allow", "GET, HEAD").into());
        }
    }
    match route {
        Route::Root | Route::Ping => Ok(json_ok("{}").into()),
        Route::AdvisoriesBulk => Err(Failure::new(405, "npm audit sends POST here")),
        Route::UnsupportedEndpoint => Err(Failure::new(
            404,
            format!("gatehouse does not serve {}", request.path),
        )),
        Route::Invalid(reason) => Err(Failure::new(404, reason)),
        Route::Packument(name) => packument(host, &settings, request, &name).map(Outcome::from),
        Route::Tarball { name, filename } => tarball(host, &name, &filename).map(Outcome::Artifact),
    }
}

/// `npm audit`'s answer: the mirror's advisories for every posted package.
fn audit_report(
    host: &impl Host,
    settings: &Settings,
    request: &Request,
) -> Result<Response, Failure> {
    let posted = audit::parse_request(&request.body).map_err(|e| Failure::new(400, e))?;
    let mut report = serde_json::Map::new();
    for (name, versions) in &posted {
        let found = audit::package_report(
            versions,
            &host.advisories("npm", name),
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
    host: &impl Host,
    settings: &Settings,
    request: &Request,
    name: &PackageName,
) -> Result<Response, Failure> {
    let fetched = fetch_packument(host, name)?;
    let doc = Packument::parse(&fetched.body).map_err(|e| Failure::new(502, e))?;
    let facts = doc.facts(name, &host.gate_reads());
    let decisions = host.gate(Purpose::Metadata, &facts)?;
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
fn tarball(host: &impl Host, name: &PackageName, filename: &str) -> Result<ArtifactPlan, Failure> {
    let fetched = fetch_packument(host, name)?;
    let doc = Packument::parse(&fetched.body).map_err(|e| Failure::new(502, e))?;
    let version = name
        .version_in_filename(filename)
        .and_then(|number| doc.version(number))
        .ok_or_else(|| {
            Failure::new(
                404,
                format!("{name} has no version whose tarball is {filename}"),
            )
        })?;
    let facts = doc.version_facts(version, name, &host.gate_reads());
    if facts.digests.is_empty() {
        return Err(Failure::new(
            502,
            format!(
                "upstream declares no integrity or shasum for {name}@{}; gatehouse serves only verifiable tarballs",
                version.number
            ),
        ));
    }
    let url = version.upstream_tarball().ok_or_else(|| {
        Failure::new(
            502,
            format!(
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

/// Upstream's full packument for `name`.
fn fetch_packument(host: &impl Host, name: &PackageName) -> Result<Fetched, Failure> {
    let url = format!("{}/{}", host.upstream_base(), name.upstream_path());
    upstream_answer(&url, host.fetch(&url, Some("application/json")), |status| {
        Failure::new(
            status,
            format!("{name} is not in the upstream npm registry"),
        )
    })
}

#[cfg(test)]
mod tests;
