//! The RollingUpdate strategy (upstream's rollingUpdate): without surge,
//! old pods are deleted while at most maxUnavailable of the nodes lack an
//! available pod (an old pod that is not available anyway goes at once);
//! with maxSurge, a new pod starts beside the old one on at most maxSurge
//! nodes, and the old one goes once the new one is available.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::pods::is_updated;
use crate::controllers::shared::intstr::scaled;
use crate::controllers::shared::pod_state::is_available;

/// (maxSurge, maxUnavailable) as pods for `desired` nodes, both rounded up;
/// both zero means one unavailable.
pub fn limits(ds: &DaemonSet, desired: i32) -> Result<(i32, i32), String> {
    let rolling = ds
        .spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    let count = |v: Option<&_>| v.map_or(Ok(0), |v| scaled(v, desired, true));
    let surge = count(rolling.and_then(|r| r.max_surge.as_ref()))?;
    let unavailable = count(rolling.and_then(|r| r.max_unavailable.as_ref()))?;
    Ok(match (surge, unavailable) {
        (0, 0) => (0, 1),
        limits => limits,
    })
}

pub fn is_rolling(ds: &DaemonSet) -> bool {
    ds.spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// Whether a new pod may start beside an old one.
pub fn allows_surge(ds: &DaemonSet) -> bool {
    is_rolling(ds) && limits(ds, 1).is_ok_and(|(surge, _)| surge > 0)
}

/// The new and the old pod on a node.
type Split<'a> = (Option<&'a Arc<Pod>>, Option<&'a Arc<Pod>>);

/// The new and the old pod on a node; None when there are more than one
/// of either (the manage step removes the extra first).
fn split<'a>(pods: &'a [Arc<Pod>], hash: &str) -> Option<Split<'a>> {
    let (mut new, mut old) = (None, None);
    for pod in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let slot = if is_updated(pod, hash) {
            &mut new
        } else {
            &mut old
        };
        if slot.replace(pod).is_some() {
            return None;
        }
    }
    Some((new, old))
}

#[derive(Debug, Default)]
pub struct Step {
    pub delete: Vec<Arc<Pod>>,
    /// Nodes where a new pod starts beside the old one.
    pub create: Vec<String>,
}

