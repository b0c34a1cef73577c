//! Pods as a ReplicaSet sees them: active, ready, available; and the pod
//! it creates from its template.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::controllers::shared::claim::controller_ref;
use crate::controllers::shared::time::plus_seconds;

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Counted as a replica: neither finished nor being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

pub fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Ready for at least `min_ready_seconds` (strictly longer, as upstream).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(ready) = ready_condition(pod).filter(|c| c.status == "True") else {
        return false;
    };
    min_ready_seconds <= 0
        || ready
            .last_transition_time
            .as_ref()
            .is_some_and(|t| plus_seconds(t.0, min_ready_seconds.into()) < now)
}

/// Since when the pod has been ready, if it is.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    ready_condition(pod)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

/// A new pod of `rs`: its template's metadata and spec, a generated name
/// after the ReplicaSet's, and the ReplicaSet as its controller.
pub fn from_template(rs: &ReplicaSet) -> Pod {
    let template = rs.spec.template.clone().unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.name_any())),
            namespace: rs.namespace(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref(rs)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn availability_waits_min_ready_seconds() {
        let pod: Pod = serde_json::from_value(json!({"status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}))
        .unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(is_ready(&pod) && is_active(&pod));
        assert!(is_available(&pod, 0, at("2024-01-01T00:00:00Z")));
        assert!(!is_available(&pod, 5, at("2024-01-01T00:00:05Z")));
        assert!(is_available(&pod, 5, at("2024-01-01T00:00:06Z")));
    }

    #[test]
    fn pods_come_from_the_template() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "namespace": "ns", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
        .unwrap();
        let pod = serde_json::to_value(from_template(&rs)).unwrap();
        assert_eq!(
            pod["metadata"],
            json!({"generateName": "web-abc-", "namespace": "ns", "labels": {"app": "web"},
                   "annotations": {"a": "b"},
                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
                                        "uid": "u1", "controller": true, "blockOwnerDeletion": true}]})
        );
        assert_eq!(pod["spec"]["containers"][0]["image"], "i");
    }
}
