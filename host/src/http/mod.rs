//! What every HTTP handler shares: the response [`Body`], JSON, error and
//! block responses, reading a request's body within its caps, and
//! [`HttpError`], the one place failures become statuses.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, Response, StatusCode};

use crate::bindings::adapter::ErrorFormat;
use crate::text::printable;

mod error;

pub use error::HttpError;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// A body of `bytes`, all at once.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("static header"),
    );
    response
}

/// An error in the shape most clients print: `{"error": message}`, with the
/// message in the status line too (pip and Maven show only that). Handlers
/// answer through [`HttpError`], which picks the status.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = json(status, &serde_json::json!({ "error": printable(message) }));
    set_reason(&mut response, status, message);
    response
}

fn set_reason(response: &mut Response<Body>, status: StatusCode, message: &str) {
    let canonical = status.canonical_reason().unwrap_or("Error");
    let phrase: String = format!("{canonical} ({})", printable(message))
        .chars()
        .map(|c| match c {
            c if c.is_ascii_graphic() || c == ' ' => c,
            '\u{2013}' | '\u{2014}' => '-',
            _ => ' ',
        })
        .take(480)
        .collect();
    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
        response.extensions_mut().insert(reason);
    }
}

/// A block in the client's own format, with the reason in the status line.
pub fn blocked(format: ErrorFormat, message: &str) -> Response<Body> {
    let status = StatusCode::FORBIDDEN;
    let message = printable(message);
    let mut response = match format {
        ErrorFormat::Json => json(status, &serde_json::json!({ "error": message })),
        ErrorFormat::Text => {
            let mut response = Response::new(full(format!("{message}\n")));
            *response.status_mut() = status;
            response.headers_mut().insert(
                CONTENT_TYPE,
                "text/plain; charset=utf-8".parse().expect("static header"),
            );
            response
        }
    };
    set_reason(&mut response, status, &message);
    response
}

/// An error in the OCI distribution spec's shape,
/// `{"errors": [{"code": code, "message": message}]}`, which skopeo, podman
/// and docker print as `code: message`; the message is in the status line too.
fn oci_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let message = printable(message);
    let mut response = json(
        status,
        &serde_json::json!({ "errors": [{ "code": code, "message": message }] }),
    );
    set_reason(&mut response, status, &message);
    response
}

/// A block on an OCI route: 403 `DENIED` with the rules and reasons.
pub fn oci_denied(message: &str) -> Response<Body> {
    oci_error(StatusCode::FORBIDDEN, "DENIED", message)
}

/// A request body of at most `limit` bytes that arrives within `timeout`
/// (`limits.request_body_timeout_ms`).
pub async fn read_body(
    request: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, HttpError> {
    let reading = Limited::new(request.into_body(), limit).collect();
    Ok(tokio::time::timeout(timeout, reading)
        .await
        .map_err(|_| {
            HttpError::RequestTimeout(format!(
                "the request body took longer than {timeout:?} to arrive"
            ))
        })?
        .map_err(|_| {
            HttpError::PayloadTooLarge(format!(
                "body too large (at most {limit} bytes) or unreadable"
            ))
        })?
        .to_bytes())
}

/// A JSON request body (see [`read_body`]).
pub async fn read_json<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<T, HttpError> {
    let body = read_body(request, limit, timeout).await?;
    serde_json::from_slice(&body)
        .map_err(|e| HttpError::BadRequest(format!("the body is not the JSON expected here: {e}")))
}
