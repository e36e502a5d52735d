//! Building responses in the shapes registry clients expect.

use crate::{Outcome, Response};

impl Response {
    /// A response with `status`, one content type and `body`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A JSON body; `{"error": message}` is what npm and many clients print.
    pub fn json_error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({ "error": message }).to_string();
        Self::new(status, "application/json", body)
    }

    /// A plain-text body, for clients that print the server's words as they are.
    pub fn text(status: u16, message: &str) -> Self {
        Self::new(status, "text/plain; charset=utf-8", format!("{message}\n"))
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl From<Response> for Outcome {
    fn from(response: Response) -> Self {
        Outcome::Respond(response)
    }
}
