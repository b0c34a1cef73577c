//! Pods and the controllers that template them.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{FieldError, dns_label, pruned};

fn containers(path: &str, list: &Value, required: bool, errors: &mut Vec<FieldError>) {
    let items = list.as_array().map(Vec::as_slice).unwrap_or(&[]);
    if items.is_empty() {
        if required {
            errors.push(FieldError::required(path, ""));
        }
        return;
    }
    let mut names = HashSet::new();
    for (i, c) in items.iter().enumerate() {
        let at = |f: &str| format!("{path}[{i}].{f}");
        match c["name"].as_str() {
            None | Some("") => errors.push(FieldError::required(at("name"), "")),
            Some(n) => {
                if let Err(e) = dns_label(n) {
                    errors.push(FieldError::invalid(at("name"), json!(n), e));
                } else if !names.insert(n) {
                    errors.push(FieldError::duplicate(at("name"), json!(n)));
                }
            }
        }
        if c["image"].as_str().unwrap_or_default().trim().is_empty() {
            errors.push(FieldError::required(at("image"), ""));
        }
    }
}

pub fn pod_spec(path: &str, spec: &Value, errors: &mut Vec<FieldError>) {
    containers(
        &format!("{path}.containers"),
        &spec["containers"],
        true,
        errors,
    );
    containers(
        &format!("{path}.initContainers"),
        &spec["initContainers"],
        false,
        errors,
    );
}

/// Spec fields a running pod may change, as upstream allows.
fn mutable_pod_fields(spec: &Value) -> Value {
    let mut spec = spec.clone();
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec[list].as_array_mut() {
            for c in cs {
                c["image"] = Value::Null;
            }
        }
    }
    if let Some(map) = spec.as_object_mut() {
        for f in [
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
        ] {
            map.remove(f);
        }
    }
    spec
}

pub fn validate_pod(obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    pod_spec("spec", &obj["spec"], errors);
    if let Some(old) = old
        && pruned(&mutable_pod_fields(&obj["spec"])) != pruned(&mutable_pod_fields(&old["spec"]))
    {
        errors.push(FieldError::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
}

/// Whether `labels` satisfy a LabelSelector's matchLabels and matchExpressions.
fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels[k].as_str();
    let by_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let by_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str() {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => !label(key).is_some_and(|v| values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        });
    by_labels && by_expressions
}

pub fn validate(kind: &str, obj: &Value, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    if kind != "DaemonSet"
        && let Some(r) = spec.get("replicas").filter(|r| !r.is_null())
        && r.as_i64().is_none_or(|r| r < 0)
    {
        errors.push(FieldError::invalid(
            "spec.replicas",
            r.clone(),
            "must be greater than or equal to 0",
        ));
    }
    let selector = &spec["selector"];
    let empty = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.is_empty())
        && selector["matchExpressions"]
            .as_array()
            .is_none_or(|m| m.is_empty());
    if empty {
        errors.push(FieldError::required("spec.selector", ""));
    } else {
        let labels = &spec["template"]["metadata"]["labels"];
        if !selects(selector, labels) {
            errors.push(FieldError::invalid(
                "spec.template.metadata.labels",
                labels.clone(),
                "`selector` does not match template `labels`",
            ));
        }
    }
    pod_spec("spec.template.spec", &spec["template"]["spec"], errors);
    if let Some(old) = old
        && old["spec"]["selector"] != *selector
    {
        errors.push(FieldError::invalid(
            "spec.selector",
            selector.clone(),
            "field is immutable",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(labels: Value, image: &str) -> Value {
        json!({"spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "web", "image": image}]}}
        }})
    }

    fn errors(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut e = Vec::new();
        match kind {
            "Pod" => validate_pod(obj, old, &mut e),
            _ => validate(kind, obj, old, &mut e),
        }
        e.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn selector_must_match_template() {
        let ok = deployment(json!({"app": "web", "tier": "x"}), "nginx");
        assert!(errors("Deployment", &ok, None).is_empty());
        let bad = deployment(json!({"app": "api"}), "");
        assert_eq!(
            errors("Deployment", &bad, None),
            [
                "spec.template.metadata.labels: Invalid value: {\"app\":\"api\"}: `selector` does not match template `labels`",
                "spec.template.spec.containers[0].image: Required value",
            ]
        );
        let mut moved = ok.clone();
        moved["spec"]["selector"]["matchLabels"]["tier"] = json!("x");
        assert_eq!(
            errors("Deployment", &moved, Some(&ok)),
            [
                "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"tier\":\"x\"}}: field is immutable"
            ]
        );
    }

    #[test]
    fn pods_change_only_images() {
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}});
        assert_eq!(
            errors("Pod", &pod, None),
            ["spec.containers[1].name: Duplicate value: \"a\""]
        );
        let old = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        let new_image = json!({"spec": {"containers": [{"name": "a", "image": "z"}]}});
        assert!(errors("Pod", &new_image, Some(&old)).is_empty());
        let go_client =
            json!({"spec": {"containers": [{"name": "a", "image": "x", "resources": {}}]}});
        assert!(
            errors("Pod", &go_client, Some(&old)).is_empty(),
            "{{}} is nothing"
        );
        let new_port = json!({"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}});
        assert!(
            errors("Pod", &new_port, Some(&old))[0]
                .starts_with("spec: Forbidden: pod updates may not change")
        );
    }
}
