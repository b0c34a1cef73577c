//! NodeAffinity: a pod's `nodeSelector` and required node affinity decide
//! which nodes it fits; its preferred terms add their weights to the nodes
//! they match.

use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::framework::{Filter, Score, Verdict, default_normalize};
use crate::scheduler::plugins::Plugin;
use crate::scheduler::selector::RequiredNodeAffinity;

const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

struct AffinityFilter<'a> {
    pod: &'a PodInfo,
}

pub fn filter(pod: &PodInfo) -> Option<Box<dyn Filter + '_>> {
    (pod.node_affinity != RequiredNodeAffinity::default())
        .then(|| Box::new(AffinityFilter { pod }) as Box<dyn Filter>)
}

impl Filter for AffinityFilter<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::NodeAffinity
    }

    fn filter(&self, node: &NodeInfo) -> Verdict {
        if self.pod.node_affinity.matches(node.name(), node.labels()) {
            Ok(())
        } else {
            Err(vec![REASON.into()])
        }
    }
}

struct AffinityScore<'a> {
    pod: &'a PodInfo,
}

pub fn score(pod: &PodInfo) -> Option<Box<dyn Score + '_>> {
    (!pod.preferred_node_affinity.is_empty())
        .then(|| Box::new(AffinityScore { pod }) as Box<dyn Score>)
}

impl Score for AffinityScore<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::NodeAffinity
    }

    /// The summed weights of the preferred terms the node matches.
    fn score(&self, node: &NodeInfo) -> i64 {
        self.pod
            .preferred_node_affinity
            .iter()
            .filter(|(_, term)| term.matches(node.name(), node.labels()))
            .map(|(w, _)| w)
            .sum()
    }

    fn normalize(&self, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node_from, pod, rejected};
    use serde_json::json;

    fn cluster() -> Cluster {
        let n = |name: &str, zone: &str, disk: &str| {
            node_from(json!({"metadata": {"name": name, "labels": {
                "topology.kubernetes.io/zone": zone, "disk": disk, "kubernetes.io/hostname": name}}}))
        };
        Cluster::new(vec![
            n("a", "z1", "ssd"),
            n("b", "z2", "hdd"),
            n("c", "z2", "ssd"),
        ])
    }

    fn with_spec(extra: serde_json::Value) -> PodInfo {
        let mut spec = json!({"containers": [{"name": "c"}]});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        pod(json!({"metadata": {"name": "p"}, "spec": spec}))
    }

    #[test]
    fn node_selector_and_required_affinity_decide_where_a_pod_fits() {
        let no = || rejected(REASON);
        let required = |terms: serde_json::Value| json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}});
        let cases = [
            (json!({}), vec![Ok(()), Ok(()), Ok(())]),
            (
                json!({"nodeSelector": {"disk": "ssd"}}),
                vec![Ok(()), no(), Ok(())],
            ),
            (
                json!({"nodeSelector": {"disk": "ssd", "topology.kubernetes.io/zone": "z2"}}),
                vec![no(), no(), Ok(())],
            ),
            (
                required(
                    json!([{"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z2"]}]}]),
                ),
                vec![no(), Ok(()), Ok(())],
            ),
            // Terms are ORed, expressions within one ANDed.
            (
                required(json!([
                    {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]},
                                          {"key": "topology.kubernetes.io/zone", "operator": "NotIn", "values": ["z1"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}])),
                vec![no(), Ok(()), Ok(())],
            ),
            (required(json!([])), vec![no(), no(), no()]),
        ];
        for (spec, want) in cases {
            assert_eq!(
                cluster().filter(&with_spec(spec.clone()), |p, _| filter(p)),
                want,
                "{spec}"
            );
        }
    }

    #[test]
    fn preferred_terms_add_their_weights() {
        let preferred = |terms: serde_json::Value| json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}});
        let term = |w: i32, key: &str, v: &str| json!({"weight": w, "preference": {"matchExpressions": [{"key": key, "operator": "In", "values": [v]}]}});
        let cases = [
            (json!({}), None),
            (
                preferred(json!([term(10, "disk", "ssd")])),
                Some(vec![100, 0, 100]),
            ),
            (
                preferred(json!([
                    term(10, "disk", "ssd"),
                    term(30, "topology.kubernetes.io/zone", "z2")
                ])),
                Some(vec![25, 75, 100]),
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(
                cluster().score(&with_spec(spec.clone()), |p, _, _| score(p)),
                want,
                "{spec}"
            );
        }
    }
}
