//! Pods' states as controllers read them: finished, active, ready,
//! available.

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::jiff::Timestamp;

use super::time::plus_seconds;

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Finished: it runs no more.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Counted as a replica: neither finished nor being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
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
}
