//! Errors in the distribution spec's shape,
//! `{"errors": [{"code": "DENIED", "message": "rule: reason"}]}`, which
//! skopeo, podman and docker print as `denied: rule: reason`.

use gatehouse_adapter_sdk::{Failure, FetchError, Outcome, Response};

/// A request that ends in an error the client prints.
#[derive(Debug, PartialEq, Eq)]
pub struct OciError {
    pub status: u16,
    /// The spec's error code (`MANIFEST_UNKNOWN`, `DENIED` ...).
    pub code: &'static str,
    pub message: String,
}

impl OciError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        OciError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A refusal by the gate: 403 `DENIED` with the rules and reasons.
    pub fn denied(message: impl Into<String>) -> Self {
        OciError::new(403, "DENIED", message)
    }

    /// Upstream failed us (no answer, or one that cannot be served): a 502,
    /// or a 504 when it timed out.
    pub fn upstream(message: impl Into<String>) -> Self {
        OciError::new(502, "UNKNOWN", message)
    }

    /// A GET of `url` that never got an answer.
    pub fn fetch(url: &str, error: FetchError) -> Self {
        let Failure { status, message } = Failure::fetch(url, error);
        OciError::new(status, "UNKNOWN", message)
    }

    pub fn response(&self) -> Response {
        let body = serde_json::json!({
            "errors": [{"code": self.code, "message": self.message}]
        });
        Response::new(self.status, "application/json", body.to_string())
    }
}

impl From<OciError> for Outcome {
    fn from(error: OciError) -> Self {
        error.response().into()
    }
}

impl From<Failure> for OciError {
    /// The gate's own failures (a miscounted answer) are gatehouse's.
    fn from(failure: Failure) -> Self {
        OciError::new(failure.status, "UNKNOWN", failure.message)
    }
}
