//! `?watch=true`: a stream of `{"type": ..., "object": ...}` lines. Without a
//! resourceVersion (or with "0") the current objects come first as ADDED; a
//! version older than the store keeps gets an ERROR event with 410 Expired,
//! which clients answer by listing again. With selectors, an object that
//! starts or stops matching is seen as ADDED or DELETED, as upstream's watch
//! cache does; with allowWatchBookmarks, BOOKMARK events carry the revision
//! the watcher has seen everything up to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::errors::{bad_request, store_error};
use super::object::text_at;
use super::partial;
use super::path::Target;
use super::read::{Filter, select, wants_table};
use crate::apiserver::routes::AppState;
use crate::apiserver::table::{IncludeObject, table};
use crate::store::{Error as StoreError, Event, EventKind, KeyValue};

const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
const LINES_PER_CHUNK: usize = 256;

fn join(lines: Vec<bytes::Bytes>) -> bytes::Bytes {
    match <[bytes::Bytes; 1]>::try_from(lines) {
        Ok([one]) => one,
        Err(lines) => lines.concat().into(),
    }
}

fn expired(message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": "Expired", "code": 410})
}

/// What one store event means to a watcher with `filter`. Objects go out as
/// their stored text with the version spliced in, never decoded whole.
fn classify(filter: &Filter, e: &Event) -> Option<(&'static str, Box<RawValue>)> {
    // The object as it was, at this event's version, is what a watcher
    // that stops seeing it is told was deleted.
    let at_event = |kv: &KeyValue| text_at(&kv.value, e.kv.mod_revision);
    if filter.is_empty() {
        let kind = match e.kind {
            EventKind::Put if e.prev.is_none() => "ADDED",
            EventKind::Put => "MODIFIED",
            EventKind::Delete => "DELETED",
        };
        return Some((kind, at_event(&e.kv)));
    }
    let is = filter.matches_stored(&e.kv.value);
    let was = e
        .prev
        .as_ref()
        .is_some_and(|p| filter.matches_stored(&p.value));
    match e.kind {
        EventKind::Delete => (was || is).then(|| ("DELETED", at_event(&e.kv))),
        EventKind::Put => match (was, is) {
            (true, true) => Some(("MODIFIED", at_event(&e.kv))),
            (false, true) => Some(("ADDED", at_event(&e.kv))),
            (true, false) => e.prev.as_ref().map(|p| ("DELETED", at_event(p))),
            (false, false) => None,
        },
    }
}

/// Encodes events, as objects or as one-row Tables (columns in the first).
struct Encoder {
    kind: &'static str,
    api_version: String,
    table: Option<IncludeObject>,
    columns_sent: bool,
    /// `PartialObjectMetadata` for each object.
    metadata_only: bool,
}

impl Encoder {
    fn line(&mut self, kind: &str, object: Box<RawValue>) -> bytes::Bytes {
        let object = if self.metadata_only {
            partial::of_text(&object)
        } else {
            object
        };
        match &self.table {
            None => bytes::Bytes::from(format!(
                "{{\"type\":\"{kind}\",\"object\":{}}}\n",
                object.get()
            )),
            Some(_) => {
                let object = serde_json::from_str(object.get()).unwrap_or(Value::Null);
                self.value_line(kind, object)
            }
        }
    }

    fn value_line(&mut self, kind: &str, object: Value) -> bytes::Bytes {
        let object = match (&self.table, kind) {
            (Some(include), "ADDED" | "MODIFIED" | "DELETED") => {
                let rv = object["metadata"]["resourceVersion"].clone();
                let mut t = table(
                    self.kind,
                    &[object],
                    json!({"resourceVersion": rv}),
                    *include,
                );
                if self.columns_sent {
                    t["columnDefinitions"] = Value::Null;
                }
                self.columns_sent = true;
                t
            }
            _ => object,
        };
        bytes::Bytes::from(json!({ "type": kind, "object": object }).to_string() + "\n")
    }

    fn bookmark(&mut self, rv: i64) -> bytes::Bytes {
        let object = json!({"kind": self.kind, "apiVersion": self.api_version,
                            "metadata": {"resourceVersion": rv.to_string()}});
        self.value_line("BOOKMARK", object)
    }

