//! The request flow: route, fetch upstream, gate, filter, render.
//!
//! Everything the host provides goes through [`Host`], so the whole flow runs
//! natively in tests against a fake.

use gatehouse_adapter_sdk::{
    Failure, Fetched, Host, Outcome, Purpose, Request, Response, VersionFacts, upstream_answer,
};
use serde::Deserialize;
use url::Url;

use crate::download::{file_url, plan};
use crate::negotiate::{Format, UPSTREAM_ACCEPT, choose};
use crate::page::{ProjectPage, verifiable_digests};
use crate::release::{BlockedFiles, apply, releases, version_facts};
use crate::route::{Route, route};
use crate::{html, json};

/// The adapter's block of the gatehouse config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `yank` (the default) or `hide`.
    #[serde(default)]
    pub blocked_files: BlockedFiles,
}

impl Settings {
    /// Reads the block; empty text and `null` mean the defaults.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Settings::default());
        }
        serde_json::from_str::<Option<Settings>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| format!("invalid pypi adapter settings: {e}"))
    }
}

/// Answers one request.
pub fn handle(host: &impl Host, settings: &str, request: &Request) -> Outcome {
    serve(host, settings, request).unwrap_or_else(Outcome::from)
}

fn serve(host: &impl Host, settings: &str, request: &Request) -> Result<Outcome, Failure> {
    if let Some(refusal) = request.refuse_writes("the simple API") {
        return Ok(refusal.into());
    }
    let settings = Settings::parse(settings).map_err(|e| Failure::new(500, e))?;
    let format = choose(request.header("accept"));
    match route(&request.path) {
        Route::ProjectList => project_list(host, format),
        Route::Project(name) => {
            let page = fetch_project(host, &name)?;
            let page = filter(host, page, settings.blocked_files)?;
            Ok(render(proxied(page, &request.public_base), format))
        }
        Route::Redirect(path) => {
            let query = request
                .query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            let location = format!("{}{path}{query}", request.public_base);
            let moved = Response::text(301, &format!("moved to {location}"));
            Ok(moved.with_header("location", location).into())
        }
        Route::File { project, filename } => {
            let page = fetch_project(host, &project)?;
            Ok(Outcome::Artifact(plan(&page, &filename)?))
        }
        Route::Invalid(message) => Err(Failure::new(400, message)),
        Route::NotFound(message) => Err(Failure::new(404, message)),
    }
}

/// The upstream page of `project` (a valid, normalised name), in either form.
fn fetch_project(host: &impl Host, project: &str) -> Result<ProjectPage, Failure> {
    let url = format!("{}/{project}/", host.upstream_base().trim_end_matches('/'));
    let fetched = fetch(host, &url, &format!("no project named {project} upstream"))?;
    let page_url = Url::parse(&fetched.url)
        .or_else(|_| Url::parse(&url))
        .map_err(|e| Failure::new(502, format!("bad upstream URL {url}: {e}")))?;
    let parsed = if is_json(&fetched) {
        json::parse_project(&fetched.body, &page_url, project)
    } else {
        html::parse_project(&fetched.body, &page_url, project)
    };
    parsed.map_err(|e| Failure::new(502, format!("{url}: {e}")))
}

/// GETs `url` from upstream; `missing` is the 404 message.
fn fetch(host: &impl Host, url: &str, missing: &str) -> Result<Fetched, Failure> {
    let answer = host.fetch(url, Some(UPSTREAM_ACCEPT));
    upstream_answer(url, answer, |_| Failure::new(404, missing))
}

fn is_json(fetched: &Fetched) -> bool {
    let content_type = fetched
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .map(|(_, value)| value.to_ascii_lowercase());
    match content_type {
        Some(content_type) => content_type.contains("json"),
        None => fetched.body.trim_ascii_start().starts_with(b"{"),
    }
}

/// Runs the gate once over every release and applies its decisions.
fn filter(host: &impl Host, page: ProjectPage, mode: BlockedFiles) -> Result<ProjectPage, Failure> {
    let releases = releases(&page);
    let facts: Vec<VersionFacts> = releases
        .iter()
        .map(|release| version_facts(&page.name, release))
        .collect();
    let versions = releases
        .into_iter()
        .map(|release| release.version)
        .collect();
    let decisions = host.gate(Purpose::Metadata, &facts)?;
    Ok(apply(page, versions, &decisions, mode))
}

/// Points every file at this adapter, and offers a `.metadata` file only when
/// upstream declared a digest the host can verify it against.
fn proxied(mut page: ProjectPage, public_base: &str) -> ProjectPage {
    for file in &mut page.files {
        file.url = file_url(public_base, &page.name, &file.filename);
        file.core_metadata = file
            .core_metadata
            .take()
            .filter(|hashes| !verifiable_digests(hashes).is_empty());
    }
    page
}

fn render(page: ProjectPage, format: Format) -> Outcome {
    let body = match format {
        Format::Json => json::render_project(&page),
        Format::VersionedHtml | Format::Html => html::render_project(&page),
    };
    Response::new(200, format.content_type(), body)
        .with_header("vary", "Accept")
        .into()
}

fn project_list(host: &impl Host, format: Format) -> Result<Outcome, Failure> {
    let url = format!("{}/", host.upstream_base().trim_end_matches('/'));
    let fetched = fetch(host, &url, "upstream has no project list")?;
    let names = if is_json(&fetched) {
        json::parse_project_list(&fetched.body)
    } else {
        html::parse_project_list(&fetched.body)
    }
    .map_err(|e| Failure::new(502, format!("{url}: {e}")))?;
    let body = match format {
        Format::Json => json::render_project_list(&names),
        Format::VersionedHtml | Format::Html => html::render_project_list(&names),
    };
    Ok(Response::new(200, format.content_type(), body)
        .with_header("vary", "Accept")
        .into())
}
