//! create, replace, patch, and the status, scale and binding subresources.
//! Every write goes through [`update`]: read, change, check, then a
//! compare-and-swap, retried when no precondition was given, so concurrent
//! writers never lose each other's changes and nothing invalid is stored.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::decode::{self, FieldValidation};
use super::errors::{
    bad_request, conflict, forbidden, invalid, json_response, not_found, store_error,
};
use super::object::{now, prepare_create, served, set_version};
use super::path::Target;
use crate::apiserver::patch::{self, PatchType};
use crate::apiserver::routes::AppState;
use crate::apiserver::validation::{self, FieldError, pruned};
use crate::apiserver::{defaults, serviceaccount, status::status};
use crate::store::Error as StoreError;

pub fn dry_run(q: &HashMap<String, String>) -> bool {
    q.get("dryRun").is_some_and(|d| d == "All")
}

/// The response with `Warning` headers, as upstream reports unknown fields.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let value = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append("warning", v);
        }
    }
    response
}

/// New objects go only into namespaces that exist and are not terminating.
pub async fn namespace_ready(state: &AppState, ns: &str) -> Result<(), Response> {
    match state
        .store
        .get(&format!("/registry/core/namespaces/{ns}"))
        .await
    {
        Ok(Some(kv)) => {
            let obj = served(&kv);
            if obj["metadata"]
                .get("deletionTimestamp")
                .is_some_and(|d| !d.is_null())
            {
                return Err(forbidden(&format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                )));
            }
            Ok(())
        }
        Ok(None) => Err(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("namespaces \"{ns}\" not found"),
        )),
        Err(e) => Err(status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        )),
    }
}

/// ServiceAccount admission: the pod's account, and its token mounted
/// unless the pod or the account says not to.
async fn admit_pod(state: &AppState, ns: &str, pod: &mut Value) {
    let spec = &mut pod["spec"];
    let name = serviceaccount::account(spec);
    let key = format!("/registry/core/serviceaccounts/{ns}/{name}");
    let account: Option<Value> = match state.store.get(&key).await {
        Ok(kv) => kv.and_then(|kv| serde_json::from_slice(&kv.value).ok()),
        Err(_) => None,
    };
    if serviceaccount::automount(spec, account.as_ref()) {
        serviceaccount::inject(spec);
    }
}

pub async fn create(
    state: &AppState,
    t: &Target,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let mode = match FieldValidation::from_query(q.get("fieldValidation").map(String::as_str)) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut obj = match decode::body(headers, body, t.resource.kind) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let warnings = match decode::typed(t, &mut obj, mode) {
        Ok(w) => w,
        Err(r) => return r,
    };
    if t.resource.namespaced && t.namespace.is_none() {
        return bad_request(&format!(
            "{} must be created in a namespace",
            t.resource.plural
        ));
    }
    let kind = t.resource.kind;
    let name = match prepare_create(kind, &mut obj, t.namespace.as_deref()) {
        Ok(n) => n,
        Err(e) => {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            return invalid(t, &name, &[e]);
        }
    };
    defaults::apply(kind, &mut obj);
    defaults::on_create_with(kind, &mut obj, state.admission);
    if kind == "Pod"
        && let Some(ns) = &t.namespace
    {
        admit_pod(state, ns, &mut obj).await;
    }
    let errors = validation::validate(kind, &obj, None);
    if !errors.is_empty() {
        return invalid(t, &name, &errors);
    }
    if let Some(ns) = &t.namespace
        && let Err(r) = namespace_ready(state, ns).await
    {
        return r;
    }
    if dry_run(q) {
        return with_warnings(json_response(StatusCode::CREATED, &obj), &warnings);
    }
    if kind == "Service"
        && let Err(errors) = state.allocator.assign(&mut obj, None).await
    {
        return invalid(t, &name, &errors);
    }
    let key = t.resource.key(t.namespace.as_deref(), Some(&name));
    match state.store.create(&key, obj.to_string().into_bytes()).await {
        Ok(kv) => {
            set_version(&mut obj, kv.mod_revision);
            with_warnings(json_response(StatusCode::CREATED, &obj), &warnings)
        }
        Err(e) => {
            // Only a write known not to have happened gives its claims
            // back; after an unclear failure the repair loop decides.
            if kind == "Service" && matches!(e, StoreError::AlreadyExists) {
                state.allocator.release_unused(&obj, None).await;
            }
            store_error(t, &name, e)
        }
    }
}