    /// The bookmark that ends the initial events of a streaming list.
    fn initial_events_end(&mut self, rv: i64) -> bytes::Bytes {
        let object = json!({"kind": self.kind, "apiVersion": self.api_version,
                            "metadata": {"resourceVersion": rv.to_string(),
                                         "annotations": {"k8s.io/initial-events-end": "true"}}});
        self.value_line("BOOKMARK", object)
    }
}

enum Item {
    Event(crate::store::Result<Arc<Event>>),
    Tick,
}

pub async fn watch(
    state: Arc<AppState>,
    t: Target,
    prefix: String,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    let filter = match Filter::from_query(t.resource.kind, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1800);
    let bookmarks = super::flag(q, "allowWatchBookmarks");
    let requested = q
        .get("resourceVersion")
        .and_then(|rv| rv.parse::<i64>().ok())
        .filter(|rv| *rv > 0);
    let mut enc = Encoder {
        kind: t.resource.kind,
        api_version: t.resource.group_version(),
        table: wants_table(headers)
            .then(|| IncludeObject::from_query(q.get("includeObject").map(String::as_str))),
        columns_sent: false,
        metadata_only: partial::wanted(headers),
    };
    // A streaming list (sendInitialEvents) starts with the current objects
    // whatever the version, and marks their end with a bookmark.
    let streaming = super::flag(q, "sendInitialEvents");
    if streaming && !bookmarks {
        return bad_request("sendInitialEvents requires allowWatchBookmarks=true");
    }
    let mut initial = Vec::new();
    let from = match requested.filter(|_| !streaming) {
        Some(rv) => rv,
        None => match select(&*state.store, &prefix, &filter, None, None, None).await {
            Ok((items, rv, _)) => {
                initial = items.into_iter().map(|o| enc.line("ADDED", o)).collect();
                if streaming {
                    initial.push(enc.initial_events_end(rv));
                }
                rv
            }
            Err(e) => return store_error(&t, "", e),
        },
    };
    let events = match state.store.watch(&prefix, from).await {
        Ok(events) => events,
        Err(StoreError::Compacted { compacted }) => {
            let msg = format!("too old resource version: {from} ({compacted})");
            let line = enc.value_line("ERROR", expired(&msg));
            return (StatusCode::OK, [("content-type", "application/json")], line).into_response();
        }
        Err(e) => return store_error(&t, "", e),
    };
    let ticks =
        tokio_stream_interval(BOOKMARK_EVERY).filter(move |_| std::future::ready(bookmarks));
    let merged = futures::stream::select(events.map(Item::Event), ticks.map(|_| Item::Tick));
    // The revision every event up to which has been sent (or skipped).
    let mut seen = from;
    let lines = merged
        .scan(false, move |ended, item| {
            if *ended {
                return std::future::ready(None);
            }
            let out = match item {
                Item::Tick => Some(enc.bookmark(seen)),
                Item::Event(Ok(e)) => {
                    seen = e.revision();
                    classify(&filter, &e).map(|(kind, obj)| enc.line(kind, obj))
                }
                Item::Event(Err(StoreError::Compacted { .. })) => {
                    *ended = true;
                    Some(enc.value_line("ERROR", expired("too old resource version")))
                }
                Item::Event(Err(e)) => {
                    *ended = true;
                    Some(enc.value_line("ERROR", json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": e.to_string(), "code": 500})))
                }
            };
            std::future::ready(Some(out))
        })
        .filter_map(std::future::ready);
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    // Lines ready together go out as one chunk: one body frame, one TLS
    // record and one write for a burst of events, not one each.
    let stream = futures::stream::iter(initial)
        .chain(lines)
        .take_until(deadline)
        .ready_chunks(LINES_PER_CHUNK)
        .map(|lines| Ok::<_, std::convert::Infallible>(join(lines)));
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// A tick every `period`, the first one after a full period.
fn tokio_stream_interval(period: Duration) -> impl futures::Stream<Item = ()> {
    futures::stream::unfold(
        tokio::time::interval_at(tokio::time::Instant::now() + period, period),
        |mut i| async move {
            i.tick().await;
            Some(((), i))
        },
    )
}
