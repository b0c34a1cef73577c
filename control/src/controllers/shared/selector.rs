//! `LabelSelector` objects (matchLabels, matchExpressions) against labels.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether a selector has no terms. Upstream reads it as "everything";
/// validation refuses it on the workloads, and a controller must never
/// claim every pod of a namespace, so [`matches`] selects nothing with it.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty())
}

/// Whether `labels` satisfy every term of `selector`. An unknown operator
/// matches nothing, as upstream refuses to build such a selector.
pub fn matches(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    if is_empty(selector) {
        return false;
    }
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| label(k) == Some(v.as_str()));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let has = |v: &str| values.iter().any(|x| x == v);
        match e.operator.as_str() {
            "In" => label(&e.key).is_some_and(has),
            "NotIn" => !label(&e.key).is_some_and(has),
            "Exists" => label(&e.key).is_some(),
            "DoesNotExist" => label(&e.key).is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn terms_all_hold() {
        let s = sel(json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]}));
        assert!(matches(&s, Some(&labels(&[("app", "web"), ("tier", "a")]))));
        assert!(!matches(
            &s,
            Some(&labels(&[("app", "web"), ("tier", "c")]))
        ));
        assert!(!matches(
            &s,
            Some(&labels(&[("app", "web"), ("tier", "a"), ("canary", "")]))
        ));
        assert!(!matches(&s, None));
        let not_in =
            sel(json!({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["1"]}]}));
        assert!(matches(&not_in, None));
        assert!(!matches(&not_in, Some(&labels(&[("x", "1")]))));
    }

    #[test]
    fn an_empty_selector_claims_nothing() {
        assert!(!matches(
            &LabelSelector::default(),
            Some(&labels(&[("a", "b")]))
        ));
    }
}
