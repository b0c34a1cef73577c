//! Service rules: ports, types, and the fields that may not change.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::FieldError;

const TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];

fn port_number(field: String, v: &Value, errors: &mut Vec<FieldError>) {
    if !v.as_i64().is_some_and(|p| (1..=65535).contains(&p)) {
        errors.push(FieldError::invalid(
            field,
            v.clone(),
            "must be between 1 and 65535, inclusive",
        ));
    }
}

/// An IANA service name: what a named targetPort must be.
fn port_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn ports(spec: &Value, kind: &str, errors: &mut Vec<FieldError>) {
    let ports = spec["ports"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let headless = spec["clusterIP"] == "None";
    if ports.is_empty() && kind != "ExternalName" && !headless {
        errors.push(FieldError::required("spec.ports", ""));
    }
    let mut names = HashSet::new();
    let mut pairs = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let at = |f: &str| format!("spec.ports[{i}].{f}");
        let name = p["name"].as_str().unwrap_or_default();
        if ports.len() > 1 && name.is_empty() {
            errors.push(FieldError::required(at("name"), ""));
        } else if !name.is_empty() && !names.insert(name) {
            errors.push(FieldError::duplicate(at("name"), json!(name)));
        }
        port_number(at("port"), &p["port"], errors);
        let protocol = p["protocol"].as_str().unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            errors.push(FieldError::not_supported(
                at("protocol"),
                json!(protocol),
                PROTOCOLS,
            ));
        }
        if !pairs.insert((p["port"].as_i64(), protocol)) {
            errors.push(FieldError::duplicate(
                format!("spec.ports[{i}]"),
                json!({"port": p["port"], "protocol": protocol}),
            ));
        }
        match &p["targetPort"] {
            Value::Null => {}
            Value::String(s) if s.parse::<i64>().is_err() => {
                if !port_name(s) {
                    errors.push(FieldError::invalid(
                        at("targetPort"),
                        json!(s),
                        "must be a port number or an IANA service name",
                    ));
                }
            }
            v => port_number(at("targetPort"), v, errors),
        }
        if !p["nodePort"].is_null() && kind == "ClusterIP" {
            errors.push(FieldError::forbidden(
                at("nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
    }
}

pub fn validate(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    let kind = spec["type"].as_str().unwrap_or("ClusterIP");
    if !TYPES.contains(&kind) {
        errors.push(FieldError::not_supported("spec.type", json!(kind), TYPES));
    }
    if let Some(affinity) = spec["sessionAffinity"].as_str()
        && !["None", "ClientIP"].contains(&affinity)
    {
        errors.push(FieldError::not_supported(
            "spec.sessionAffinity",
            json!(affinity),
            &["ClientIP", "None"],
        ));
    }
    if let Some(ip) = spec["clusterIP"].as_str()
        && !ip.is_empty()
        && ip != "None"
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        errors.push(FieldError::invalid(
            "spec.clusterIP",
            json!(ip),
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
    if matches!(kind, "NodePort" | "LoadBalancer") && spec["clusterIP"] == "None" {
        errors.push(FieldError::invalid(
            "spec.clusterIP",
            json!("None"),
            format!("may not be set to 'None' for {kind} services"),
        ));
    }
    if kind == "ExternalName" && spec["externalName"].as_str().unwrap_or_default().is_empty() {
        errors.push(FieldError::required("spec.externalName", ""));
    }
    ports(spec, kind, errors);
    // Set once (given or allocated), the cluster IP stays; a change of type
    // to ExternalName is the one way to drop it.
    if let Some(old) = old {
        let before = old["spec"]["clusterIP"].as_str().unwrap_or_default();
        let after = spec["clusterIP"].as_str().unwrap_or_default();
        if !before.is_empty() && before != after && kind != "ExternalName" {
            errors.push(FieldError::invalid(
                "spec.clusterIP",
                json!(after),
                "field is immutable",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(obj: Value, old: Option<Value>) -> Vec<String> {
        let mut e = Vec::new();
        validate(&obj, old.as_ref(), &mut e);
        e.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ports_are_checked() {
        let e = errors(
            json!({"spec": {"ports": [
                {"name": "a", "port": 80},
                {"name": "b", "port": 80, "protocol": "TCP"},
                {"port": 0, "protocol": "XTP", "targetPort": "Bad_Name"}
            ]}}),
            None,
        );
        assert_eq!(
            e,
            [
                "spec.ports[1]: Duplicate value: {\"port\":80,\"protocol\":\"TCP\"}",
                "spec.ports[2].name: Required value",
                "spec.ports[2].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[2].protocol: Unsupported value: \"XTP\": supported values: \"TCP\", \"UDP\", \"SCTP\"",
                "spec.ports[2].targetPort: Invalid value: \"Bad_Name\": must be a port number or an IANA service name",
            ]
        );
        assert_eq!(
            errors(json!({"spec": {}}), None),
            ["spec.ports: Required value"]
        );
        assert!(errors(json!({"spec": {"clusterIP": "None"}}), None).is_empty());
        assert!(
            errors(
                json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}]}}),
                None
            )
            .is_empty()
        );
    }

    #[test]
    fn cluster_ip_is_immutable() {
        let old = json!({"spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}});
        let new = json!({"spec": {"clusterIP": "10.96.0.11", "ports": [{"port": 53}]}});
        assert_eq!(
            errors(new, Some(old.clone())),
            ["spec.clusterIP: Invalid value: \"10.96.0.11\": field is immutable"]
        );
        assert!(errors(old.clone(), Some(old)).is_empty());
    }
}
