//! `?watch=true`: a stream of `{"type": ..., "object": ...}` lines. Without a
//! resourceVersion (or with "0") the current objects come first as ADDED; a
//! version older than the store keeps gets an ERROR event with 410 Expired,
//! which clients answer by listing again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde_json::{Value, json};

use super::object::served;
use super::path::Target;
use crate::apiserver::routes::AppState;
use crate::store::{Error as StoreError, EventKind, ListOptions};

fn line(kind: &str, object: Value) -> Result<bytes::Bytes, std::convert::Infallible> {
    Ok(bytes::Bytes::from(
        json!({ "type": kind, "object": object }).to_string() + "\n",
    ))
}

fn expired(message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": "Expired", "code": 410})
}

pub async fn watch(
    state: Arc<AppState>,
    _t: Target,
    prefix: String,
    q: &HashMap<String, String>,
) -> Response {
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1800);
    let requested = q
        .get("resourceVersion")
        .and_then(|rv| rv.parse::<i64>().ok())
        .filter(|rv| *rv > 0);
    let mut initial = Vec::new();
    let from = match requested {
        Some(rv) => rv,
        None => match state.store.list(&prefix, ListOptions::default()).await {
            Ok(list) => {
                initial = list
                    .items
                    .iter()
                    .map(|kv| line("ADDED", served(kv)))
                    .collect();
                list.revision
            }
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
    };
    let events = match state.store.watch(&prefix, from).await {
        Ok(events) => events
            .map(|event| match event {
                Ok(e) => {
                    let kind = match e.kind {
                        EventKind::Put if e.prev.is_none() => "ADDED",
                        EventKind::Put => "MODIFIED",
                        EventKind::Delete => "DELETED",
                    };
                    line(kind, served(&e.kv))
                }
                Err(StoreError::Compacted { .. }) => line("ERROR", expired("too old resource version")),
                Err(e) => line("ERROR", json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": e.to_string(), "code": 500})),
            })
            .boxed(),
        Err(StoreError::Compacted { compacted }) => {
            let msg = format!("too old resource version: {from} ({compacted})");
            futures::stream::iter([line("ERROR", expired(&msg))]).boxed()
        }
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    let stream = futures::stream::iter(initial)
        .chain(events)
        .take_until(deadline);
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}
