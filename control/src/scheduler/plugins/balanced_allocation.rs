//! NodeResourcesBalancedAllocation: favours nodes whose CPU and memory
//! would be used in similar shares once the pod is there (one minus their
//! standard deviation). Pods asking for neither stay out of it, so they do
//! not pile onto one node.

use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::framework::{MAX_NODE_SCORE, Score};
use crate::scheduler::plugins::Plugin;

struct Balanced<'a> {
    pod: &'a PodInfo,
}

pub fn score(pod: &PodInfo) -> Option<Box<dyn Score + '_>> {
    let r = &pod.requests;
    (r.milli_cpu != 0 || r.memory != 0).then(|| Box::new(Balanced { pod }) as Box<dyn Score>)
}

impl Score for Balanced<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::BalancedAllocation
    }

    fn score(&self, node: &NodeInfo) -> i64 {
        let (alloc, used, want) = (&node.node.allocatable, &node.requested, &self.pod.requests);
        let fractions: Vec<f64> = [
            (used.milli_cpu + want.milli_cpu, alloc.milli_cpu),
            (used.memory + want.memory, alloc.memory),
        ]
        .iter()
        .filter(|(_, capacity)| *capacity != 0)
        .map(|&(requested, capacity)| (requested as f64 / capacity as f64).min(1.0))
        .collect();
        let std = match fractions[..] {
            [a, b] => ((a - b) / 2.0).abs(),
            _ => 0.0,
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node, pod};
    use serde_json::json;

    fn asking(name: &str, requests: serde_json::Value) -> PodInfo {
        pod(json!({"metadata": {"name": name}, "spec": {"containers": [
            {"name": "c", "resources": {"requests": requests}}]}}))
    }

    #[test]
    fn even_use_of_cpu_and_memory_scores_higher() {
        let cluster = Cluster::new(vec![
            node("even", json!({"cpu": "4", "memory": "4Gi"})),
            node("cpu-heavy", json!({"cpu": "4", "memory": "4Gi"})),
            node("no-memory-info", json!({"cpu": "4"})),
        ])
        .with_pod("even", asking("a", json!({"cpu": "1", "memory": "1Gi"})))
        .with_pod("cpu-heavy", asking("b", json!({"cpu": "3"})));
        let p = asking("p", json!({"cpu": "1", "memory": "1Gi"}));
        // even: 2/4 and 2/4; cpu-heavy: 4/4 and 1/4, std 0.375.
        assert_eq!(
            cluster.score(&p, |p, _, _| score(p)).unwrap(),
            vec![100, 62, 100]
        );
        assert!(
            cluster
                .score(&asking("q", json!({})), |p, _, _| score(p))
                .is_none()
        );
    }
}
