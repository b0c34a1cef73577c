//! The error answers of the resource verbs, each a `Status` naming the
//! object and, for invalid input, every offending field.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::path::Target;
use crate::apiserver::status::{status, status_with};
use crate::apiserver::validation::FieldError;
use crate::store::Error as StoreError;

pub fn json_response(code: StatusCode, v: &Value) -> Response {
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

fn details(t: &Target, name: &str) -> Value {
    json!({"name": name, "group": t.resource.group, "kind": t.resource.plural})
}

pub fn store_error(t: &Target, name: &str, e: StoreError) -> Response {
    let what = format!("{} \"{name}\"", t.resource.plural);
    let d = Some(details(t, name));
    match e {
        StoreError::NotFound => status_with(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{what} not found"),
            d,
        ),
        StoreError::AlreadyExists => status_with(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("{what} already exists"),
            d,
        ),
        StoreError::Conflict { .. } => conflict(t, name),
        StoreError::Compacted { .. } => status(
            StatusCode::GONE,
            "Expired",
            "the resourceVersion is too old",
        ),
        other => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &other.to_string(),
        ),
    }
}

pub fn conflict(t: &Target, name: &str) -> Response {
    status_with(
        StatusCode::CONFLICT,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            t.resource.plural
        ),
        Some(details(t, name)),
    )
}

pub fn not_found(t: &Target, name: &str) -> Response {
    store_error(t, name, StoreError::NotFound)
}

/// 422 with every field error, as `<Kind> "<name>" is invalid: <errors>`.
pub fn invalid(t: &Target, name: &str, errors: &[FieldError]) -> Response {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let joined = match list.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.reason(), "message": e.detail(), "field": e.field}))
        .collect();
    let mut d = details(t, name);
    d["kind"] = json!(t.resource.kind);
    d["causes"] = json!(causes);
    status_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &format!("{} \"{name}\" is invalid: {joined}", t.resource.kind),
        Some(d),
    )
}

pub fn bad_request(msg: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", msg)
}

pub fn forbidden(msg: &str) -> Response {
    status(StatusCode::FORBIDDEN, "Forbidden", msg)
}

pub fn method_not_allowed(what: &str) -> Response {
    status(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!("{what} is not supported on this path"),
    )
}
