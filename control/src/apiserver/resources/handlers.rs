//! The verbs. Every error is a `Status` naming what is wrong; nothing is
//! written unless the whole request is valid.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use super::object::{check, prepare_create, served};
use super::path::Target;
use super::watch::watch;
use crate::apiserver::routes::AppState;
use crate::apiserver::status::status;
use crate::store::{Error as StoreError, ListOptions};

fn json_response(code: StatusCode, v: &Value) -> Response {
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

fn store_error(t: &Target, e: StoreError) -> Response {
    let what = format!(
        "{} \"{}\"",
        t.resource.plural,
        t.name.as_deref().unwrap_or("")
    );
    match e {
        StoreError::NotFound => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{what} not found"),
        ),
        StoreError::AlreadyExists => status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("{what} already exists"),
        ),
        StoreError::Conflict { .. } => status(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {what}: the object has been modified; please apply your changes to the latest version and try again"
            ),
        ),
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

fn invalid(t: &Target, name: &str, msg: &str) -> Response {
    status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &format!("{} \"{name}\" is invalid: {msg}", t.resource.kind),
    )
}

fn parse_body(body: &Bytes) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))
}

fn bad_request(msg: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", msg)
}

pub async fn handle(
    state: Arc<AppState>,
    method: Method,
    t: Target,
    query: HashMap<String, String>,
    body: Bytes,
) -> Response {
    let key = t.resource.key(t.namespace.as_deref(), t.name.as_deref());
    match (method, t.name.is_some()) {
        (Method::GET, true) => match state.store.get(&key).await {
            Ok(Some(kv)) => json_response(StatusCode::OK, &served(&kv)),
            Ok(None) => store_error(&t, StoreError::NotFound),
            Err(e) => store_error(&t, e),
        },
        (Method::GET, false)
            if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) =>
        {
            watch(state, t, key, &query).await
        }
        (Method::GET, false) => list(&state, &t, &key, &query).await,
        (Method::POST, false) => create(&state, &t, &body).await,
        (Method::PUT, true) => replace(&state, &t, &key, &body).await,
        (Method::DELETE, true) => match state.store.delete(&key, None).await {
            Ok(kv) => json_response(StatusCode::OK, &served(&kv)),
            Err(e) => store_error(&t, e),
        },
        (m, _) => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!("{m} is not supported on this path"),
        ),
    }
}

/// `continue` tokens carry the last key and the list's revision, so every
/// page is read at the same revision.
fn decode_continue(token: &str) -> Option<(String, i64)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Some((v["start"].as_str()?.to_owned(), v["rv"].as_i64()?))
}

async fn list(state: &AppState, t: &Target, prefix: &str, q: &HashMap<String, String>) -> Response {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let (start_after, revision) = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => match decode_continue(token) {
            Some((start, rv)) => (Some(start), Some(rv)),
            None => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "continue: invalid token",
                );
            }
        },
        None => (None, None),
    };
    let result = match state
        .store
        .list(
            prefix,
            ListOptions {
                revision,
                limit,
                start_after,
            },
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return store_error(t, e),
    };
    let mut metadata = json!({ "resourceVersion": result.revision.to_string() });
    if result.more
        && let Some(last) = result.items.last()
    {
        let token = json!({ "start": last.key, "rv": result.revision }).to_string();
        metadata["continue"] =
            json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token));
    }
    let items: Vec<Value> = result.items.iter().map(served).collect();
    json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", t.resource.kind),
            "apiVersion": t.resource.group_version(),
            "metadata": metadata,
            "items": items,
        }),
    )
}

async fn create(state: &AppState, t: &Target, body: &Bytes) -> Response {
    let mut obj = match parse_body(body) {
        Ok(v) => v,
        Err(msg) => return bad_request(&msg),
    };
    if t.resource.namespaced && t.namespace.is_none() {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("{} must be created in a namespace", t.resource.plural),
        );
    }
    let name = match prepare_create(&mut obj, t.namespace.as_deref()) {
        Ok(n) => n,
        Err(msg) => return invalid(t, "", &msg),
    };
    if let Err(msg) = check(t.resource, &mut obj) {
        return invalid(t, &name, &msg);
    }
    let key = t.resource.key(t.namespace.as_deref(), Some(&name));
    let target = Target {
        name: Some(name),
        ..t.clone()
    };
    match state.store.create(&key, obj.to_string().into_bytes()).await {
        Ok(kv) => json_response(StatusCode::CREATED, &served(&kv)),
        Err(e) => store_error(&target, e),
    }
}

async fn replace(state: &AppState, t: &Target, key: &str, body: &Bytes) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let mut obj = match parse_body(body) {
        Ok(v) => v,
        Err(msg) => return bad_request(&msg),
    };
    if let Err(msg) = check(t.resource, &mut obj) {
        return invalid(t, &name, &msg);
    }
    if obj["metadata"]["name"].as_str() != Some(name.as_str()) {
        return invalid(
            t,
            &name,
            "metadata.name: Invalid value: the name of the object does not match the name on the URL",
        );
    }
    let current = match state.store.get(key).await {
        Ok(Some(kv)) => kv,
        Ok(None) => return store_error(t, StoreError::NotFound),
        Err(e) => return store_error(t, e),
    };
    // A resourceVersion in the body is a precondition; without one the
    // replace applies to whatever is current.
    let expected = match obj["metadata"]
        .get("resourceVersion")
        .and_then(Value::as_str)
    {
        Some(rv) => match rv.parse::<i64>() {
            Ok(rv) => rv,
            Err(_) => {
                return invalid(
                    t,
                    &name,
                    &format!("metadata.resourceVersion: Invalid value: {rv:?}"),
                );
            }
        },
        None => current.mod_revision,
    };
    let old: Value = serde_json::from_slice(&current.value).unwrap_or(Value::Null);
    let meta = obj["metadata"].as_object_mut().expect("checked above");
    meta.remove("resourceVersion");
    // Fields the server owns survive a replace.
    for field in ["uid", "creationTimestamp", "namespace"] {
        match old["metadata"].get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    let bumped = if obj.get("spec") != old.get("spec") {
        generation + 1
    } else {
        generation
    };
    obj["metadata"]["generation"] = json!(bumped);
    match state
        .store
        .update(key, obj.to_string().into_bytes(), expected)
        .await
    {
        Ok(kv) => json_response(StatusCode::OK, &served(&kv)),
        Err(e) => store_error(t, e),
    }
}
