//! [`App`]: everything the HTTP front serves with, built once by `serve`:
//! the runtime, who may call what, the operator's data and the adapter
//! pipeline ([`Proxy`]).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::auth::Tokens;
use crate::bounds::{AuthFailureLog, cut_str};
use crate::capabilities::audit::AuditRecord;
use hyper::Response;

use crate::http::{Body, HttpError, full};
use crate::proxy::Proxy;
use crate::reviews::Reviews;
use crate::runtime::Runtime;

/// Everything the server needs.
pub struct App {
    pub runtime: Arc<Runtime>,
    /// Who may use the admin API.
    pub admin_tokens: Tokens,
    /// When client auth is on: who may use the proxy routes and `decide`.
    pub client_tokens: Option<Tokens>,
    pub reviews: Arc<Reviews>,
    /// The adapter routes and what serving them keeps.
    pub proxy: Proxy,
    pub mirror: Option<Arc<gatehouse_osv::Mirror>>,
    /// Which auth failures get an audit record of their own.
    pub auth_failures: AuthFailureLog,
}

impl App {
    /// The kept SBOM of `name` at `version` (ecosystem in OSV's spelling),
    /// as a CycloneDX response; 404 until an artifact of it was verified.
    pub async fn sbom(
        &self,
        ecosystem: &'static str,
        name: &str,
        version: &str,
    ) -> Result<Response<Body>, HttpError> {
        let store = self.proxy.sboms.clone();
        let (name_kept, version_kept) = (name.to_owned(), version.to_owned());
        let document =
            tokio::task::spawn_blocking(move || store.get(ecosystem, &name_kept, &version_kept))
                .await
                .map_err(|e| HttpError::Internal(e.to_string()))?
                .map_err(|e| HttpError::Internal(format!("the SBOM store: {e}")))?
                .ok_or_else(|| {
                    HttpError::NotFound(format!(
                        "no SBOM for {ecosystem} {name} {version}: gatehouse makes one when it verifies an artifact of that version"
                    ))
                })?;
        let mut response = Response::new(full(document));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(crate::sbom::MEDIA_TYPE),
        );
        Ok(response)
    }

    /// Audits and counts a refused request, and returns the 401 to answer.
    /// The record keeps `limits.audit_path_bytes` of the path, and each client
    /// address gets `limits.auth_failures_per_minute` records a minute: past
    /// that, one record says the rest are counted, and the count is recorded
    /// with the address's next failure after the minute.
    pub fn refuse(
        &self,
        scope: &'static str,
        requester: Option<&str>,
        path: &str,
        why: &str,
    ) -> HttpError {
        let bounds = &self.runtime.caps.bounds;
        let address = requester
            .and_then(|r| r.parse::<IpAddr>().ok())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let verdict = self
            .auth_failures
            .failure(address, bounds.auth_failures_per_minute);
        let record = |reason: String| {
            self.runtime.caps.audit.append(&AuditRecord {
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
        HttpError::Unauthorized(why.to_owned())
    }
}
