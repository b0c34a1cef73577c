//! Nodes: a pod CIDR is a valid network, and once assigned it stays (the
//! routes of every node point at it); upstream's ValidateNode and
//! ValidateNodeUpdate.

use serde_json::Value;

use super::FieldError;

/// `address/prefix`, as Go's ParseCIDR reads it (a bare address is not one).
fn is_cidr(c: &str) -> bool {
    c.contains('/') && c.parse::<ipnetwork::IpNetwork>().is_ok()
}

fn cidrs(spec: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = spec["podCIDRs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if out.is_empty()
        && let Some(c) = spec["podCIDR"].as_str().filter(|c| !c.is_empty())
    {
        out.push(c);
    }
    out
}

pub fn validate(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    if let Some(c) = spec["podCIDR"].as_str().filter(|c| !c.is_empty())
        && !is_cidr(c)
    {
        errors.push(FieldError::invalid(
            "spec.podCIDR",
            Value::from(c),
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ));
    }
    for (i, c) in spec["podCIDRs"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !c.as_str().is_some_and(is_cidr) {
            errors.push(FieldError::invalid(
                format!("spec.podCIDRs[{i}]"),
                c.clone(),
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    if let Some(old) = old {
        let before = cidrs(&old["spec"]);
        if !before.is_empty() && before != cidrs(spec) {
            errors.push(FieldError::forbidden(
                "spec.podCIDRs",
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(obj: Value, old: Option<Value>) -> Vec<String> {
        let mut errors = Vec::new();
        validate(&obj, old.as_ref(), &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_pod_cidr_is_set_once() {
        let empty = json!({"spec": {}});
        let a = json!({"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}});
        let b = json!({"spec": {"podCIDR": "10.244.2.0/24", "podCIDRs": ["10.244.2.0/24"]}});
        assert!(errors(a.clone(), Some(empty.clone())).is_empty());
        assert!(errors(a.clone(), Some(a.clone())).is_empty());
        let refused = [
            "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid",
        ];
        assert_eq!(errors(b, Some(a.clone())), refused);
        assert_eq!(errors(empty, Some(a)), refused);
        assert_eq!(
            errors(json!({"spec": {"podCIDR": "10.244.1.0"}}), None),
            [
                "spec.podCIDR: Invalid value: \"10.244.1.0\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
            ]
        );
    }
}
