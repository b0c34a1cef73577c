//! Scaling a Deployment (upstream's sync.go `scale`): the one active
//! ReplicaSet takes the whole new size; during a rolling update the
//! change is spread over the active ReplicaSets in proportion to their
//! sizes, so a rollout in progress keeps its balance.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::counts::{self, by_age, spec};
use super::fenceposts::{is_rolling, max_surge, replicas};
use super::revision::{desired_replicas, max_replicas};

/// Whether the Deployment's size changed since it last scaled its active
/// ReplicaSets (upstream's isScalingEvent).
pub fn is_scaling_event(d: &Deployment, all: &[ReplicaSet]) -> bool {
    all.iter()
        .filter(|rs| counts::is_active(rs))
        .filter_map(desired_replicas)
        .any(|desired| desired != replicas(d))
}

/// The only active ReplicaSet, or with none active the newest.
fn active_or_latest<'a>(
    new: Option<&'a ReplicaSet>,
    old: &'a [ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let mut old_sorted: Vec<&ReplicaSet> = old.iter().collect();
    old_sorted.sort_by(|a, b| {
        (&b.metadata.creation_timestamp, &b.metadata.name)
            .cmp(&(&a.metadata.creation_timestamp, &a.metadata.name))
    });
    let active: Vec<&ReplicaSet> = old_sorted
        .iter()
        .copied()
        .chain(new)
        .filter(|rs| counts::is_active(rs))
        .collect();
    match active.len() {
        0 => new.or(old_sorted.first().copied()),
        1 => Some(active[0]),
        _ => None,
    }
}

/// The new ReplicaSet runs every desired replica, all available.
fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    desired_replicas(rs) == Some(replicas(d))
        && spec(rs) == replicas(d)
        && counts::available(rs) == replicas(d)
}

/// How a scaling step ends: sizes to set, and whether a size equal to the
/// current one still rewrites the replica annotations.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub sizes: Vec<(String, i32)>,
    pub annotate_all: bool,
}

fn name(rs: &ReplicaSet) -> String {
    rs.metadata.name.clone().unwrap_or_default()
}

/// This ReplicaSet's share of `to_add` (upstream's GetProportion), bounded
/// by what is left to add or remove.
fn proportion(d: &Deployment, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
    if spec(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = if replicas(d) == 0 {
        -spec(rs)
    } else {
        let total = replicas(d) + max_surge(d);
        let annotated = max_replicas(rs)
            .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
        if annotated == 0 {
            0
        } else {
            let exact = f64::from(spec(rs)) * f64::from(total) / f64::from(annotated);
            exact.round() as i32 - spec(rs)
        }
    };
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

pub fn scale(d: &Deployment, new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Plan {
    let none = Plan {
        sizes: Vec::new(),
        annotate_all: false,
    };
    if new.is_none() && old.is_empty() {
        return none;
    }
    if let Some(rs) = active_or_latest(new, old) {
        if spec(rs) == replicas(d) {
            return none;
        }
        return Plan {
            sizes: vec![(name(rs), replicas(d))],
            annotate_all: false,
        };
    }
    // The new ReplicaSet has it all: the old ones go.
    if new.is_some_and(|n| is_saturated(d, n)) {
        return Plan {
            sizes: old
                .iter()
                .filter(|rs| counts::is_active(rs))
                .map(|rs| (name(rs), 0))
                .collect(),
            annotate_all: false,
        };
    }
    if !is_rolling(d) {
        return none;
    }
    let mut active: Vec<ReplicaSet> = old
        .iter()
        .chain(new)
        .filter(|rs| counts::is_active(rs))
        .cloned()
        .collect();
    let current = counts::sum(&active, spec);
    let allowed = if replicas(d) > 0 {
        replicas(d) + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - current;
    // Largest first; among equals, newer first when growing, older first
    // when shrinking.
    by_age(&mut active);
    if to_add > 0 {
        active.reverse();
        active.sort_by_key(|rs| std::cmp::Reverse(spec(rs)));
    } else if to_add < 0 {
        active.sort_by_key(|rs| std::cmp::Reverse(spec(rs)));
    }
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = active
        .iter()
        .map(|rs| {
            let share = proportion(d, rs, to_add, added);
            added += share;
            (name(rs), spec(rs) + share)
        })
        .collect();
    // What rounding left over goes to the largest.
    if to_add != 0
        && let Some(first) = sizes.first_mut()
    {
        first.1 = (first.1 + to_add - added).max(0);
    }
    Plan {
        sizes,
        annotate_all: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deployment::counts::test_rs;
    use crate::controllers::deployment::revision::{DESIRED_REPLICAS, MAX_REPLICAS};
    use serde_json::json;

    fn deployment(replicas: i32, surge: i32) -> Deployment {
        serde_json::from_value(
            json!({"spec": {"replicas": replicas, "selector": {}, "template": {},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": surge, "maxUnavailable": 0}}}}),
        )
        .unwrap()
    }

    fn annotated(mut rs: ReplicaSet, desired: i32, max: i32) -> ReplicaSet {
        rs.metadata.annotations = Some(
            [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        rs
    }

    const T1: &str = "2024-01-01T00:00:00Z";
    const T2: &str = "2024-01-01T00:01:00Z";

    #[test]
    fn one_active_replica_set_takes_the_new_size() {
        let d = deployment(5, 1);
        let rs = annotated(test_rs("only", T1, 3, 3), 3, 4);
        assert!(is_scaling_event(&d, std::slice::from_ref(&rs)));
        assert_eq!(scale(&d, Some(&rs), &[]).sizes, [("only".to_string(), 5)]);
        let idle = test_rs("idle", T1, 0, 0);
        assert_eq!(
            scale(&d, Some(&rs), &[idle]).sizes,
            [("only".to_string(), 5)]
        );
    }

    #[test]
    fn a_rollout_in_progress_scales_in_proportion() {
        // Upstream's example: 10 replicas (surge 3) mid-rollout as 8 old +
        // 5 new, scaled to 20 (surge 3): 23 in all, 10 more to place.
        let d10 = 10 + 3;
        let old = annotated(test_rs("old", T1, 8, 8), 10, d10);
        let new = annotated(test_rs("new", T2, 5, 0), 10, d10);
        let d = deployment(20, 3);
        assert!(is_scaling_event(&d, &[old.clone(), new.clone()]));
        let plan = scale(&d, Some(&new), &[old]);
        assert!(plan.annotate_all);
        // 8 * 23/13 = 14.15 -> 14 (+6); 5 * 23/13 = 8.8 -> 9 (+4).
        assert_eq!(
            plan.sizes,
            [("old".to_string(), 14), ("new".to_string(), 9)]
        );
    }

    #[test]
    fn scaling_down_mid_rollout() {
        let old = annotated(test_rs("old", T1, 6, 6), 8, 10);
        let new = annotated(test_rs("new", T2, 4, 0), 8, 10);
        let d = deployment(4, 1);
        // 5 allowed, 10 running: 5 to remove; 6*5/10 = 3 (-3), 4*5/10 = 2 (-2).
        let plan = scale(&d, Some(&new), &[old]);
        assert_eq!(plan.sizes, [("old".to_string(), 3), ("new".to_string(), 2)]);
    }

    #[test]
    fn a_saturated_new_replica_set_retires_the_old() {
        let d = deployment(3, 1);
        let new = annotated(test_rs("new", T2, 3, 3), 3, 4);
        let old = test_rs("old", T1, 2, 2);
        assert_eq!(
            scale(&d, Some(&new), &[old]).sizes,
            [("old".to_string(), 0)]
        );
    }
}