/// The next step of the update over `eligible` nodes (those that should
/// run a pod), each with its pods.
pub fn step(
    ds: &DaemonSet,
    eligible: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    now: Timestamp,
) -> Result<Step, String> {
    let (max_surge, max_unavailable) = limits(ds, eligible.len() as i32)?;
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let available = |p: &Pod| is_available(p, min_ready, now);
    let mut step = Step::default();
    if max_surge == 0 {
        let mut unavailable = 0;
        let mut candidates = Vec::new();
        for pods in eligible.values() {
            match split(pods, hash) {
                // Extra pods, or none yet: the node counts as unavailable.
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new), None)) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                Some((None, Some(old))) => {
                    if !available(old) {
                        step.delete.push(old.clone());
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(old.clone());
                    }
                }
            }
        }
        let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i32);
        step.delete
            .extend(candidates.into_iter().take(room as usize));
        return Ok(step);
    }
    let mut surging = 0;
    for (node, pods) in eligible {
        match split(pods, hash) {
            None | Some((_, None)) => {}
            Some((None, Some(old))) => {
                if !available(old) {
                    step.create.push(node.clone());
                } else if surging < max_surge {
                    surging += 1;
                    step.create.push(node.clone());
                }
            }
            Some((Some(new), Some(old))) => {
                if available(new) {
                    step.delete.push(old.clone());
                } else {
                    surging += 1;
                }
            }
        }
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::daemonset::pods;
    use kube::ResourceExt;
    use serde_json::json;

    fn ds(strategy: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "d", "namespace": "ns", "uid": "u"},
            "spec": {"selector": {"matchLabels": {"app": "d"}}, "updateStrategy": strategy,
                     "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": []}}}}))
        .unwrap()
    }

    fn pod(name: &str, node: &str, hash: &str, ready: bool) -> Arc<Pod> {
        let mut p = pods::for_node(&ds(json!({})), node, hash);
        p.metadata.name = Some(name.into());
        p.spec.as_mut().unwrap().node_name = Some(node.into());
        p.status = Some(
            serde_json::from_value(json!({"phase": "Running", "conditions": [{"type": "Ready",
                "status": if ready { "True" } else { "False" }}]}))
            .unwrap(),
        );
        Arc::new(p)
    }

    fn nodes(pods: &[Arc<Pod>], count: usize) -> BTreeMap<String, Vec<Arc<Pod>>> {
        let mut map = pods::by_node(pods);
        for i in 0..count {
            map.entry(format!("n{i}")).or_default();
        }
        map
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        pods.iter().map(|p| p.name_any()).collect()
    }

    const NOW: &str = "2024-01-01T00:00:00Z";

    #[test]
    fn limits_round_up_and_never_stall() {
        let rolling = |s: serde_json::Value, u: serde_json::Value| {
            ds(
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": s, "maxUnavailable": u}}),
            )
        };
        assert_eq!(limits(&rolling(json!(0), json!("10%")), 11), Ok((0, 2)));
        assert_eq!(limits(&rolling(json!("25%"), json!(0)), 5), Ok((2, 0)));
        assert_eq!(limits(&rolling(json!(0), json!(0)), 5), Ok((0, 1)));
        assert!(limits(&rolling(json!("x"), json!(0)), 5).is_err());
        assert!(allows_surge(&rolling(json!(1), json!(0))));
        assert!(!allows_surge(&ds(json!({"type": "OnDelete"}))));
    }

    #[test]
    fn without_surge_old_pods_go_within_max_unavailable() {
        let d = ds(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2, "maxSurge": 0}}),
        );
        let all = [
            pod("new-ready", "n0", "new", true),
            pod("new-starting", "n1", "new", false),
            pod("old-broken", "n2", "old", false),
            pod("old-a", "n3", "old", true),
            pod("old-b", "n4", "old", true),
        ];
        let step = step(&d, &nodes(&all, 5), "new", NOW.parse().unwrap()).unwrap();
        // A starting new pod and the broken old one use up the two.
        assert_eq!(names(&step.delete), ["old-broken"]);
        let all = [
            pod("new-ready", "n0", "new", true),
            pod("old-a", "n1", "old", true),
            pod("old-b", "n2", "old", true),
            pod("old-c", "n3", "old", true),
        ];
        let step = super::step(&d, &nodes(&all, 4), "new", NOW.parse().unwrap()).unwrap();
        assert_eq!(names(&step.delete), ["old-a", "old-b"]);
        assert!(step.create.is_empty());
    }

    #[test]
    fn a_surge_starts_new_pods_beside_old_ones() {
        let d = ds(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}),
        );
        let all = [
            pod("old-a", "n0", "old", true),
            pod("old-b", "n1", "old", true),
        ];
        let step = step(&d, &nodes(&all, 2), "new", NOW.parse().unwrap()).unwrap();
        assert_eq!(step.create, ["n0"]);
        assert!(step.delete.is_empty());
        let all = [
            pod("old-a", "n0", "old", true),
            pod("new-a", "n0", "new", true),
            pod("old-b", "n1", "old", true),
        ];
        let step = super::step(&d, &nodes(&all, 2), "new", NOW.parse().unwrap()).unwrap();
        assert_eq!(names(&step.delete), ["old-a"]);
        assert_eq!(step.create, ["n1"]);
        let all = [
            pod("old-a", "n0", "old", true),
            pod("new-a", "n0", "new", false),
            pod("old-b", "n1", "old", true),
        ];
        let step = super::step(&d, &nodes(&all, 2), "new", NOW.parse().unwrap()).unwrap();
        assert!(step.delete.is_empty() && step.create.is_empty());
    }
}
