//! Errors as Kubernetes clients read them: a `Status` object with the HTTP code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    status_with(code, reason, message, None)
}

/// A `Status` with `details` (the object's name and kind, and the causes).
pub fn status_with(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}