/// The `autoscaling/v1` Scale of a Deployment or ReplicaSet.
fn scale_of(obj: &Value) -> Value {
    let m = &obj["metadata"];
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"]},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// The view of `obj` a subresource answers with.
pub fn view(t: &Target, obj: &Value) -> Value {
    match t.subresource.as_deref() {
        Some("scale") => scale_of(obj),
        _ => obj.clone(),
    }
}

/// Carries the server's part of `old` into `new`: metadata it owns, and the
/// half (spec or status) the request may not change.
fn carry_over(t: &Target, new: &mut Value, old: &Value) {
    if t.subresource.as_deref() == Some("status") {
        let status = new.get("status").cloned().unwrap_or(Value::Null);
        *new = old.clone();
        new["status"] = status;
        return;
    }
    // A namespace's finalizers change only through `finalize`, and only them.
    if t.resource.kind == "Namespace" {
        let (mut from, to) = (old.clone(), new.clone());
        let (keep, base) = match t.subresource.as_deref() {
            Some("finalize") => (&to, &mut from),
            _ => (old, &mut *new),
        };
        match keep["spec"].get("finalizers") {
            Some(f) => base["spec"]["finalizers"] = f.clone(),
            None => {
                if let Some(spec) = base["spec"].as_object_mut() {
                    spec.remove("finalizers");
                }
            }
        }
        if t.subresource.as_deref() == Some("finalize") {
            *new = from;
            return;
        }
    }
    for field in [
        "uid",
        "creationTimestamp",
        "namespace",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match old["metadata"].get(field) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    // The status changes only through `status`, and through `binding`,
    // which makes the pod PodScheduled.
    if t.resource.subresources.contains(&"status") && t.subresource.as_deref() != Some("binding") {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    defaults::apply(t.resource.kind, new);
    if t.resource.kind == "Service" {
        defaults::service_update(new, old);
    }
    // Equal specs (a binding, a status write) need no pruned copies.
    if new["spec"] != old["spec"] && pruned(&new["spec"]) != pruned(&old["spec"]) {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(generation + 1);
    }
}

/// Whether `obj` has nothing left to wait for before it goes.
pub fn deletion_done(kind: &str, obj: &Value) -> bool {
    let meta = &obj["metadata"];
    let deleting = meta.get("deletionTimestamp").is_some_and(|d| !d.is_null());
    let pending = |f: &Value| f.as_array().is_some_and(|f| !f.is_empty());
    let finalizers = pending(&meta["finalizers"]) || pending(&obj["spec"]["finalizers"]);
    let grace = meta["deletionGracePeriodSeconds"].as_i64().unwrap_or(0);
    deleting && !finalizers && (kind != "Pod" || grace == 0)
}

/// How a request changes the current object: Ok(new object, warnings).
type Change<'a> = Box<dyn Fn(&Value) -> Result<(Value, Vec<String>), Response> + Send + Sync + 'a>;

/// Read, change, check and compare-and-swap `key`. A resourceVersion in the
/// changed object is a precondition; without one a lost race is retried on
/// the new state.
pub async fn update(
    state: &AppState,
    t: &Target,
    key: &str,
    q: &HashMap<String, String>,
    change: Change<'_>,
) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let kind = t.resource.kind;
    loop {
        let current = match state.store.get(key).await {
            Ok(Some(kv)) => kv,
            Ok(None) => return not_found(t, &name),
            Err(e) => return store_error(t, &name, e),
        };
        let mut old = served(&current);
        let (mut new, warnings) = match change(&old) {
            Ok(c) => c,
            Err(r) => return r,
        };
        if let Some(m) = old["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let precondition = match new["metadata"]
            .get("resourceVersion")
            .and_then(Value::as_str)
        {
            None | Some("") => None,
            Some(rv) => match rv.parse::<i64>() {
                Ok(rv) => Some(rv),
                Err(_) => {
                    return invalid(
                        t,
                        &name,
                        &[FieldError::invalid(
                            "metadata.resourceVersion",
                            json!(rv),
                            "must be a number",
                        )],
                    );
                }
            },
        };
        if precondition.is_some_and(|rv| rv != current.mod_revision) {
            return conflict(t, &name);
        }
        if new["metadata"]["name"].as_str() != Some(name.as_str()) {
            return bad_request(&format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                new["metadata"]["name"].as_str().unwrap_or_default()
            ));
        }
        if let Some(m) = new["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        carry_over(t, &mut new, &old);
        // A binding is the one change of a pod's node the server allows.
        let errors = match t.subresource.as_deref() {
            Some("binding") => vec![],
            _ => validation::validate(kind, &new, Some(&old)),
        };
        if !errors.is_empty() {
            return invalid(t, &name, &errors);
        }
        if dry_run(q) {
            return with_warnings(json_response(StatusCode::OK, &view(t, &new)), &warnings);
        }
        // An update that completes a deletion allocates nothing.
        if kind == "Service"
            && t.subresource.is_none()
            && !deletion_done(kind, &new)
            && let Err(errors) = state.allocator.assign(&mut new, Some(&old)).await
        {
            return invalid(t, &name, &errors);
        }
        let written = if deletion_done(kind, &new) {
            state
                .store
                .delete(key, Some(current.mod_revision))
                .await
                .map(|mut kv| {
                    kv.value = new.to_string().into_bytes();
                    kv
                })
        } else {
            state
                .store
                .update(key, new.to_string().into_bytes(), current.mod_revision)
                .await
        };
        match written {
            Ok(kv) => {
                if kind == "Service" {
                    let kept = (!deletion_done(kind, &new)).then_some(&new);
                    state.allocator.release_unused(&old, kept).await;
                }
                set_version(&mut new, kv.mod_revision);
                return with_warnings(json_response(StatusCode::OK, &view(t, &new)), &warnings);
            }
            Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound)
                if precondition.is_none() =>
            {
                if kind == "Service" {
                    state.allocator.release_unused(&new, Some(&old)).await;
                }
                continue;
            }
            Err(e) => {
                let definite = matches!(e, StoreError::Conflict { .. } | StoreError::NotFound);
                if kind == "Service" && definite {
                    state.allocator.release_unused(&new, Some(&old)).await;
                }
                return store_error(t, &name, e);
            }
        }
    }
}

/// PUT: the body replaces the object (or its status, or its scale).
pub async fn replace(
    state: &AppState,
    t: &Target,
    key: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let mode = match FieldValidation::from_query(q.get("fieldValidation").map(String::as_str)) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let kind = match t.subresource.as_deref() {
        Some("scale") => "Scale",
        _ => t.resource.kind,
    };
    let incoming = match decode::body(headers, body, kind) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let change: Change = Box::new(move |current: &Value| {
        if t.subresource.as_deref() == Some("scale") {
            return Ok((with_replicas(current, &incoming)?, vec![]));
        }
        let mut obj = incoming.clone();
        let warnings = decode::typed(t, &mut obj, mode)?;
        Ok((obj, warnings))
    });
    update(state, t, key, q, change).await
}

/// The parent object with the replicas a Scale asks for.
fn with_replicas(current: &Value, scale: &Value) -> Result<Value, Response> {
    let replicas = match &scale["spec"]["replicas"] {
        // Go clients leave out a zero (the field is omitempty); upstream
        // reads that as 0.
        Value::Null if scale["spec"].is_object() => Some(0),
        r => r.as_i64().filter(|r| *r >= 0),
    };
    let replicas = replicas.ok_or_else(|| {
        bad_request("Scale: spec.replicas must be a number greater than or equal to 0")
    })?;
    let mut obj = current.clone();
    obj["spec"]["replicas"] = json!(replicas);
    match scale["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() => obj["metadata"]["resourceVersion"] = json!(rv),
        _ => {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
        }
    }
    Ok(obj)
}

/// PATCH: JSON patch, merge patch or strategic merge patch, on the object
/// or on the view its subresource serves.
pub async fn patch(
    state: &AppState,
    t: &Target,
    key: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default();
    let Some(patch_type) = PatchType::from_content_type(content_type) else {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        );
    };
    let mode = match FieldValidation::from_query(q.get("fieldValidation").map(String::as_str)) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let name = t.name.clone().unwrap_or_default();
    let change: Change = Box::new(move |current: &Value| {
        // The base carries no resourceVersion: one in the result is the
        // patch's own precondition.
        let mut base = view(t, current);
        if let Some(m) = base["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let kind = if t.subresource.as_deref() == Some("scale") {
            "Scale"
        } else {
            t.resource.kind
        };
        let patched =
            patch::apply(kind, patch_type, &base, body).map_err(|e| patch_error(t, &name, e))?;
        if t.subresource.as_deref() == Some("scale") {
            return Ok((with_replicas(current, &patched)?, vec![]));
        }
        let mut obj = patched;
        let warnings = decode::typed(t, &mut obj, mode)?;
        Ok((obj, warnings))
    });
    update(state, t, key, q, change).await
}

fn patch_error(t: &Target, name: &str, e: patch::PatchError) -> Response {
    if e.code() == 400 {
        bad_request(&e.to_string())
    } else {
        invalid(
            t,
            name,
            &[FieldError::invalid("", Value::Null, e.to_string())],
        )
    }
}

/// POST pods/<name>/binding: the scheduler's way to place a pod.
pub async fn bind(
    state: &AppState,
    t: &Target,
    key: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let binding = match decode::body(headers, body, "Binding") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(node) = binding["target"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
    else {
        return invalid(
            t,
            t.name.as_deref().unwrap_or_default(),
            &[FieldError::required("target.name", "")],
        );
    };
    let name = t.name.clone().unwrap_or_default();
    let uid = binding["metadata"]["uid"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    let change: Change = Box::new(|current: &Value| {
        let mut pod = current.clone();
        // A binding naming a uid is for that pod, not one recreated under
        // its name.
        if let Some(want) = &uid
            && pod["metadata"]["uid"].as_str() != Some(want.as_str())
        {
            return Err(status(
                StatusCode::CONFLICT,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on pods \"{name}\": Precondition failed: UID in precondition: {want}, UID in object meta: {}",
                    pod["metadata"]["uid"].as_str().unwrap_or_default()
                ),
            ));
        }
        if let Some(assigned) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(status(
                StatusCode::CONFLICT,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{assigned}\""
                ),
            ));
        }
        if pod["metadata"]
            .get("deletionTimestamp")
            .is_some_and(|d| !d.is_null())
        {
            return Err(status(
                StatusCode::CONFLICT,
                "Conflict",
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        pod["spec"]["nodeName"] = json!(node);
        set_scheduled(&mut pod["status"]);
        if let Some(m) = pod["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        Ok((pod, vec![]))
    });
    let response = update(state, t, key, q, change).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

/// A bound pod is `PodScheduled=True`, replacing what the scheduler said
/// while it waited (upstream's `UpdatePodCondition`: the transition time
/// moves only with the status).
fn set_scheduled(status: &mut Value) {
    if !status.is_object() {
        *status = json!({});
    }
    let conditions = &mut status["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut().expect("an array");
    let old = list.iter().position(|c| c["type"] == "PodScheduled");
    let since = match old.map(|i| &list[i]) {
        Some(c) if c["status"] == "True" && !c["lastTransitionTime"].is_null() => {
            c["lastTransitionTime"].clone()
        }
        _ => now(),
    };
    let scheduled = json!({
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": null,
        "lastTransitionTime": since,
    });
    match old {
        Some(i) => list[i] = scheduled,
        None => list.push(scheduled),
    }
}
