//! Request bodies: JSON, YAML or Kubernetes protobuf into a value, then a
//! check that the value is an object of the resource's type. Unknown fields
//! are rejected, reported or ignored as the request's `fieldValidation`
//! says (upstream's default is to report them as warnings).

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::errors::bad_request;
use super::path::Target;
use crate::apiserver::protobuf;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn from_query(q: Option<&str>) -> Result<Self, Response> {
        match q {
            None | Some("" | "Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(bad_request(&format!(
                "fieldValidation: invalid value {other:?}: supported values are Ignore, Warn, Strict"
            ))),
        }
    }
}

/// The body as a value: JSON, YAML, or Kubernetes protobuf read as the JSON
/// the same object would have. `kind` is what a protobuf body holds when it
/// does not say.
pub fn body(headers: &HeaderMap, bytes: &[u8], kind: &str) -> Result<Value, Response> {
    let content_type = headers
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .unwrap_or("application/json");
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if media_type == protobuf::MEDIA_TYPE {
        return protobuf::decode(bytes, kind).map_err(|e| {
            if e.unsupported {
                // Go clients do not fall back to JSON on their own: say how.
                unsupported(&format!(
                    "the protobuf body cannot be decoded: {e}; send it as application/json or application/yaml instead"
                ))
            } else {
                bad_request(&format!("the body is not valid protobuf: {e}"))
            }
        });
    }
    if content_type.contains("protobuf") {
        return Err(unsupported(&format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, {} (got {content_type:?})",
            protobuf::MEDIA_TYPE
        )));
    }
    let parsed = if content_type.contains("yaml") {
        serde_yaml::from_slice::<Value>(bytes)
            .map_err(|e| format!("the body is not valid YAML: {e}"))
    } else {
        serde_json::from_slice::<Value>(bytes)
            .map_err(|e| format!("the body is not valid JSON: {e}"))
    };
    parsed.map_err(|msg| bad_request(&msg))
}

fn unsupported(msg: &str) -> Response {
    crate::apiserver::status::status(
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        msg,
    )
}

/// Fills in `kind` and `apiVersion` when absent, then checks the object
/// against its type. Ok holds the warnings to send back.
pub fn typed(t: &Target, obj: &mut Value, mode: FieldValidation) -> Result<Vec<String>, Response> {
    let r = t.resource;
    let Some(map) = obj.as_object_mut() else {
        return Err(bad_request("the body must be a JSON object"));
    };
    let gv = r.group_version();
    let cannot = |why: String| {
        bad_request(&format!(
            "{} in version {:?} cannot be handled as a {}: {why}",
            r.kind, r.version, r.kind
        ))
    };
    match map.get("kind").and_then(Value::as_str) {
        None => {
            map.insert("kind".into(), json!(r.kind));
        }
        Some(k) if k == r.kind => {}
        Some(k) => {
            return Err(cannot(format!(
                "kind {k} does not match the resource's kind {}",
                r.kind
            )));
        }
    }
    match map.get("apiVersion").and_then(Value::as_str) {
        None => {
            map.insert("apiVersion".into(), json!(gv));
        }
        Some(v) if v == gv => {}
        Some(v) => return Err(cannot(format!("apiVersion {v} does not match {gv}"))),
    }
    let (unknown, normal) = (r.validate)(obj).map_err(cannot)?;
    // What is stored is what the type holds: unknown fields (reported or
    // ignored below) and nulls do not reach the store.
    *obj = normal;
    let unknown: Vec<String> = unknown
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match mode {
        FieldValidation::Strict if !unknown.is_empty() => Err(cannot(format!(
            "strict decoding error: {}",
            unknown.join(", ")
        ))),
        FieldValidation::Warn => Ok(unknown),
        _ => Ok(vec![]),
    }
}
