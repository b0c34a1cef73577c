//! TaintToleration: a node's NoSchedule and NoExecute taints keep out the
//! pods that do not tolerate them; PreferNoSchedule taints only lower its
//! score, by how many of them the pod does not tolerate.

use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::framework::{Filter, Score, Verdict, default_normalize};
use crate::scheduler::plugins::Plugin;
use crate::scheduler::taints::{self, PREFER_NO_SCHEDULE, Toleration};

struct TaintFilter<'a> {
    pod: &'a PodInfo,
}

pub fn filter(pod: &PodInfo) -> Option<Box<dyn Filter + '_>> {
    Some(Box::new(TaintFilter { pod }))
}

impl Filter for TaintFilter<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::TaintToleration
    }

    fn filter(&self, node: &NodeInfo) -> Verdict {
        match taints::untolerated(&node.node.taints, &self.pod.tolerations) {
            None => Ok(()),
            Some(t) => Err(vec![format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key, t.value
            )]),
        }
    }
}

struct TaintScore {
    /// The pod's tolerations that can cover PreferNoSchedule taints.
    tolerations: Vec<Toleration>,
}

pub fn score(pod: &PodInfo) -> Option<Box<dyn Score + '_>> {
    let tolerations = pod
        .tolerations
        .iter()
        .filter(|t| t.prefer_no_schedule())
        .cloned()
        .collect();
    Some(Box::new(TaintScore { tolerations }))
}

impl Score for TaintScore {
    fn plugin(&self) -> Plugin {
        Plugin::TaintToleration
    }

    /// How many PreferNoSchedule taints the pod does not tolerate.
    fn score(&self, node: &NodeInfo) -> i64 {
        node.node
            .taints
            .iter()
            .filter(|t| t.effect == PREFER_NO_SCHEDULE && !taints::tolerated(&self.tolerations, t))
            .count() as i64
    }

    fn normalize(&self, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node_from, pod, rejected};
    use serde_json::json;

    fn tainted(
        name: &str,
        taints: serde_json::Value,
    ) -> crate::scheduler::cache::node_info::NodeView {
        node_from(json!({"metadata": {"name": name}, "spec": {"taints": taints}}))
    }

    fn with_tolerations(t: serde_json::Value) -> PodInfo {
        pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], "tolerations": t}}),
        )
    }

    #[test]
    fn untolerated_no_schedule_and_no_execute_taints_keep_pods_out() {
        let cluster = Cluster::new(vec![
            tainted("plain", json!(null)),
            tainted(
                "cp",
                json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
            ),
            tainted(
                "gpu",
                json!([{"key": "gpu", "value": "true", "effect": "NoExecute"}]),
            ),
            tainted(
                "soft",
                json!([{"key": "spot", "effect": "PreferNoSchedule"}]),
            ),
        ]);
        let cp = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }";
        let gpu = "node(s) had untolerated taint {gpu: true}";
        let cases = [
            (
                json!(null),
                vec![Ok(()), rejected(cp), rejected(gpu), Ok(())],
            ),
            (
                json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]),
                vec![Ok(()), Ok(()), rejected(gpu), Ok(())],
            ),
            (
                json!([{"key": "gpu", "value": "true"}]),
                vec![Ok(()), rejected(cp), Ok(()), Ok(())],
            ),
            (json!([{"operator": "Exists"}]), vec![Ok(()); 4]),
        ];
        for (t, want) in cases {
            assert_eq!(
                cluster.filter(&with_tolerations(t.clone()), |p, _| filter(p)),
                want,
                "{t}"
            );
        }
    }

    #[test]
    fn prefer_no_schedule_taints_lower_the_score() {
        let cluster = Cluster::new(vec![
            tainted("plain", json!(null)),
            tainted("one", json!([{"key": "a", "effect": "PreferNoSchedule"}])),
            tainted(
                "two",
                json!([{"key": "a", "effect": "PreferNoSchedule"},
                                 {"key": "b", "effect": "PreferNoSchedule"},
                                 {"key": "c", "effect": "NoSchedule"}]),
            ),
        ]);
        let cases = [
            (json!(null), vec![100, 50, 0]),
            (
                json!([{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}]),
                vec![100, 100, 0],
            ),
            // A NoSchedule-only toleration does not cover PreferNoSchedule.
            (
                json!([{"key": "a", "operator": "Exists", "effect": "NoSchedule"}]),
                vec![100, 50, 0],
            ),
            (json!([{"operator": "Exists"}]), vec![100, 100, 100]),
        ];
        for (t, want) in cases {
            let got = cluster.score(&with_tolerations(t.clone()), |p, _, _| score(p));
            assert_eq!(got.unwrap(), want, "{t}");
        }
    }
}
