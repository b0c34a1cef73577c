//! Revisions and the annotations a Deployment keeps on its ReplicaSets
//! (upstream's deployment util): the revision, the revisions a rolled-back
//! ReplicaSet had before, and the size the Deployment wanted when it last
//! scaled it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::fenceposts::{max_surge, replicas};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// The longest revision history annotation kept.
const HISTORY_CHARS: usize = 2000;

/// Annotations of the Deployment not copied to its ReplicaSets.
fn skipped(key: &str) -> bool {
    [
        LAST_APPLIED,
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        ROLLBACK_TO,
    ]
    .contains(&key)
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The revision of a ReplicaSet; 0 without one (or with a bad one).
pub fn revision(meta: &ObjectMeta) -> i64 {
    annotation(meta, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter()
        .map(|rs| revision(&rs.metadata))
        .max()
        .unwrap_or(0)
}

pub fn desired_replicas(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, DESIRED_REPLICAS)?.parse().ok()
}

pub fn max_replicas(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, MAX_REPLICAS)?.parse().ok()
}

fn annotations(meta: &mut ObjectMeta) -> &mut BTreeMap<String, String> {
    meta.annotations.get_or_insert_with(BTreeMap::new)
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    desired_replicas(rs) != Some(desired) || max_replicas(rs) != Some(max)
}

/// Records the Deployment's size (and its size with surge) on `rs`.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    if !replicas_annotations_need_update(rs, desired, max) {
        return false;
    }
    let a = annotations(&mut rs.metadata);
    a.insert(DESIRED_REPLICAS.into(), desired.to_string());
    a.insert(MAX_REPLICAS.into(), max.to_string());
    true
}

/// Brings the new ReplicaSet's annotations up to date (upstream's
/// SetNewReplicaSetAnnotations): the Deployment's own annotations, the
/// revision `new_revision` unless it has a higher one, the revision it
/// had before when it is rolled back to, and for a ReplicaSet about to be
/// created the replica annotations. Returns whether anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skipped(k) || annotation(&rs.metadata, k) == Some(v) {
            continue;
        }
        annotations(&mut rs.metadata).insert(k.clone(), v.clone());
        changed = true;
    }
    let old = annotation(&rs.metadata, REVISION).map(str::to_owned);
    let old_number = match old.as_deref() {
        None => 0,
        Some(r) => match r.parse::<i64>() {
            Ok(n) => n,
            // Not ours to fix: leave a ReplicaSet with a bad revision alone.
            Err(_) => return changed,
        },
    };
    if old_number < new_revision {
        annotations(&mut rs.metadata).insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = annotation(&rs.metadata, REVISION_HISTORY).unwrap_or_default();
            let mut kept: Vec<&str> = history.split(',').filter(|r| !r.is_empty()).collect();
            kept.push(&old);
            // Drop the oldest entries past the limit.
            while kept.len() > 1 && kept.join(",").len() > HISTORY_CHARS {
                kept.remove(0);
            }
            let joined = kept.join(",");
            if joined.len() <= HISTORY_CHARS {
                annotations(&mut rs.metadata).insert(REVISION_HISTORY.into(), joined);
            }
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

/// Old ReplicaSets to delete beyond revisionHistoryLimit: the lowest
/// revisions first, and only those fully scaled down and observed so.
pub fn to_clean_up(d: &Deployment, old: &[ReplicaSet]) -> Vec<String> {
    let Some(limit) = d.spec.revision_history_limit else {
        return Vec::new();
    };
    let mut alive: Vec<&ReplicaSet> = old
        .iter()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = alive.len().saturating_sub(limit.max(0) as usize);
    alive.sort_by_key(|rs| {
        (
            revision(&rs.metadata),
            rs.metadata.creation_timestamp.clone(),
            rs.metadata.name.clone(),
        )
    });
    alive
        .into_iter()
        .take(excess)
        .filter(|rs| {
            let status = rs.status.clone().unwrap_or_default();
            status.replicas == 0
                && rs.spec.replicas.unwrap_or(1) == 0
                && rs.metadata.generation <= status.observed_generation
        })
        .filter_map(|rs| rs.metadata.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(annotations: serde_json::Value) -> Deployment {
        serde_json::from_value(
            json!({"metadata": {"name": "d", "annotations": annotations},
            "spec": {"replicas": 4, "selector": {}, "template": {},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
        )
        .unwrap()
    }

    fn rs(name: &str, annotations: serde_json::Value, replicas: i32, status: i32) -> ReplicaSet {
        serde_json::from_value(
            json!({"metadata": {"name": name, "annotations": annotations, "generation": 2},
            "spec": {"replicas": replicas, "selector": {}},
            "status": {"replicas": status, "observedGeneration": 2}}),
        )
        .unwrap()
    }

    #[test]
    fn a_new_replica_set_gets_the_revision_and_sizes() {
        let d = deployment(json!({"team": "a", REVISION: "1", LAST_APPLIED: "{}"}));
        let mut new = rs("n", json!({}), 0, 0);
        assert!(set_new_rs_annotations(&d, &mut new, 2, false));
        assert_eq!(
            new.metadata.annotations.unwrap(),
            [
                ("team", "a"),
                (REVISION, "2"),
                (DESIRED_REPLICAS, "4"),
                (MAX_REPLICAS, "5")
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        );
    }

    #[test]
    fn a_rolled_back_replica_set_keeps_its_history() {
        let d = deployment(json!({}));
        let mut old = rs("o", json!({REVISION: "1"}), 0, 0);
        assert!(set_new_rs_annotations(&d, &mut old, 3, true));
        assert!(set_new_rs_annotations(&d, &mut old, 5, true));
        let a = old.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            (a[REVISION].as_str(), a[REVISION_HISTORY].as_str()),
            ("5", "1,3")
        );
        assert!(!a.contains_key(DESIRED_REPLICAS));
        // Never lowered.
        assert!(!set_new_rs_annotations(&d, &mut old, 4, true));
    }

    #[test]
    fn history_beyond_the_limit_goes_when_scaled_down() {
        let mut d = deployment(json!({}));
        d.spec.revision_history_limit = Some(1);
        let old = [
            rs("r3", json!({REVISION: "3"}), 0, 0),
            rs("r1", json!({REVISION: "1"}), 0, 0),
            rs("r2", json!({REVISION: "2"}), 0, 1),
        ];
        // r1 and r2 are beyond the limit; r2 still has a pod.
        assert_eq!(to_clean_up(&d, &old), ["r1"]);
        d.spec.revision_history_limit = None;
        assert!(to_clean_up(&d, &old).is_empty());
    }
}
