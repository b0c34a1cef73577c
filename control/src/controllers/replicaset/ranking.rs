//! Which pods go first when a ReplicaSet scales down, in upstream's order
//! (ActivePodsWithRanks): unscheduled before scheduled, pending before
//! unknown before running, not ready before ready, lower
//! `controller.kubernetes.io/pod-deletion-cost` first, pods doubled up on a
//! node with related pods first, then the more recently ready, the more
//! restarted, the more recently created. Times compare on a logarithmic
//! scale (a pod ready 5 min ago and one ready 7 min ago rank alike), with
//! the uid as the final tie-break.
//!
//! Upstream compares pairwise; here each pod gets a sort key, which is a
//! total order by construction. The one difference: two ready times that
//! differ but share a logarithmic bucket fall through to restarts and age
//! before the uid, where upstream goes to the uid at once.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::pods::{is_active, is_ready, phase, ready_since};
use crate::controllers::shared::time::nanos_between;

pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// floor(log2(age in ns)); -1 for no age. Timestamps absent sort first.
fn bucket(t: Option<Timestamp>, now: Timestamp) -> i64 {
    match t {
        None => i64::MIN,
        Some(t) => {
            let age = nanos_between(t, now);
            if age > 0 { age.ilog2() as i64 } else { -1 }
        }
    }
}

fn restarts(pod: &Pod) -> (i32, i32) {
    let Some(status) = &pod.status else {
        return (0, 0);
    };
    let regular = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    // Sidecars: init containers that restart always.
    let sidecars: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = status
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|c| sidecars.contains(&c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    (regular, sidecar)
}

type Key = (
    bool,
    u8,
    bool,
    i32,
    Reverse<usize>,
    i64,
    Reverse<(i32, i32)>,
    i64,
    String,
);

fn key(pod: &Pod, colocated: usize, now: Timestamp) -> Key {
    let scheduled = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let phase = match phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    let ready = is_ready(pod);
    let cost = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(|c| c.parse::<i32>().ok())
        .unwrap_or(0);
    // Only ready pods compare by ready time; newer (smaller bucket) first.
    let ready_time = if ready {
        bucket(ready_since(pod), now)
    } else {
        0
    };
    let created = bucket(pod.metadata.creation_timestamp.as_ref().map(|t| t.0), now);
    (
        scheduled,
        phase,
        ready,
        cost,
        Reverse(colocated),
        ready_time,
        Reverse(restarts(pod)),
        created,
        pod.metadata.uid.clone().unwrap_or_default(),
    )
}

/// The `count` pods of `pods` to delete first. `related` are the pods of
/// the ReplicaSets that share this one's controller (its Deployment's):
/// a pod on a node with more of them ranks first.
pub fn to_delete(
    mut pods: Vec<Arc<Pod>>,
    related: &[Arc<Pod>],
    count: usize,
    now: Timestamp,
) -> Vec<Arc<Pod>> {
    if count < pods.len() {
        let node = |p: &Pod| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default()
        };
        let mut on_node: HashMap<String, usize> = HashMap::new();
        for p in related.iter().filter(|p| is_active(p)) {
            *on_node.entry(node(p)).or_default() += 1;
        }
        pods.sort_by_cached_key(|p| key(p, on_node.get(&node(p)).copied().unwrap_or(0), now));
    }
    pods.truncate(count);
    pods
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const NOW: &str = "2024-01-01T01:00:00Z";

    fn pod(uid: &str, node: &str, phase: &str, ready_at: Option<&str>, created: &str) -> Arc<Pod> {
        let mut status = json!({"phase": phase});
        if let Some(t) = ready_at {
            status["conditions"] =
                json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]);
        }
        let mut spec = json!({"containers": [{"name": "c"}]});
        if !node.is_empty() {
            spec["nodeName"] = json!(node);
        }
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": uid, "uid": uid, "creationTimestamp": created},
                "spec": spec, "status": status}))
            .unwrap(),
        )
    }

    fn with(p: Arc<Pod>, f: impl FnOnce(&mut Value)) -> Arc<Pod> {
        let mut v = serde_json::to_value(&*p).unwrap();
        f(&mut v);
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn order(pods: Vec<Arc<Pod>>, related: &[Arc<Pod>]) -> Vec<String> {
        let n = pods.len() - 1;
        let now: Timestamp = NOW.parse().unwrap();
        to_delete(pods, related, n, now)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    }

    const OLD: &str = "2024-01-01T00:00:00Z";

    #[test]
    fn unscheduled_then_pending_then_not_ready() {
        let running = pod("running", "n1", "Running", Some(OLD), OLD);
        let not_ready = pod("not-ready", "n1", "Running", None, OLD);
        let pending = pod("pending", "n1", "Pending", None, OLD);
        let unknown = pod("unknown", "n1", "Unknown", None, OLD);
        let unscheduled = pod("unscheduled", "", "Pending", None, OLD);
        assert_eq!(
            order(vec![running, not_ready, unknown, pending, unscheduled], &[]),
            ["unscheduled", "pending", "unknown", "not-ready"]
        );
    }

    #[test]
    fn deletion_cost_and_doubled_up_nodes() {
        let a = pod("a", "n1", "Running", Some(OLD), OLD);
        let b = pod("b", "n2", "Running", Some(OLD), OLD);
        let c = pod("c", "n3", "Running", Some(OLD), OLD);
        let cheap = with(c.clone(), |v| {
            v["metadata"]["annotations"] = json!({DELETION_COST: "-5"})
        });
        assert_eq!(order(vec![a.clone(), b.clone(), cheap], &[]), ["c", "a"]);
        // b shares its node with two related pods.
        let related = [
            b.clone(),
            pod("x", "n2", "Running", Some(OLD), OLD),
            a.clone(),
        ];
        assert_eq!(order(vec![a, b, c], &related)[0], "b");
    }

    #[test]
    fn newer_ready_then_restarts_then_newer() {
        // Ready 1 min ago vs 59 min ago: different buckets.
        let fresh = pod("fresh", "n1", "Running", Some("2024-01-01T00:59:00Z"), OLD);
        let old = pod("old", "n1", "Running", Some("2024-01-01T00:01:00Z"), OLD);
        assert_eq!(order(vec![old.clone(), fresh], &[]), ["fresh"]);
        let crashy = with(old.clone(), |v| {
            v["metadata"]["name"] = json!("crashy");
            v["metadata"]["uid"] = json!("crashy");
            v["status"]["containerStatuses"] = json!([{"name": "c", "restartCount": 3,
                "image": "i", "imageID": "", "ready": true}]);
        });
        assert_eq!(order(vec![old.clone(), crashy], &[]), ["crashy"]);
        let young = pod(
            "young",
            "n1",
            "Running",
            Some("2024-01-01T00:01:00Z"),
            "2024-01-01T00:58:00Z",
        );
        assert_eq!(order(vec![old, young], &[]), ["young"]);
    }

    #[test]
    fn all_go_when_all_are_asked() {
        let now: Timestamp = NOW.parse().unwrap();
        let pods = vec![
            pod("a", "", "Pending", None, OLD),
            pod("b", "", "Pending", None, OLD),
        ];
        assert_eq!(to_delete(pods, &[], 5, now).len(), 2);
    }
}
