//! Requests that end in an error for the client, and how a failed upstream
//! fetch becomes one.

use crate::{ErrorFormat, FetchError, Fetched, Outcome, Response};

/// A request that ends in an error response with a message for the client:
/// plain text by default (cargo, pip and the go command print such a body as
/// it is), or in the client's [`ErrorFormat`].
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub message: String,
}

impl Failure {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// A GET of `url` that never got an answer: 504 when it timed out, 502
    /// otherwise, saying why.
    pub fn fetch(url: &str, error: FetchError) -> Self {
        let (status, problem) = match error {
            FetchError::Forbidden(why) => (502, format!("not allowed to fetch it: {why}")),
            FetchError::Unreachable(why) => (502, format!("upstream unreachable: {why}")),
            FetchError::Timeout(why) => (504, format!("upstream timed out: {why}")),
            FetchError::TooLarge(why) => (502, format!("upstream answer too large: {why}")),
        };
        Failure::new(status, format!("{url}: {problem}"))
    }

    /// The error response in `format`.
    pub fn response(&self, format: ErrorFormat) -> Response {
        match format {
            ErrorFormat::Json => Response::json_error(self.status, &self.message),
            ErrorFormat::Text => Response::text(self.status, &self.message),
        }
    }
}

impl From<Failure> for Outcome {
    fn from(failure: Failure) -> Self {
        failure.response(ErrorFormat::Text).into()
    }
}

/// Upstream's answer to a GET of `url`, when it is a 2xx. A 404 or 410 becomes
/// `missing(status)`; any other status, or no answer at all, a 502 or 504.
pub fn upstream_answer(
    url: &str,
    answer: Result<Fetched, FetchError>,
    missing: impl FnOnce(u16) -> Failure,
) -> Result<Fetched, Failure> {
    let fetched = answer.map_err(|error| Failure::fetch(url, error))?;
    match fetched.status {
        200..=299 => Ok(fetched),
        status @ (404 | 410) => Err(missing(status)),
        status => Err(Failure::new(
            502,
            format!("{url}: upstream answered HTTP {status}"),
        )),
    }
}
