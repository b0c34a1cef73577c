//! Objects as their metadata alone (`meta.k8s.io/v1` `PartialObjectMetadata`),
//! for clients that ask with `Accept: application/json;as=PartialObjectMetadata`
//! (or `...List` for lists): metadata informers such as a garbage collector
//! need neither spec nor status, and are spared decoding them.

use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Response};
use serde_json::value::RawValue;
use serde_json::{Value, json};

const API_VERSION: &str = "meta.k8s.io/v1";
const KIND: &str = "PartialObjectMetadata";

/// Whether the client asked for metadata only.
pub fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

/// `obj` as a `PartialObjectMetadata`.
pub fn of_value(obj: &Value) -> Value {
    json!({"apiVersion": API_VERSION, "kind": KIND, "metadata": obj["metadata"]})
}

/// The same from an object's JSON text, decoding only its top level.
pub fn of_text(raw: &RawValue) -> Box<RawValue> {
    #[derive(serde::Deserialize)]
    struct Top<'a> {
        #[serde(borrow)]
        metadata: Option<&'a RawValue>,
    }
    let meta = serde_json::from_str::<Top>(raw.get())
        .ok()
        .and_then(|t| t.metadata)
        .map_or("{}", RawValue::get);
    RawValue::from_string(format!(
        "{{\"apiVersion\":\"{API_VERSION}\",\"kind\":\"{KIND}\",\"metadata\":{meta}}}"
    ))
    .expect("metadata is JSON")
}

/// The kind and version of a list of them.
pub fn list_kind() -> (String, String) {
    (format!("{KIND}List"), API_VERSION.to_owned())
}

/// A write's answer, the object reduced to its metadata (a `Status` or an
/// error stays as it is).
pub async fn response(response: Response) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (parts.status, parts.headers).into_response();
    };
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v["kind"] != "Status" => of_value(&v).to_string().into(),
        _ => bytes,
    };
    Response::from_parts(parts, axum::body::Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_value_agree() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": "a", "resourceVersion": "7", "labels": {"k": "v"}},
                         "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running"}});
        let raw = RawValue::from_string(obj.to_string()).unwrap();
        let text: Value = serde_json::from_str(of_text(&raw).get()).unwrap();
        assert_eq!(text, of_value(&obj));
        assert_eq!(
            text,
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                   "metadata": {"name": "a", "resourceVersion": "7", "labels": {"k": "v"}}})
        );
    }
}
