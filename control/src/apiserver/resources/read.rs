//! get and list, as JSON or as the `Table` kubectl prints.

use std::collections::{BTreeMap, HashMap};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::errors::{bad_request, json_response, not_found, store_error};
use super::object::{served, served_text};
use super::partial;
use super::path::Target;
use crate::apiserver::routes::AppState;
use crate::apiserver::select::{FieldSelector, LabelSelector};
use crate::apiserver::table::{IncludeObject, table};
use crate::store::{ListOptions, Store};

/// Whether the client asked for a `Table` (kubectl get does).
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

/// labelSelector and fieldSelector together.
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    pub fn from_query(kind: &str, q: &HashMap<String, String>) -> Result<Filter, Response> {
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
        let labels = LabelSelector::parse(get("labelSelector"))
            .map_err(|e| bad_request(&format!("unable to parse requirement: {e}")))?;
        let fields =
            FieldSelector::parse(get("fieldSelector"), kind).map_err(|e| bad_request(&e))?;
        Ok(Filter { labels, fields })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(&obj["metadata"]["labels"]) && self.fields.matches(obj)
    }

    /// Whether a stored object matches, decoding only its metadata and the
    /// top-level fields the field selector reads (a pod's spec and status
    /// are skipped for a label selector).
    pub fn matches_stored(&self, stored: &[u8]) -> bool {
        let Ok(top) = serde_json::from_slice::<BTreeMap<&str, &RawValue>>(stored) else {
            return serde_json::from_slice(stored).is_ok_and(|obj| self.matches(&obj));
        };
        let wanted = std::iter::once("metadata").chain(self.fields.top_level());
        let obj: serde_json::Map<String, Value> = wanted
            .filter_map(|k| Some((k.to_owned(), serde_json::from_str(top.get(k)?.get()).ok()?)))
            .collect();
        self.matches(&Value::Object(obj))
    }

    /// Selects everything.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

fn render(
    t: &Target,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    items: Vec<Value>,
    meta: Value,
) -> Value {
    if wants_table(headers) {
        let include = IncludeObject::from_query(q.get("includeObject").map(String::as_str));
        return table(t.resource.kind, &items, meta, include);
    }
    json!({
        "kind": format!("{}List", t.resource.kind),
        "apiVersion": t.resource.group_version(),
        "metadata": meta,
        "items": items,
    })
}

pub async fn get(
    state: &AppState,
    t: &Target,
    key: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    let name = t.name.as_deref().unwrap_or_default();
    let obj = match state.store.get(key).await {
        Ok(Some(kv)) => served(&kv),
        Ok(None) => return not_found(t, name),
        Err(e) => return store_error(t, name, e),
    };
    if wants_table(headers) {
        let rv = obj["metadata"]["resourceVersion"].clone();
        return json_response(
            StatusCode::OK,
            &render(t, headers, q, vec![obj], json!({"resourceVersion": rv})),
        );
    }
    if partial::wanted(headers) {
        return json_response(StatusCode::OK, &partial::of_value(&obj));
    }
    json_response(StatusCode::OK, &obj)
}

/// `continue` tokens carry the last key read and the list's revision, so
/// every page is read at the same revision.
fn decode_continue(token: &str) -> Option<(String, i64)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Some((v["start"].as_str()?.to_owned(), v["rv"].as_i64()?))
}

fn encode_continue(start: &str, rv: i64) -> String {
    let token = json!({ "start": start, "rv": rv }).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
}

/// One page of matching objects, as JSON text: reads on until `limit` match
/// or the prefix ends. Returns the items, the revision and where the next
/// page starts. Objects are decoded only when a selector needs them.
pub async fn select(
    store: &dyn Store,
    prefix: &str,
    filter: &Filter,
    limit: Option<usize>,
    mut start_after: Option<String>,
    mut revision: Option<i64>,
) -> crate::store::Result<(Vec<Box<RawValue>>, i64, Option<String>)> {
    let mut items = Vec::new();
    loop {
        let want = limit.map(|l| l - items.len());
        let page = store
            .list(
                prefix,
                ListOptions {
                    revision,
                    limit: want,
                    start_after: start_after.clone(),
                },
            )
            .await?;
        revision = Some(page.revision);
        let last = page.items.last().map(|kv| kv.key.clone());
        items.extend(
            page.items
                .iter()
                .filter(|kv| filter.is_empty() || filter.matches_stored(&kv.value))
                .map(served_text),
        );
        let full = limit.is_some_and(|l| items.len() >= l);
        match (page.more, last) {
            (true, Some(last)) if full => return Ok((items, page.revision, Some(last))),
            (true, Some(last)) => start_after = Some(last),
            _ => return Ok((items, page.revision, None)),
        }
    }
}

/// Decoded objects, for the few callers that work on them.
pub fn values(items: Vec<Box<RawValue>>) -> Vec<Value> {
    items
        .iter()
        .filter_map(|raw| serde_json::from_str(raw.get()).ok())
        .collect()
}

pub async fn list(
    state: &AppState,
    t: &Target,
    prefix: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    let filter = match Filter::from_query(t.resource.kind, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let (start_after, revision) = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => match decode_continue(token) {
            Some((start, rv)) => (Some(start), Some(rv)),
            None => return bad_request("continue: invalid token"),
        },
        None => (None, None),
    };
    let (items, rv, next) =
        match select(&*state.store, prefix, &filter, limit, start_after, revision).await {
            Ok(r) => r,
            Err(e) => return store_error(t, "", e),
        };
    let mut meta = json!({ "resourceVersion": rv.to_string() });
    if let Some(next) = next {
        meta["continue"] = json!(encode_continue(&next, rv));
    }
    if wants_table(headers) {
        return json_response(StatusCode::OK, &render(t, headers, q, values(items), meta));
    }
    let (kind, api_version, items) = if partial::wanted(headers) {
        let (kind, api_version) = partial::list_kind();
        let items = items.iter().map(|o| partial::of_text(o)).collect();
        (kind, api_version, items)
    } else {
        let kind = format!("{}List", t.resource.kind);
        (kind, t.resource.group_version(), items)
    };
    // The list is written around the items' text, never decoded as a whole.
    let list = List {
        kind,
        api_version,
        metadata: meta,
        items,
    };
    let body = serde_json::to_string(&list).expect("a list serializes");
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct List {
    kind: String,
    api_version: String,
    metadata: Value,
    items: Vec<Box<RawValue>>,
}
