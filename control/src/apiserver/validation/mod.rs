//! What makes an object valid beyond its type: names, required fields,
//! immutable fields and per-kind rules. Errors name the field as upstream
//! does (`spec.ports[1].port`), so clients can point at the line.

mod history;
mod node;
mod service;
mod workload;

use serde_json::Value;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub cause: Cause,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    Required(String),
    /// The offending value (as JSON) and why.
    Invalid(Value, String),
    Duplicate(Value),
    NotSupported(Value, Vec<String>),
    Forbidden(String),
    /// Longer than this many bytes.
    TooLong(usize),
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Self {
            field: field.into(),
            cause: Cause::Required(detail.into()),
        }
    }

    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            cause: Cause::Invalid(value, detail.into()),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: Value) -> Self {
        Self {
            field: field.into(),
            cause: Cause::Duplicate(value),
        }
    }

    pub fn not_supported(field: impl Into<String>, value: Value, supported: &[&str]) -> Self {
        Self {
            field: field.into(),
            cause: Cause::NotSupported(value, supported.iter().map(|s| s.to_string()).collect()),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            cause: Cause::Forbidden(detail.into()),
        }
    }

    /// The `reason` of the cause in a `Status`.
    pub fn reason(&self) -> &'static str {
        match self.cause {
            Cause::Required(_) => "FieldValueRequired",
            Cause::Invalid(..) => "FieldValueInvalid",
            Cause::Duplicate(_) => "FieldValueDuplicate",
            Cause::NotSupported(..) => "FieldValueNotSupported",
            Cause::Forbidden(_) => "FieldValueForbidden",
            Cause::TooLong(_) => "FieldValueTooLong",
        }
    }

    /// The message without the field, as in a `Status` cause.
    pub fn detail(&self) -> String {
        let with = |head: String, detail: &str| {
            if detail.is_empty() {
                head
            } else {
                format!("{head}: {detail}")
            }
        };
        match &self.cause {
            Cause::Required(d) => with("Required value".into(), d),
            Cause::Invalid(v, d) => with(format!("Invalid value: {v}"), d),
            Cause::Duplicate(v) => format!("Duplicate value: {v}"),
            Cause::NotSupported(v, ok) => {
                let ok: Vec<String> = ok.iter().map(|s| format!("{s:?}")).collect();
                format!(
                    "Unsupported value: {v}: supported values: {}",
                    ok.join(", ")
                )
            }
            Cause::Forbidden(d) => with("Forbidden".into(), d),
            Cause::TooLong(n) => format!("Too long: may not be more than {n} bytes"),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.detail())
    }
}

/// `v` without nulls, empty objects and empty lists, at any depth: how two
/// specs compare when clients spell "nothing" differently (Go clients send
/// `"resources": {}` where others send nothing, and upstream compares the
/// decoded structs, where both are the same).
pub fn pruned(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), pruned(v)))
                .filter(|(_, v)| !is_nothing(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(pruned).collect()),
        other => other.clone(),
    }
}

fn is_nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// DNS-1123 subdomain, as Kubernetes names most objects.
pub fn dns_subdomain(name: &str) -> Result<(), &'static str> {
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

/// DNS-1123 label: what namespaces and Services are named with.
pub fn dns_label(name: &str) -> Result<(), &'static str> {
    if name.len() > 63 || name.contains('.') || dns_subdomain(name).is_err() {
        return Err(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        );
    }
    Ok(())
}

/// Kinds whose names must be DNS labels rather than subdomains.
fn label_named(kind: &str) -> bool {
    matches!(kind, "Namespace" | "Service")
}

pub fn name(kind: &str, name: &str) -> Result<(), FieldError> {
    let check = if label_named(kind) {
        dns_label(name)
    } else {
        dns_subdomain(name)
    };
    check.map_err(|e| FieldError::invalid("metadata.name", Value::from(name), e))
}

/// Label keys and values, and annotation keys, as upstream checks them.
fn metadata(obj: &Value, errors: &mut Vec<FieldError>) {
    use crate::apiserver::select::{label_key_errors, label_value_errors};
    let meta = &obj["metadata"];
    for (k, v) in meta["labels"].as_object().into_iter().flatten() {
        for e in label_key_errors(k) {
            errors.push(FieldError::invalid(
                "metadata.labels",
                Value::from(k.as_str()),
                e,
            ));
        }
        let value = v.as_str().unwrap_or_default();
        for e in label_value_errors(value) {
            errors.push(FieldError::invalid(
                "metadata.labels",
                Value::from(value),
                e,
            ));
        }
    }
    let mut size = 0;
    for (k, v) in meta["annotations"].as_object().into_iter().flatten() {
        size += k.len() + v.as_str().map_or(0, str::len);
        for e in label_key_errors(k) {
            errors.push(FieldError::invalid(
                "metadata.annotations",
                Value::from(k.as_str()),
                e,
            ));
        }
    }
    if size > 256 * 1024 {
        errors.push(FieldError {
            field: "metadata.annotations".into(),
            cause: Cause::TooLong(256 * 1024),
        });
    }
}

/// Every rule of `kind` for a new object, or for `old` replaced by `obj`.
pub fn validate(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    metadata(obj, &mut errors);
    match kind {
        "Service" => service::validate(obj, old, &mut errors),
        "Deployment" | "ReplicaSet" | "DaemonSet" => {
            workload::validate(kind, obj, old, &mut errors)
        }
        "Pod" => workload::validate_pod(obj, old, &mut errors),
        "ControllerRevision" => history::validate(obj, old, &mut errors),
        "Node" => node::validate(obj, old, &mut errors),
        _ => {}
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(dns_subdomain("web-1.example").is_ok());
        for bad in ["", "Web", "-a", "a-", "a_b"] {
            assert!(dns_subdomain(bad).is_err(), "{bad:?}");
        }
        assert!(name("Service", "a.b").is_err());
        assert!(name("ConfigMap", "a.b").is_ok());
        assert_eq!(
            name("Namespace", "Bad").unwrap_err().to_string(),
            "metadata.name: Invalid value: \"Bad\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        );
    }

    #[test]
    fn labels_and_annotations() {
        let obj = json!({"metadata": {"labels": {"ok": "v", "bad key": "v", "k": "bad value"},
                                      "annotations": {"example.com/fine": "x", "-no": "y"}}});
        let fields: Vec<String> = validate("ConfigMap", &obj, None)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(fields.len(), 3, "{fields:?}");
        assert!(
            fields[0].starts_with(
                "metadata.labels: Invalid value: \"bad key\": name part must consist of"
            ),
            "{fields:?}"
        );
        assert!(
            fields[1].starts_with("metadata.labels: Invalid value: \"bad value\""),
            "{fields:?}"
        );
        assert!(
            fields[2].starts_with("metadata.annotations: Invalid value: \"-no\""),
            "{fields:?}"
        );
        let big = json!({"metadata": {"annotations": {"a": "x".repeat(300 * 1024)}}});
        assert_eq!(
            validate("ConfigMap", &big, None)[0].to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn messages_read_like_upstream() {
        let e = FieldError::duplicate("spec.ports[1]", json!({"port": 80, "protocol": "TCP"}));
        assert_eq!(
            e.to_string(),
            "spec.ports[1]: Duplicate value: {\"port\":80,\"protocol\":\"TCP\"}"
        );
        let e = FieldError::not_supported("spec.type", json!("Foo"), &["ClusterIP", "NodePort"]);
        assert_eq!(
            e.to_string(),
            "spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"NodePort\""
        );
        assert_eq!(
            FieldError::required("spec.selector", "").to_string(),
            "spec.selector: Required value"
        );
    }
}
