//! [`HttpError`]: every failure the HTTP layer answers, mapped to its status
//! and message in one place (as linkerd2-proxy maps its errors to responses).
//! Handlers return `Result<Response<Body>, HttpError>`; the typed failures of
//! the services below convert with `?`, so no handler picks a status itself.

use gatehouse_lockfile::LockfileError;
use hyper::header::WWW_AUTHENTICATE;
use hyper::{Response, StatusCode};

use super::{Body, error};
use crate::artifact::ArtifactError;
use crate::capabilities::audit::{AuditError, AuditUnavailable};
use crate::exceptions::ExceptionError;
use crate::preflight::PreflightError;
use crate::reviews::ReviewError;

/// Why a request is answered with an error.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request is malformed, or past one of its caps.
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials (the refusal is already audited and counted).
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials, but the request may not be served: a console
    /// write without its session's CSRF token.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The route is read-only (a push to the OCI registry).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request body arrived too slowly.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The adapter component failed, or built what no client may be served.
    #[error("{0}")]
    Adapter(String),
    /// The adapter has no upstream to ask.
    #[error("{0}")]
    NoUpstream(String),
    /// An artifact could not be served: upstream, egress, verification, or
    /// the local store.
    #[error("{package}: {error}")]
    Artifact {
        /// `name@version`.
        package: String,
        #[source]
        error: ArtifactError,
    },
    /// Nothing is answered that cannot be audited.
    #[error(transparent)]
    AuditUnavailable(#[from] AuditUnavailable),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Exception(#[from] ExceptionError),
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error(transparent)]
    Lockfile(#[from] LockfileError),
    #[error(transparent)]
    Osv(#[from] gatehouse_osv::OsvError),
    /// Components are still loading.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of gatehouse's own, such as a task that died.
    #[error("{0}")]
    Internal(String),
}

impl HttpError {
    /// The status the client is answered. A failure of upstream is a 502 (504
    /// when it ran out of time); one of gatehouse's own storage is a 5xx of
    /// its own: 503 for the artifact store (full or unwritable, it serves
    /// again once fixed), 500 for the admin's state files.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadRequest(_) | HttpError::Lockfile(_) => StatusCode::BAD_REQUEST,
            HttpError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::NotFound(_) => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            HttpError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::Adapter(_) | HttpError::NoUpstream(_) => StatusCode::BAD_GATEWAY,
            HttpError::Artifact { error, .. } => match error {
                ArtifactError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                ArtifactError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                ArtifactError::NoDigest
                | ArtifactError::BadDigest(_)
                | ArtifactError::Mismatch { .. }
                | ArtifactError::Fetch(_)
                | ArtifactError::Refused(_)
                | ArtifactError::Status(_) => StatusCode::BAD_GATEWAY,
            },
            HttpError::AuditUnavailable(_) | HttpError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            HttpError::Audit(AuditError::Query(_)) => StatusCode::BAD_REQUEST,
            HttpError::Exception(ExceptionError::Invalid(_))
            | HttpError::Review(ReviewError::Invalid(_))
            | HttpError::Preflight(
                PreflightError::UnknownEcosystem(_) | PreflightError::Invalid(_),
            ) => StatusCode::BAD_REQUEST,
            HttpError::Exception(ExceptionError::NotFound(_))
            | HttpError::Preflight(PreflightError::NotFound(_)) => StatusCode::NOT_FOUND,
            HttpError::Preflight(PreflightError::Upstream(_)) => StatusCode::BAD_GATEWAY,
            HttpError::Audit(_)
            | HttpError::Exception(ExceptionError::Storage(_))
            | HttpError::Review(ReviewError::Storage(_))
            | HttpError::Osv(_)
            | HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response: `{"error": message}` with the message in the status
    /// line; a 401 carries a challenge the clients understand (Basic makes
    /// pip, go and Maven send credentials).
    pub fn into_response(self) -> Response<Body> {
        let mut response = error(self.status(), &self.to_string());
        if let HttpError::Unauthorized(_) = self {
            challenge(&mut response);
        }
        response
    }

    /// The response on an OCI route: the distribution spec's error
    /// document, its code the spec's nearest to the failure (`UNKNOWN` for
    /// gatehouse's and upstream's own failures, as the reference registry
    /// answers them); a 401 challenges like [`HttpError::into_response`].
    pub fn into_oci_response(self) -> Response<Body> {
        let code = match &self {
            HttpError::BadRequest(_) => "UNSUPPORTED",
            HttpError::Unauthorized(_) => "UNAUTHORIZED",
            HttpError::Forbidden(_) => "DENIED",
            HttpError::NotFound(_) => "NAME_UNKNOWN",
            HttpError::MethodNotAllowed(_) => "UNSUPPORTED",
            HttpError::PayloadTooLarge(_) => "SIZE_INVALID",
            _ => "UNKNOWN",
        };
        let mut response = super::oci_error(self.status(), code, &self.to_string());
        if let HttpError::Unauthorized(_) = self {
            challenge(&mut response);
        }
        response
    }

    /// The response for `result`, an answer or a failure.
    pub fn respond(result: Result<Response<Body>, HttpError>) -> Response<Body> {
        result.unwrap_or_else(HttpError::into_response)
    }
}

/// Basic makes pip, go, Maven, docker and podman send credentials.
fn challenge(response: &mut Response<Body>) {
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        "Basic realm=\"gatehouse\"".parse().expect("static header"),
    );
}

