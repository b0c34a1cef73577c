//! delete and deletecollection. An object with finalizers, or a pod that a
//! node runs, is first marked (deletionTimestamp) and goes once the last
//! finalizer is removed or the kubelet confirms; everything else goes at
//! once. The propagation policy is recorded as upstream's finalizers
//! (`foregroundDeletion`, `orphan`) for the garbage collector.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::errors::{bad_request, conflict, json_response, not_found, store_error};
use super::object::{from_now, served};
use super::path::Target;
use super::read::{Filter, select, values};
use super::write::{deletion_done, dry_run};
use crate::apiserver::routes::AppState;
use crate::apiserver::status::status;
use crate::store::Error as StoreError;

#[derive(Default, Clone)]
pub struct DeleteOptions {
    grace: Option<i64>,
    propagation: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
}

impl DeleteOptions {
    /// From a `DeleteOptions` body, else from the query.
    pub fn parse(
        headers: &HeaderMap,
        q: &HashMap<String, String>,
        body: &[u8],
    ) -> Result<Self, Response> {
        let from_body = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            super::decode::body(headers, body, "DeleteOptions")?
        };
        let grace = match from_body.get("gracePeriodSeconds").filter(|g| !g.is_null()) {
            Some(g) => Some(
                g.as_i64()
                    .ok_or_else(|| bad_request("gracePeriodSeconds: must be a number"))?,
            ),
            None => match q.get("gracePeriodSeconds") {
                Some(g) => Some(
                    g.parse::<i64>()
                        .map_err(|_| bad_request("gracePeriodSeconds: must be a number"))?,
                ),
                None => None,
            },
        };
        let propagation = from_body["propagationPolicy"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| q.get("propagationPolicy").cloned());
        if let Some(p) = &propagation
            && !["Background", "Foreground", "Orphan"].contains(&p.as_str())
        {
            return Err(bad_request(&format!(
                "propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        let pre = &from_body["preconditions"];
        Ok(Self {
            grace,
            propagation,
            uid: pre["uid"].as_str().map(str::to_owned),
            resource_version: pre["resourceVersion"].as_str().map(str::to_owned),
        })
    }
}

/// How long a pod gets to stop: none if no node runs it.
fn pod_grace(obj: &Value, asked: Option<i64>) -> i64 {
    let spec = &obj["spec"];
    let phase = obj["status"]["phase"].as_str().unwrap_or_default();
    let running = spec["nodeName"].as_str().is_some_and(|n| !n.is_empty())
        && !["Succeeded", "Failed"].contains(&phase);
    if !running {
        return 0;
    }
    match asked {
        // A negative grace period means "as soon as possible", one second.
        Some(g) if g < 0 => 1,
        Some(g) => g,
        None => spec["terminationGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(30)
            .max(0),
    }
}

/// Deletes or marks one object; Ok(the object as it is now, whether it is
/// gone).
async fn remove(
    state: &AppState,
    t: &Target,
    key: &str,
    opts: &DeleteOptions,
    dry: bool,
) -> Result<(Value, bool), Response> {
    let name = key.rsplit('/').next().unwrap_or_default().to_owned();
    let kind = t.resource.kind;
    loop {
        let current = match state.store.get(key).await {
            Ok(Some(kv)) => kv,
            Ok(None) => return Err(not_found(t, &name)),
            Err(e) => return Err(store_error(t, &name, e)),
        };
        let mut obj = served(&current);
        let meta = &obj["metadata"];
        if let Some(uid) = &opts.uid
            && meta["uid"].as_str() != Some(uid)
        {
            return Err(status(
                StatusCode::CONFLICT,
                "Conflict",
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta["uid"].as_str().unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && *rv != current.mod_revision.to_string()
        {
            return Err(conflict(t, &name));
        }
        let grace = if kind == "Pod" {
            pod_grace(&obj, opts.grace)
        } else {
            0
        };
        let mut finalizers: Vec<Value> = meta["finalizers"].as_array().cloned().unwrap_or_default();
        let marker = match opts.propagation.as_deref() {
            Some("Foreground") => Some("foregroundDeletion"),
            Some("Orphan") => Some("orphan"),
            _ => None,
        };
        let deleting = meta.get("deletionTimestamp").is_some_and(|d| !d.is_null());
        if let Some(m) = marker
            && !finalizers.iter().any(|f| f == m)
        {
            finalizers.push(json!(m));
        }
        let shorter = meta["deletionGracePeriodSeconds"]
            .as_i64()
            .is_none_or(|g| grace < g);
        if deleting
            && !shorter
            && finalizers.len() == meta["finalizers"].as_array().map_or(0, Vec::len)
        {
            return Ok((obj, false));
        }
        let m = obj["metadata"]
            .as_object_mut()
            .expect("objects have metadata");
        m.remove("resourceVersion");
        if !deleting || shorter {
            m.insert("deletionTimestamp".into(), from_now(grace));
            m.insert("deletionGracePeriodSeconds".into(), json!(grace));
        }
        if kind == "Namespace" {
            obj["status"]["phase"] = json!("Terminating");
        }
        let m = obj["metadata"]
            .as_object_mut()
            .expect("objects have metadata");
        // Controllers that follow generations see the deletion start.
        if !deleting && let Some(g) = m.get("generation").and_then(Value::as_i64) {
            m.insert("generation".into(), json!(g + 1));
        }
        if !finalizers.is_empty() {
            m.insert("finalizers".into(), json!(finalizers));
        }
        if dry {
            return Ok((obj, false));
        }
        let result = if deletion_done(kind, &obj) {
            state.store.delete(key, Some(current.mod_revision)).await
        } else {
            state
                .store
                .update(key, obj.to_string().into_bytes(), current.mod_revision)
                .await
        };
        match result {
            Ok(kv) => {
                if kind == "Service" && deletion_done(kind, &obj) {
                    state.allocator.release_unused(&obj, None).await;
                }
                return Ok((served(&kv), deletion_done(kind, &obj)));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(store_error(t, &name, e)),
        }
    }
}

pub async fn delete(
    state: &AppState,
    t: &Target,
    key: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let opts = match DeleteOptions::parse(headers, q, body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match remove(state, t, key, &opts, dry_run(q)).await {
        // Gone at once: a Status, which clients read as "deleted"; still
        // there (finalizers, grace): the object, "being deleted".
        Ok((obj, true)) => {
            let meta = &obj["metadata"];
            let details = json!({"name": meta["name"], "group": t.resource.group,
                                 "kind": t.resource.plural, "uid": meta["uid"]});
            json_response(
                StatusCode::OK,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Success", "details": details}),
            )
        }
        Ok((obj, false)) => json_response(StatusCode::OK, &obj),
        Err(r) => r,
    }
}

/// Deletes every object the selectors match, each as a single delete would.
pub async fn delete_collection(
    state: &AppState,
    t: &Target,
    prefix: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let opts = match DeleteOptions::parse(headers, q, body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let filter = match Filter::from_query(t.resource.kind, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (items, rv, _) = match select(&*state.store, prefix, &filter, None, None, None).await {
        Ok(r) => r,
        Err(e) => return store_error(t, "", e),
    };
    let mut gone = Vec::new();
    for obj in values(items) {
        let meta = &obj["metadata"];
        let key = t
            .resource
            .key(meta["namespace"].as_str(), meta["name"].as_str());
        match remove(state, t, &key, &opts, dry_run(q)).await {
            Ok((obj, _)) => gone.push(obj),
            // Deleted meanwhile by someone else: already what was asked.
            Err(r) if r.status() == StatusCode::NOT_FOUND => {}
            Err(r) => return r,
        }
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", t.resource.kind),
            "apiVersion": t.resource.group_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": gone,
        }),
    )
}
