//! Objects as stored and as served. The store keeps the JSON without
//! `resourceVersion`: the store's revision is the version, set on the way out.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::apiserver::validation::{self, FieldError};
use crate::store::KeyValue;

/// A stored object as clients see it.
pub fn served(kv: &KeyValue) -> Value {
    let mut obj: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
    set_version(&mut obj, kv.mod_revision);
    obj
}

/// `obj`, just written at `revision`, as clients see it: what [`served`]
/// would give for the stored value, without decoding it again.
pub fn set_version(obj: &mut Value, revision: i64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
    }
}

/// The same, as JSON text: the version is spliced into the stored text,
/// nothing is decoded but the top level. Lists of thousands of objects and
/// every watch event are served this way.
pub fn served_text(kv: &KeyValue) -> Box<RawValue> {
    text_at(&kv.value, kv.mod_revision)
}

/// Stored JSON as served at `revision` (a deleted object's last state is
/// served at the deletion's).
pub fn text_at(stored: &[u8], revision: i64) -> Box<RawValue> {
    let splice = || -> Option<String> {
        let text = std::str::from_utf8(stored).ok()?;
        let top: BTreeMap<&str, &RawValue> = serde_json::from_str(text).ok()?;
        let meta = top.get("metadata")?.get();
        // The store keeps no version; were one there, a second would be a
        // duplicate key.
        if !meta.starts_with('{') || meta.contains("\"resourceVersion\"") {
            return None;
        }
        let at = meta.as_ptr() as usize - text.as_ptr() as usize + 1;
        let comma = if meta[1..].trim_start().starts_with('}') {
            ""
        } else {
            ","
        };
        Some(format!(
            "{}\"resourceVersion\":\"{revision}\"{comma}{}",
            &text[..at],
            &text[at..]
        ))
    };
    splice()
        .and_then(|s| RawValue::from_string(s).ok())
        .unwrap_or_else(|| {
            let mut obj: Value = serde_json::from_slice(stored).unwrap_or(Value::Null);
            set_version(&mut obj, revision);
            RawValue::from_string(obj.to_string()).expect("a value serializes to JSON")
        })
}

pub fn now() -> Value {
    from_now(0)
}

/// An RFC 3339 time `secs` seconds from now, in whole seconds as upstream.
pub fn from_now(secs: i64) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let ts = k8s_openapi::jiff::Timestamp::from_second(now + secs).expect("a time in range");
    serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts))
        .expect("a time serializes")
}

/// The name, namespace and store-owned metadata of a new object.
pub fn prepare_create(
    kind: &str,
    obj: &mut Value,
    namespace: Option<&str>,
) -> Result<String, FieldError> {
    let meta = obj
        .as_object_mut()
        .expect("checked")
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| FieldError::invalid("metadata", Value::Null, "must be an object"))?;
    let name = match (
        meta.get("name").and_then(Value::as_str),
        meta.get("generateName").and_then(Value::as_str),
    ) {
        (Some(n), _) if !n.is_empty() => n.to_owned(),
        (_, Some(prefix)) if !prefix.is_empty() => {
            let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_owned();
            format!("{prefix}{suffix}")
        }
        _ => {
            return Err(FieldError::required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    };
    validation::name(kind, &name)?;
    meta.insert("name".into(), json!(name));
    match (namespace, meta.get("namespace").and_then(Value::as_str)) {
        (Some(ns), Some(body_ns)) if ns != body_ns => {
            return Err(FieldError::invalid(
                "metadata.namespace",
                json!(body_ns),
                format!("does not match the namespace of the request ({ns})"),
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
    // A new object is not being deleted, whatever the body says.
    for owned in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        meta.remove(owned);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_text_is_served() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"metadata": "{\"x\"}"},
                         "metadata": {"name": "a", "labels": {"k": "v"}}});
        let kv = KeyValue {
            key: "/k".into(),
            value: obj.to_string().into_bytes(),
            create_revision: 3,
            mod_revision: 7,
        };
        let text: Value = serde_json::from_str(served_text(&kv).get()).unwrap();
        assert_eq!(text, served(&kv));
        assert_eq!(text["metadata"]["resourceVersion"], "7");
        // Empty metadata, odd spacing, a version already there (kept once).
        for stored in [
            r#"{"kind":"A","metadata":{}}"#,
            r#"{ "metadata" : { } , "kind" : "A" }"#,
            r#"{"metadata":{"name":"n","resourceVersion":"1"}}"#,
        ] {
            let text = text_at(stored.as_bytes(), 9);
            let value: Value = serde_json::from_str(text.get()).unwrap();
            assert_eq!(value["metadata"]["resourceVersion"], "9", "{stored}");
            assert_eq!(text.get().matches("resourceVersion").count(), 1, "{text}");
        }
    }

    #[test]
    fn create_fills_server_metadata() {
        let mut obj = json!({"metadata": {"generateName": "web-", "resourceVersion": "7"}});
        let name = prepare_create("Pod", &mut obj, Some("default")).unwrap();
        assert!(name.starts_with("web-") && name.len() == 9, "{name}");
        let meta = &obj["metadata"];
        assert_eq!(meta["namespace"], "default");
        assert!(meta["uid"].as_str().unwrap().len() == 36 && meta["creationTimestamp"].is_string());
        assert!(meta.get("resourceVersion").is_none());
        let err = prepare_create(
            "Pod",
            &mut json!({"metadata": {"name": "a", "namespace": "x"}}),
            Some("y"),
        )
        .unwrap_err();
        assert_eq!(err.field, "metadata.namespace");
        let err = prepare_create("Pod", &mut json!({"metadata": {}}), None).unwrap_err();
        assert!(
            err.to_string().starts_with("metadata.name: Required"),
            "{err}"
        );
    }
}
