//! NodeResourcesFit: a pod fits a node whose allocatable resources, less
//! what the pods already on it request (bound or assumed), cover its
//! requests, and which has room for one more pod. Its score favours the
//! least allocated nodes (CPU and memory, weight 1 each).

use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::framework::{Filter, MAX_NODE_SCORE, Score, Verdict};
use crate::scheduler::plugins::Plugin;

struct Fit<'a> {
    pod: &'a PodInfo,
}

pub fn filter(pod: &PodInfo) -> Option<Box<dyn Filter + '_>> {
    Some(Box::new(Fit { pod }))
}

impl Filter for Fit<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::NodeResourcesFit
    }

    /// Every shortage is a reason of its own, in upstream's order.
    fn filter(&self, node: &NodeInfo) -> Verdict {
        let (free, used, want) = (&node.node.allocatable, &node.requested, &self.pod.requests);
        let mut why = Vec::new();
        if used.pods + 1 > free.pods {
            why.push("Too many pods".to_owned());
        }
        let mut short = |name: &str, want: i64, free: i64, used: i64| {
            if want > 0 && want > free - used {
                why.push(format!("Insufficient {name}"));
            }
        };
        short("cpu", want.milli_cpu, free.milli_cpu, used.milli_cpu);
        short("memory", want.memory, free.memory, used.memory);
        short(
            "ephemeral-storage",
            want.ephemeral_storage,
            free.ephemeral_storage,
            used.ephemeral_storage,
        );
        for (name, amount) in &want.scalar {
            short(name, *amount, free.get(name), used.get(name));
        }
        if why.is_empty() { Ok(()) } else { Err(why) }
    }
}

struct LeastAllocated<'a> {
    pod: &'a PodInfo,
}

pub fn score(pod: &PodInfo) -> Option<Box<dyn Score + '_>> {
    Some(Box::new(LeastAllocated { pod }))
}

impl Score for LeastAllocated<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::NodeResourcesFit
    }

    /// The mean share of CPU and memory left free once the pod is there,
    /// counting pods without requests at their defaults.
    fn score(&self, node: &NodeInfo) -> i64 {
        let alloc = &node.node.allocatable;
        let pairs = [
            (node.non_zero_cpu + self.pod.non_zero_cpu, alloc.milli_cpu),
            (
                node.non_zero_memory + self.pod.non_zero_memory,
                alloc.memory,
            ),
        ];
        let counted: Vec<i64> = pairs
            .iter()
            .filter(|(_, capacity)| *capacity != 0)
            .map(|&(requested, capacity)| least_requested(requested, capacity))
            .collect();
        if counted.is_empty() {
            0
        } else {
            counted.iter().sum::<i64>() / counted.len() as i64
        }
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if requested > capacity {
        0
    } else {
        (capacity - requested) * MAX_NODE_SCORE / capacity
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

    fn reasons(r: &[&str]) -> Verdict {
        Err(r.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn requests_must_fit_what_the_node_has_left() {
        let cluster = Cluster::new(vec![
            node("small", json!({"cpu": "1", "memory": "1Gi", "pods": "110"})),
            node("busy", json!({"cpu": "4", "memory": "8Gi", "pods": "110"})),
            node("full", json!({"cpu": "4", "memory": "8Gi", "pods": "1"})),
            node(
                "gpu",
                json!({"cpu": "4", "memory": "8Gi", "pods": "110", "example.com/gpu": "1"}),
            ),
        ])
        .with_pod(
            "busy",
            asking("running", json!({"cpu": "3", "memory": "7Gi"})),
        )
        .with_pod("full", asking("only", json!({})));
        let cases = [
            (
                json!({}),
                vec![Ok(()), Ok(()), reasons(&["Too many pods"]), Ok(())],
            ),
            (
                json!({"cpu": "2"}),
                vec![
                    reasons(&["Insufficient cpu"]),
                    reasons(&["Insufficient cpu"]),
                    reasons(&["Too many pods"]),
                    Ok(()),
                ],
            ),
            (
                json!({"cpu": "1", "memory": "2Gi"}),
                vec![
                    reasons(&["Insufficient memory"]),
                    reasons(&["Insufficient memory"]),
                    reasons(&["Too many pods"]),
                    Ok(()),
                ],
            ),
            (
                json!({"cpu": "2", "memory": "2Gi"}),
                vec![
                    reasons(&["Insufficient cpu", "Insufficient memory"]),
                    reasons(&["Insufficient cpu", "Insufficient memory"]),
                    reasons(&["Too many pods"]),
                    Ok(()),
                ],
            ),
            (
                json!({"example.com/gpu": "1"}),
                vec![
                    reasons(&["Insufficient example.com/gpu"]),
                    reasons(&["Insufficient example.com/gpu"]),
                    reasons(&["Too many pods", "Insufficient example.com/gpu"]),
                    Ok(()),
                ],
            ),
            (
                json!({"cpu": "1", "memory": "1Gi"}),
                vec![Ok(()), Ok(()), reasons(&["Too many pods"]), Ok(())],
            ),
        ];
        for (requests, want) in cases {
            assert_eq!(
                cluster.filter(&asking("p", requests.clone()), |p, _| filter(p)),
                want,
                "{requests}"
            );
        }
    }

    #[test]
    fn init_containers_count_as_their_largest() {
        let cluster = Cluster::new(vec![node("a", json!({"cpu": "2", "pods": "10"}))]);
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "3"}}}],
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}));
        assert_eq!(
            cluster.filter(&p, |p, _| filter(p)),
            vec![reasons(&["Insufficient cpu"])]
        );
    }

    #[test]
    fn the_least_allocated_node_scores_highest() {
        let cluster = Cluster::new(vec![
            node("empty", json!({"cpu": "4", "memory": "4Gi", "pods": "110"})),
            node("half", json!({"cpu": "4", "memory": "4Gi", "pods": "110"})),
            node(
                "bigger",
                json!({"cpu": "8", "memory": "8Gi", "pods": "110"}),
            ),
        ])
        .with_pod("half", asking("a", json!({"cpu": "2", "memory": "2Gi"})))
        .with_pod("bigger", asking("b", json!({"cpu": "2", "memory": "2Gi"})));
        let p = asking("p", json!({"cpu": "1", "memory": "1Gi"}));
        // (4-1)/4 = 75; (4-3)/4 = 25; (8-3)/8 = 62.
        assert_eq!(
            cluster.score(&p, |p, _, _| score(p)).unwrap(),
            vec![75, 25, 62]
        );
        // A pod without requests counts as 100m and 200Mi.
        let none = asking("q", json!({}));
        let cpu = (4000 - 100) * 100 / 4000;
        let mem = ((4i64 << 30) - (200 << 20)) * 100 / (4 << 30);
        assert_eq!(
            cluster.score(&none, |p, _, _| score(p)).unwrap()[0],
            (cpu + mem) / 2
        );
    }
}
