//! One step of a rolling update, as sizes to set (upstream's rolling.go):
//! scale the new ReplicaSet up within maxSurge, then scale old ones down
//! without dropping below replicas - maxUnavailable available pods.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::counts::{self, available, by_age, spec};
use super::fenceposts::{max_surge, max_unavailable, replicas};

/// The size of the new ReplicaSet (upstream's NewRSNewReplicas): all
/// replicas together may exceed the desired count by maxSurge; the new
/// one never exceeds it.
pub fn new_rs_size(d: &Deployment, all: &[ReplicaSet], new: &ReplicaSet) -> i32 {
    if !super::fenceposts::is_rolling(d) {
        return replicas(d);
    }
    let current = counts::sum(all, spec);
    let max_total = replicas(d) + max_surge(d);
    if current >= max_total {
        return spec(new);
    }
    let up = (max_total - current).min(replicas(d) - spec(new));
    spec(new) + up
}

/// The size of the new ReplicaSet in this step, if it changes
/// (upstream's reconcileNewReplicaSet).
pub fn scale_new(d: &Deployment, all: &[ReplicaSet], new: &ReplicaSet) -> Option<i32> {
    let want = if spec(new) > replicas(d) {
        replicas(d)
    } else {
        new_rs_size(d, all, new)
    };
    (want != spec(new)).then_some(want)
}

/// New sizes for old ReplicaSets in this step (upstream's
/// reconcileOldReplicaSets), oldest first. `old` are all old ReplicaSets.
///
/// How far down: all pods, less the minimum available, less the new
/// ReplicaSet's pods not yet available; so a new ReplicaSet whose pods do
/// not come up never lets the old ones shrink further. Old ReplicaSets'
/// unavailable pods go first (they cost no availability), then available
/// ones while more than the minimum are available.
pub fn scale_down_old(d: &Deployment, old: &[ReplicaSet], new: &ReplicaSet) -> Vec<(String, i32)> {
    let mut active: Vec<ReplicaSet> = old
        .iter()
        .filter(|rs| counts::is_active(rs))
        .cloned()
        .collect();
    if active.is_empty() {
        return Vec::new();
    }
    let all_pods = counts::sum(old, spec) + spec(new);
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = spec(new) - available(new);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Vec::new();
    }
    by_age(&mut active);
    let mut sizes: Vec<i32> = active.iter().map(spec).collect();

    // Unhealthy replicas first.
    let mut cleaned = 0;
    for (rs, size) in active.iter().zip(sizes.iter_mut()) {
        if cleaned >= max_scaled_down {
            break;
        }
        if *size == 0 || *size == available(rs) {
            continue;
        }
        let down = (max_scaled_down - cleaned).min(*size - available(rs));
        *size -= down;
        cleaned += down;
    }

    // Then available ones, keeping the minimum.
    let available_pods: i32 = active.iter().map(available).sum::<i32>() + available(new);
    if available_pods > min_available {
        let total = available_pods - min_available;
        let mut scaled = 0;
        for size in sizes.iter_mut() {
            if scaled >= total {
                break;
            }
            if *size == 0 {
                continue;
            }
            let down = (*size).min(total - scaled);
            *size -= down;
            scaled += down;
        }
    }

    active
        .iter()
        .zip(sizes)
        .filter(|(rs, size)| spec(rs) != *size)
        .map(|(rs, size)| (rs.metadata.name.clone().unwrap_or_default(), size))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deployment::counts::test_rs;
    use serde_json::json;

    fn deployment(replicas: i32, surge: i32, unavailable: i32) -> Deployment {
        serde_json::from_value(
            json!({"spec": {"replicas": replicas, "selector": {}, "template": {},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}}),
        )
        .unwrap()
    }

    const T1: &str = "2024-01-01T00:00:00Z";
    const T2: &str = "2024-01-01T00:01:00Z";
    const T3: &str = "2024-01-01T00:02:00Z";

    #[test]
    fn the_new_replica_set_grows_within_surge() {
        let d = deployment(3, 1, 1);
        let old = test_rs("old", T1, 3, 3);
        let new = test_rs("new", T2, 0, 0);
        let all = [old.clone(), new.clone()];
        assert_eq!(scale_new(&d, &all, &new), Some(1));
        // At 3 + 1 pods: no room.
        let new = test_rs("new", T2, 1, 0);
        assert_eq!(scale_new(&d, &[old, new.clone()], &new), None);
        // Never past the desired count; shrinks when above it.
        let new = test_rs("new", T2, 2, 2);
        let small = test_rs("old", T1, 0, 0);
        assert_eq!(scale_new(&d, &[small.clone(), new.clone()], &new), Some(3));
        let big = test_rs("new", T2, 5, 5);
        assert_eq!(scale_new(&d, &[small, big.clone()], &big), Some(3));
    }

    #[test]
    fn old_replica_sets_shrink_only_as_new_pods_become_available() {
        let d = deployment(3, 1, 1);
        // 4 pods, new one unavailable: 4 - 2 - 1 = 1 may go.
        let old = [test_rs("old", T1, 3, 3)];
        let new = test_rs("new", T2, 1, 0);
        assert_eq!(scale_down_old(&d, &old, &new), [("old".to_string(), 2)]);
        // 3 pods, the new ones not available: nothing more may go.
        let old = [test_rs("old", T1, 2, 2)];
        let new = test_rs("new", T2, 1, 0);
        assert!(scale_down_old(&d, &old, &new).is_empty());
        let new = test_rs("new", T2, 2, 0);
        assert!(scale_down_old(&d, &old, &new).is_empty());
        // One new pod available: one old may go.
        let new = test_rs("new", T2, 2, 1);
        assert_eq!(scale_down_old(&d, &old, &new), [("old".to_string(), 1)]);
    }

    #[test]
    fn unhealthy_old_replicas_go_first_and_oldest_sets_first() {
        // 10 replicas, maxUnavailable 2, maxSurge 3: upstream's example.
        let d = deployment(10, 3, 2);
        let oldest = test_rs("oldest", T1, 4, 1);
        let older = test_rs("older", T2, 4, 4);
        let new = test_rs("new", T3, 5, 5);
        // 13 pods - 8 - 0 = 5 may go: 3 unhealthy of "oldest", then
        // available pods down to 8: 10 available - 8 = 2 more.
        let plan = scale_down_old(&d, &[older, oldest], &new);
        assert_eq!(plan, [("oldest".to_string(), 0), ("older".to_string(), 3)]);
    }

    #[test]
    fn a_crashing_new_replica_set_holds_the_old_ones() {
        let d = deployment(10, 3, 2);
        let old = [test_rs("old", T1, 8, 8)];
        let new = test_rs("new", T2, 5, 0);
        assert!(scale_down_old(&d, &old, &new).is_empty());
    }
}
