//! Objects as stored and as served. The store keeps the JSON without
//! `resourceVersion`: the store's revision is the version, set on the way out.

use serde_json::{Value, json};

use crate::apiserver::registry::ResourceInfo;
use crate::store::KeyValue;

/// A stored object as clients see it.
pub fn served(kv: &KeyValue) -> Value {
    let mut obj: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
    }
    obj
}

pub fn now() -> Value {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let ts = k8s_openapi::jiff::Timestamp::from_second(secs).expect("a time in range");
    serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts))
        .expect("a time serializes")
}

/// Checks `kind`/`apiVersion` (filled in when absent) and that the body is a
/// valid object of the resource's type; the message names what is wrong.
pub fn check(resource: &ResourceInfo, obj: &mut Value) -> Result<(), String> {
    let Some(map) = obj.as_object_mut() else {
        return Err("the body must be a JSON object".into());
    };
    let gv = resource.group_version();
    match map.get("kind").and_then(Value::as_str) {
        None => {
            map.insert("kind".into(), json!(resource.kind));
        }
        Some(k) if k == resource.kind => {}
        Some(k) => {
            return Err(format!(
                "kind: {k} does not match the resource's kind {}",
                resource.kind
            ));
        }
    }
    match map.get("apiVersion").and_then(Value::as_str) {
        None => {
            map.insert("apiVersion".into(), json!(gv));
        }
        Some(v) if v == gv => {}
        Some(v) => return Err(format!("apiVersion: {v} does not match {gv}")),
    }
    (resource.validate)(obj)
}

/// The name, namespace and store-owned metadata of a new object.
pub fn prepare_create(obj: &mut Value, namespace: Option<&str>) -> Result<String, String> {
    let meta = obj
        .as_object_mut()
        .expect("checked")
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("metadata: must be an object")?;
    let name = match (
        meta.get("name").and_then(Value::as_str),
        meta.get("generateName").and_then(Value::as_str),
    ) {
        (Some(n), _) if !n.is_empty() => n.to_owned(),
        (_, Some(prefix)) if !prefix.is_empty() => {
            let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_owned();
            format!("{prefix}{suffix}")
        }
        _ => return Err("metadata.name: Required value: name or generateName is required".into()),
    };
    validate_name(&name).map_err(|e| format!("metadata.name: Invalid value: {name:?}: {e}"))?;
    meta.insert("name".into(), json!(name));
    match (namespace, meta.get("namespace").and_then(Value::as_str)) {
        (Some(ns), Some(body_ns)) if ns != body_ns => {
            return Err(format!(
                "metadata.namespace: Invalid value: {body_ns:?}: does not match the namespace of the request ({ns})"
            ));
        }
        (Some(ns), _) => {
            meta.insert("namespace".into(), json!(ns));
        }
        (None, _) => {
            meta.remove("namespace");
        }
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), now());
    meta.insert("generation".into(), json!(1));
    meta.remove("resourceVersion");
    Ok(name)
}

/// DNS-1123 subdomain, as Kubernetes names most objects.
pub fn validate_name(name: &str) -> Result<(), &'static str> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ends = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if name.is_empty()
        || name.len() > 253
        || !ok_chars
        || !ends(name.as_bytes().first())
        || !ends(name.as_bytes().last())
    {
        return Err(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("web-1.example").is_ok());
        for bad in ["", "Web", "-a", "a-", "a_b"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_fills_server_metadata() {
        let mut obj = json!({"metadata": {"generateName": "web-", "resourceVersion": "7"}});
        let name = prepare_create(&mut obj, Some("default")).unwrap();
        assert!(name.starts_with("web-") && name.len() == 9, "{name}");
        let meta = &obj["metadata"];
        assert_eq!(meta["namespace"], "default");
        assert!(meta["uid"].as_str().unwrap().len() == 36 && meta["creationTimestamp"].is_string());
        assert!(meta.get("resourceVersion").is_none());
        let err = prepare_create(
            &mut json!({"metadata": {"name": "a", "namespace": "x"}}),
            Some("y"),
        )
        .unwrap_err();
        assert!(err.starts_with("metadata.namespace"), "{err}");
        assert!(
            prepare_create(&mut json!({"metadata": {}}), None)
                .unwrap_err()
                .starts_with("metadata.name: Required")
        );
    }
}