/// A blocking task that died or was cancelled.
impl From<tokio::task::JoinError> for HttpError {
    fn from(error: tokio::task::JoinError) -> Self {
        HttpError::Internal(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt as _;

    use super::*;

    fn artifact(error: ArtifactError) -> HttpError {
        HttpError::Artifact {
            package: "left-pad@1.3.0".into(),
            error,
        }
    }

    #[test]
    fn a_local_store_failure_is_not_blamed_on_upstream() {
        let store = artifact(ArtifactError::Store("No space left on device".into()));
        assert_eq!(store.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            store.to_string(),
            "left-pad@1.3.0: artifact store: No space left on device"
        );
        for upstream in [
            ArtifactError::NoDigest,
            ArtifactError::BadDigest("sha256"),
            ArtifactError::Mismatch {
                algorithm: "sha512",
                expected: "aa".into(),
                actual: "bb".into(),
            },
            ArtifactError::Fetch("connection reset".into()),
            ArtifactError::Refused("10.0.0.1 is not an allowed origin".into()),
            ArtifactError::Status(500),
        ] {
            assert_eq!(
                artifact(upstream.clone()).status(),
                StatusCode::BAD_GATEWAY,
                "{upstream}"
            );
        }
        assert_eq!(
            artifact(ArtifactError::Timeout("past 30 s".into())).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }

    #[test]
    fn typed_failures_convert_to_their_statuses() {
        let cases: Vec<(HttpError, StatusCode)> = vec![
            (
                AuditUnavailable(Arc::from("disk full")).into(),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                AuditError::Query("bad cursor".into()).into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                AuditError::InUse("audit.log".into()).into(),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                ExceptionError::Invalid("no reason".into()).into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                ExceptionError::NotFound("x1".into()).into(),
                StatusCode::NOT_FOUND,
            ),
            (
                ReviewError::Invalid("no package".into()).into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                PreflightError::UnknownEcosystem("cobol".into()).into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                PreflightError::Invalid("empty name".into()).into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                PreflightError::NotFound("no such version".into()).into(),
                StatusCode::NOT_FOUND,
            ),
            (
                PreflightError::Upstream("timed out".into()).into(),
                StatusCode::BAD_GATEWAY,
            ),
            (
                LockfileError::UnknownKind("notes.txt".into()).into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                HttpError::Adapter("the npm adapter failed".into()),
                StatusCode::BAD_GATEWAY,
            ),
            (
                HttpError::NoUpstream("no upstream".into()),
                StatusCode::BAD_GATEWAY,
            ),
            (
                HttpError::PayloadTooLarge("too large".into()),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                HttpError::RequestTimeout("too slow".into()),
                StatusCode::REQUEST_TIMEOUT,
            ),
            (
                HttpError::Forbidden("no CSRF token".into()),
                StatusCode::FORBIDDEN,
            ),
            (
                HttpError::MethodNotAllowed("read-only".into()),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error}");
        }
    }

    #[test]
    fn a_state_file_failure_is_a_server_error() {
        // Reading a directory as a state file fails, even as root.
        let dir = tempfile::tempdir().expect("tempdir");
        let failure = crate::state_file::load::<serde_json::Value>(dir.path())
            .expect_err("a directory is no state file");
        assert_eq!(
            HttpError::from(ExceptionError::Storage(failure)).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[tokio::test]
    async fn the_response_carries_the_message_in_body_and_status_line() {
        let response =
            artifact(ArtifactError::Store("read-only file system".into())).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .expect("a reason phrase");
        assert_eq!(
            reason.as_bytes(),
            b"Service Unavailable (left-pad@1.3.0: artifact store: read-only file system)"
        );
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
        let body = response.into_body().collect().await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body.to_bytes()).expect("JSON");
        assert_eq!(
            body["error"],
            "left-pad@1.3.0: artifact store: read-only file system"
        );
    }

    #[tokio::test]
    async fn an_oci_failure_is_the_distribution_specs_error_document() {
        let response =
            HttpError::Unauthorized("a client token is required".into()).into_oci_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Basic realm=\"gatehouse\""
        );
        let body = response.into_body().collect().await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body.to_bytes()).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "a client token is required"}]})
        );
    }

    #[test]
    fn a_refusal_challenges_for_credentials() {
        let response = HttpError::Unauthorized("an admin token is required".into()).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Basic realm=\"gatehouse\""
        );
    }
}
