//! A ReplicaSet's status from the pods it owns (upstream's calculateStatus).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::pods::{is_available, is_ready};

pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Go leaves zero counts out (omitempty); so does this, so that a status
/// read back compares equal to the one computed.
pub fn count(n: usize) -> Option<i32> {
    (n > 0).then(|| i32::try_from(n).unwrap_or(i32::MAX))
}

/// The status for the `active` pods the ReplicaSet owns. A failure to
/// create or delete pods shows as a ReplicaFailure condition until a sync
/// succeeds. `observedGeneration` is set by the caller when it writes.
pub fn calculate(
    rs: &ReplicaSet,
    active: &[Arc<Pod>],
    manage_error: Option<&str>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let spec = &rs.spec;
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.as_ref();
            template_labels
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .count();
    let ready = active.iter().filter(|p| is_ready(p)).count();
    let available = active
        .iter()
        .filter(|p| is_available(p, min_ready, now))
        .count();

    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let failing = conditions
        .iter()
        .any(|c| c.type_.as_deref() == Some(REPLICA_FAILURE));
    match manage_error {
        Some(message) if !failing => {
            let want = spec.replicas.unwrap_or(1).max(0) as usize;
            let reason = if active.len() < want {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            conditions.push(ReplicaSetCondition {
                type_: Some(REPLICA_FAILURE.into()),
                status: Some("True".into()),
                reason: Some(reason.into()),
                message: Some(message.into()),
                last_transition_time: Some(Time(now)),
            });
        }
        None if failing => conditions.retain(|c| c.type_.as_deref() != Some(REPLICA_FAILURE)),
        _ => {}
    }
    if status.conditions.as_ref().is_some_and(Vec::is_empty) {
        status.conditions = None;
    }
    status.replicas = i32::try_from(active.len()).unwrap_or(i32::MAX);
    status.fully_labeled_replicas = count(fully_labeled);
    status.ready_replicas = count(ready);
    status.available_replicas = count(available);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_and_failures() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "rs"},
            "spec": {"replicas": 3, "minReadySeconds": 10, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "x"}}}}}))
        .unwrap();
        let pod = |labels: serde_json::Value, ready_at: Option<&str>| {
            let conditions = ready_at.map_or(
                json!([]),
                |t| json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]),
            );
            Arc::new(
                serde_json::from_value::<Pod>(json!({"metadata": {"labels": labels},
                    "status": {"phase": "Running", "conditions": conditions}}))
                .unwrap(),
            )
        };
        let now: Timestamp = "2024-01-01T00:01:00Z".parse().unwrap();
        let pods = [
            pod(
                json!({"app": "web", "tier": "x"}),
                Some("2024-01-01T00:00:00Z"),
            ),
            pod(json!({"app": "web"}), Some("2024-01-01T00:00:55Z")),
        ];
        let s = calculate(&rs, &pods, None, now);
        assert_eq!(
            (
                s.replicas,
                s.fully_labeled_replicas,
                s.ready_replicas,
                s.available_replicas
            ),
            (2, Some(1), Some(2), Some(1))
        );
        assert!(s.conditions.is_none());
        let failed = calculate(&rs, &pods, Some("quota"), now);
        let c = &failed.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (
                c.type_.as_deref(),
                c.reason.as_deref(),
                c.message.as_deref()
            ),
            (Some("ReplicaFailure"), Some("FailedCreate"), Some("quota"))
        );
        let mut rs = rs;
        rs.status = Some(failed);
        assert!(calculate(&rs, &pods, None, now).conditions.is_none());
    }
}
