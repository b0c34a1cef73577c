//! Which daemon pods to create and delete so that every eligible node runs
//! one (upstream's manage and podsShouldBeOnNode): a node that should run
//! one and has none gets one; extra pods on a node go, the oldest stays
//! (when surging, the oldest of each revision); failed pods are replaced
//! with a per-node back-off; nodes that must not run one lose theirs; pods
//! waiting for a node that no longer exists go.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;

use super::eligibility::Fit;
use super::pods::is_updated;
use crate::controllers::shared::pod_state::phase;

#[derive(Debug, Default)]
pub struct Plan {
    /// Nodes that need a pod.
    pub create: Vec<String>,
    pub delete: Vec<Arc<Pod>>,
    /// A failed pod waits out its back-off: look again then.
    pub retry: Option<Duration>,
}

/// `replace_failed(node)` is asked before a failed pod on `node` goes:
/// None to go ahead (it counts the failure), or how long to wait.
pub fn plan(
    nodes: &[Arc<Node>],
    fit: &Fit,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    surge: bool,
    mut replace_failed: impl FnMut(&str) -> Option<Duration>,
) -> Plan {
    let mut plan = Plan::default();
    let wait = |plan: &mut Plan, d: Duration| {
        plan.retry = Some(plan.retry.map_or(d, |r| r.min(d)));
    };
    for node in nodes {
        let name = node.name_any();
        let placement = fit.place(node);
        let pods = by_node.get(&name).map(Vec::as_slice).unwrap_or_default();
        if placement.run && pods.is_empty() {
            plan.create.push(name);
            continue;
        }
        if !placement.keep {
            plan.delete.extend(
                pods.iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .cloned(),
            );
            continue;
        }
        let mut running = Vec::new();
        for pod in pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            match phase(pod) {
                "Failed" => match replace_failed(&name) {
                    None => plan.delete.push(pod.clone()),
                    Some(d) => wait(&mut plan, d),
                },
                "Succeeded" => plan.delete.push(pod.clone()),
                _ => running.push(pod.clone()),
            }
        }
        // `pods` come oldest first: keep the oldest (of each revision).
        let (mut kept_new, mut kept_old) = (false, false);
        for pod in running {
            let kept = if surge && is_updated(&pod, hash) {
                &mut kept_new
            } else {
                &mut kept_old
            };
            if *kept {
                plan.delete.push(pod);
            } else {
                *kept = true;
            }
        }
    }
    let existing: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
    for (node, pods) in by_node {
        if existing.contains(node) {
            continue;
        }
        let unbound = pods.iter().filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_none_or(str::is_empty)
                && p.metadata.deletion_timestamp.is_none()
        });
        plan.delete.extend(unbound.cloned());
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::daemonset::pods;
    use k8s_openapi::api::apps::v1::DaemonSet;
    use serde_json::json;

    fn ds() -> DaemonSet {
        serde_json::from_value(
            json!({"metadata": {"name": "d", "namespace": "ns", "uid": "u"},
            "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [], "nodeSelector": {"run": "yes"}}}}}),
        )
        .unwrap()
    }

    fn node(name: &str, run: bool, taints: serde_json::Value) -> Arc<Node> {
        let labels = if run {
            json!({"run": "yes"})
        } else {
            json!({})
        };
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
                                          "spec": {"taints": taints}}))
            .unwrap(),
        )
    }

    fn pod(name: &str, node: &str, hash: &str, created: &str, phase: &str) -> Arc<Pod> {
        let mut p = pods::for_node(&ds(), node, hash);
        p.metadata.name = Some(name.into());
        p.metadata.creation_timestamp = Some(serde_json::from_value(json!(created)).unwrap());
        p.spec.as_mut().unwrap().node_name = Some(node.into());
        p.status = Some(serde_json::from_value(json!({"phase": phase})).unwrap());
        Arc::new(p)
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        pods.iter().map(|p| p.name_any()).collect()
    }

    #[test]
    fn one_pod_per_eligible_node() {
        let nodes = [
            node("empty", true, json!([])),
            node("two", true, json!([])),
            node("unlabelled", false, json!([])),
            node(
                "evicting",
                true,
                json!([{"key": "k", "effect": "NoExecute"}]),
            ),
            node(
                "cordoned",
                true,
                json!([{"key": "k", "effect": "NoSchedule"}]),
            ),
            node(
                "cordoned-empty",
                true,
                json!([{"key": "k", "effect": "NoSchedule"}]),
            ),
        ];
        let all = [
            pod("two-old", "two", "h", "2024-01-01T00:00:00Z", "Running"),
            pod("two-new", "two", "h", "2024-01-02T00:00:00Z", "Running"),
            pod(
                "misplaced",
                "unlabelled",
                "h",
                "2024-01-01T00:00:00Z",
                "Running",
            ),
            pod(
                "evicted",
                "evicting",
                "h",
                "2024-01-01T00:00:00Z",
                "Running",
            ),
            pod("stays", "cordoned", "h", "2024-01-01T00:00:00Z", "Running"),
        ];
        let mut waiting = pods::for_node(&ds(), "gone", "h");
        waiting.metadata.name = Some("waiting".into());
        let mut all = all.to_vec();
        all.push(Arc::new(waiting));
        let by_node = pods::by_node(&all);
        let plan = plan(&nodes, &Fit::of(&ds()), &by_node, "h", false, |_| None);
        assert_eq!(plan.create, ["empty"]);
        assert_eq!(
            names(&plan.delete),
            ["two-new", "misplaced", "evicted", "waiting"]
        );
    }

    #[test]
    fn failed_pods_are_replaced_after_their_back_off() {
        let nodes = [node("a", true, json!([])), node("b", true, json!([]))];
        let all = [
            pod("a-failed", "a", "h", "2024-01-01T00:00:00Z", "Failed"),
            pod("b-failed", "b", "h", "2024-01-01T00:00:00Z", "Failed"),
        ];
        let by_node = pods::by_node(&all);
        let plan = plan(&nodes, &Fit::of(&ds()), &by_node, "h", false, |n| {
            (n == "b").then(|| Duration::from_secs(2))
        });
        assert_eq!(names(&plan.delete), ["a-failed"]);
        assert!(plan.create.is_empty());
        assert_eq!(plan.retry, Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_surge_keeps_one_pod_of_each_revision() {
        let nodes = [node("a", true, json!([]))];
        let all = [
            pod("old-1", "a", "old", "2024-01-01T00:00:00Z", "Running"),
            pod("old-2", "a", "old", "2024-01-02T00:00:00Z", "Running"),
            pod("new-1", "a", "new", "2024-01-03T00:00:00Z", "Running"),
            pod("new-2", "a", "new", "2024-01-04T00:00:00Z", "Running"),
        ];
        let by_node = pods::by_node(&all);
        let plan = plan(&nodes, &Fit::of(&ds()), &by_node, "new", true, |_| None);
        assert_eq!(names(&plan.delete), ["old-2", "new-2"]);
    }
}
