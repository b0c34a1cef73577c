//! Label selectors (`metav1.LabelSelector`) and node selectors
//! (`NodeSelector`, `NodeSelectorTerm`), compiled once per pod and matched
//! as upstream's `labels.Selector` and `nodeaffinity` match them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

impl Requirement {
    fn new(key: &str, op: &str, values: Option<&Vec<String>>) -> Option<Self> {
        let values = values.cloned().unwrap_or_default();
        let op = match op {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            "Gt" => Op::Gt,
            "Lt" => Op::Lt,
            _ => return None,
        };
        let valid = match op {
            Op::In | Op::NotIn => !values.is_empty(),
            Op::Exists | Op::DoesNotExist => values.is_empty(),
            Op::Gt | Op::Lt => values.len() == 1 && values[0].parse::<i64>().is_ok(),
        };
        valid.then(|| Requirement {
            key: key.to_owned(),
            op,
            values,
        })
    }

    fn equals(key: &str, value: &str) -> Self {
        Requirement {
            key: key.to_owned(),
            op: Op::In,
            values: vec![value.to_owned()],
        }
    }

    fn matches(&self, value: Option<&str>) -> bool {
        match self.op {
            Op::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt | Op::Lt => {
                let (Some(v), Some(bound)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|b| b.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.op == Op::Gt {
                    v > bound
                } else {
                    v < bound
                }
            }
        }
    }

    fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.key).map(String::as_str))
    }
}

/// A compiled label selector. A missing selector selects nothing; an empty
/// one selects everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Nothing,
    All(Vec<Requirement>),
}

impl Selector {
    /// As `metav1.LabelSelectorAsSelector`; an invalid selector selects
    /// nothing.
    pub fn from_label_selector(s: Option<&LabelSelector>) -> Self {
        let Some(s) = s else {
            return Selector::Nothing;
        };
        let mut reqs: Vec<Requirement> = s
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::equals(k, v))
            .collect();
        for e in s.match_expressions.iter().flatten() {
            match Requirement::new(&e.key, &e.operator, e.values.as_ref()) {
                Some(r) if !matches!(r.op, Op::Gt | Op::Lt) => reqs.push(r),
                _ => return Selector::Nothing,
            }
        }
        Selector::All(reqs)
    }

    /// This selector and `key = value` for each of `labels` (matchLabelKeys).
    pub fn and_labels(self, labels: &Labels) -> Self {
        match self {
            Selector::Nothing => Selector::Nothing,
            Selector::All(mut reqs) => {
                reqs.extend(labels.iter().map(|(k, v)| Requirement::equals(k, v)));
                Selector::All(reqs)
            }
        }
    }

    /// This selector and `key notin (value)` for each of `labels`
    /// (mismatchLabelKeys).
    pub fn and_not_labels(self, labels: &Labels) -> Self {
        match self {
            Selector::Nothing => Selector::Nothing,
            Selector::All(mut reqs) => {
                reqs.extend(labels.iter().map(|(k, v)| Requirement {
                    key: k.clone(),
                    op: Op::NotIn,
                    values: vec![v.clone()],
                }));
                Selector::All(reqs)
            }
        }
    }

    /// This selector and the requirements of `other`, as upstream's
    /// `selector.Add(other.Requirements()...)`: a selector that selects
    /// nothing has no requirements to add.
    pub fn and_requirements_of(self, other: &Selector) -> Self {
        match (self, other) {
            (Selector::All(mut reqs), Selector::All(more)) => {
                reqs.extend(more.iter().cloned());
                Selector::All(reqs)
            }
            (s, _) => s,
        }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::All(reqs) => reqs.iter().all(|r| r.matches_labels(labels)),
        }
    }

    /// Upstream's `Selector.Empty()`: selects everything.
    pub fn is_everything(&self) -> bool {
        matches!(self, Selector::All(r) if r.is_empty())
    }
}

/// One `NodeSelectorTerm`: its expressions on labels and its fields (only
/// `metadata.name`), all of which must hold. An empty term matches nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    labels: Vec<Requirement>,
    name: Vec<Requirement>,
}

impl NodeSelectorTerm {
    /// None when the term is invalid: it then matches no node.
    pub fn new(t: &core::NodeSelectorTerm) -> Option<Self> {
        let labels = t
            .match_expressions
            .iter()
            .flatten()
            .map(|e| Requirement::new(&e.key, &e.operator, e.values.as_ref()))
            .collect::<Option<Vec<_>>>()?;
        let name = t
            .match_fields
            .iter()
            .flatten()
            .map(|e| {
                let r = Requirement::new(&e.key, &e.operator, e.values.as_ref())?;
                (e.key == "metadata.name" && matches!(r.op, Op::In | Op::NotIn)).then_some(r)
            })
            .collect::<Option<Vec<_>>>()?;
        Some(NodeSelectorTerm { labels, name })
    }

    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        (!self.labels.is_empty() || !self.name.is_empty())
            && self.labels.iter().all(|r| r.matches_labels(labels))
            && self.name.iter().all(|r| r.matches(Some(node_name)))
    }
}

/// What a node must have for a pod: its `nodeSelector` labels and, when
/// given, one of the terms of its required node affinity
/// (upstream's `nodeaffinity.RequiredNodeAffinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequiredNodeAffinity {
    selector: Labels,
    terms: Option<Vec<NodeSelectorTerm>>,
}

impl RequiredNodeAffinity {
    pub fn new(spec: &core::PodSpec) -> Self {
        let terms = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|s| {
                s.node_selector_terms
                    .iter()
                    .filter_map(NodeSelectorTerm::new)
                    .collect()
            });
        RequiredNodeAffinity {
            selector: spec.node_selector.clone().unwrap_or_default(),
            terms,
        }
    }

    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self
                .terms
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(node_name, labels)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selector(v: serde_json::Value) -> Selector {
        Selector::from_label_selector(Some(&serde_json::from_value(v).unwrap()))
    }

    #[test]
    fn label_selectors() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let cases = [
            (json!({}), true),
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "db"}}), false),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
                false,
            ),
            // Invalid: selects nothing.
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "In"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]}),
                false,
            ),
        ];
        for (s, want) in cases {
            assert_eq!(selector(s.clone()).matches(&l), want, "{s}");
        }
        assert!(!Selector::from_label_selector(None).matches(&l));
        assert!(selector(json!({})).is_everything());
        assert!(!Selector::Nothing.is_everything());
        let merged = selector(json!({})).and_labels(&labels(&[("app", "db")]));
        assert!(!merged.matches(&l));
    }

    #[test]
    fn node_selector_terms() {
        let term =
            |v: serde_json::Value| NodeSelectorTerm::new(&serde_json::from_value(v).unwrap());
        let l = labels(&[("zone", "a"), ("cores", "8")]);
        let cases = [
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]}),
                false,
            ),
            (
                json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}),
                true,
            ),
            (
                json!({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}),
                false,
            ),
            (json!({}), false),
        ];
        for (t, want) in cases {
            assert_eq!(term(t.clone()).unwrap().matches("n1", &l), want, "{t}");
        }
        assert!(
            term(json!({"matchFields": [{"key": "spec.x", "operator": "In", "values": ["n1"]}]}))
                .is_none()
        );
    }
}
