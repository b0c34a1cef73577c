//! A DaemonSet's status (upstream's updateDaemonSetStatus): per node that
//! should run a pod, whether it has one, and whether the oldest is ready,
//! available and of the current revision; pods on nodes that should not
//! run one are misscheduled. `kubectl rollout status` reads the updated
//! and available counts.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::eligibility::Fit;
use super::pods::is_updated;
use crate::controllers::shared::pod_state::{is_available, is_ready};

pub fn calculate(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    fit: &Fit,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    now: Timestamp,
) -> DaemonSetStatus {
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let (mut desired, mut current, mut misscheduled) = (0, 0, 0);
    let (mut ready, mut available, mut updated) = (0, 0, 0);
    for node in nodes {
        let oldest = by_node.get(&node.name_any()).and_then(|p| p.first());
        if !fit.place(node).run {
            misscheduled += i32::from(oldest.is_some());
            continue;
        }
        desired += 1;
        let Some(pod) = oldest else { continue };
        current += 1;
        if is_ready(pod) {
            ready += 1;
            available += i32::from(is_available(pod, min_ready, now));
        }
        updated += i32::from(is_updated(pod, hash));
    }
    let before = ds.status.clone().unwrap_or_default();
    DaemonSetStatus {
        current_number_scheduled: current,
        desired_number_scheduled: desired,
        number_misscheduled: misscheduled,
        number_ready: ready,
        number_available: Some(available),
        number_unavailable: Some(desired - available),
        updated_number_scheduled: Some(updated),
        observed_generation: ds.meta().generation,
        collision_count: before.collision_count,
        conditions: before.conditions,
    }
}

/// Writes `status` unless the DaemonSet shows it already. Only this loop
/// writes it, so a merge patch needs no version guard.
pub async fn write(
    api: &Api<DaemonSet>,
    ds: &DaemonSet,
    status: DaemonSetStatus,
) -> anyhow::Result<()> {
    if ds.status.as_ref() == Some(&status) {
        return Ok(());
    }
    api.patch_status(
        &ds.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::daemonset::pods;

    fn ds() -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "d", "namespace": "ns", "uid": "u", "generation": 2},
            "spec": {"selector": {"matchLabels": {"app": "d"}}, "minReadySeconds": 10,
                     "template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [], "nodeSelector": {"run": "yes"}}}},
            "status": {"collisionCount": 1, "currentNumberScheduled": 0, "desiredNumberScheduled": 0,
                       "numberMisscheduled": 0, "numberReady": 0}}))
        .unwrap()
    }

    fn node(name: &str, run: bool) -> Arc<Node> {
        let labels = if run {
            json!({"run": "yes"})
        } else {
            json!({})
        };
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap(),
        )
    }

    fn pod(node: &str, hash: &str, ready_since: Option<&str>) -> Arc<Pod> {
        let mut p = pods::for_node(&ds(), node, hash);
        p.metadata.name = Some(format!("{node}-{hash}"));
        p.spec.as_mut().unwrap().node_name = Some(node.into());
        let conditions = match ready_since {
            Some(t) => json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]),
            None => json!([]),
        };
        p.status = Some(
            serde_json::from_value(json!({"phase": "Running", "conditions": conditions})).unwrap(),
        );
        Arc::new(p)
    }

    #[test]
    fn counts_follow_upstream() {
        let nodes = [
            node("a", true),
            node("b", true),
            node("c", true),
            node("d", true),
            node("x", false),
        ];
        let all = [
            pod("a", "new", Some("2024-01-01T00:00:00Z")),
            pod("b", "old", Some("2024-01-01T00:00:50Z")),
            pod("c", "new", None),
            pod("x", "new", Some("2024-01-01T00:00:00Z")),
        ];
        let now: Timestamp = "2024-01-01T00:01:00Z".parse().unwrap();
        let s = calculate(
            &ds(),
            &nodes,
            &Fit::of(&ds()),
            &pods::by_node(&all),
            "new",
            now,
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            json!({"currentNumberScheduled": 3, "desiredNumberScheduled": 4, "numberMisscheduled": 1,
                   "numberReady": 2, "numberAvailable": 1, "numberUnavailable": 3,
                   "updatedNumberScheduled": 2, "observedGeneration": 2, "collisionCount": 1})
        );
    }
}
