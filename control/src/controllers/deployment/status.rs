//! A Deployment's status and conditions (upstream's calculateStatus,
//! syncRolloutStatus and deployment util): counts summed over its
//! ReplicaSets, Available while enough pods are, and Progressing with the
//! reasons `kubectl rollout status` reads.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::counts::{self, actual, available, ready, spec};
use super::fenceposts::{max_unavailable, replicas};
use crate::controllers::shared::time::{nanos_between, plus_seconds};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";

pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: Some(type_.into()),
        status: Some(status.into()),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(type_))
}

/// Sets a condition unless one of its type has the same status and reason;
/// the transition time stays when only the reason changes.
pub fn set(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(current) = get(status, c.type_.as_deref().unwrap_or_default()) {
        if current.status == c.status && current.reason == c.reason {
            return;
        }
        if current.status == c.status {
            c.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove(status, c.type_.as_deref().unwrap_or_default());
    status.conditions.get_or_insert_with(Vec::new).push(c);
}

pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(cs) = status.conditions.as_mut() {
        cs.retain(|c| c.type_.as_deref() != Some(type_));
    }
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// The status the ReplicaSets add up to, conditions carried over and
/// Available set (upstream's calculateStatus). Zero counts are left out,
/// as Go leaves them out.
pub fn calculate(
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    d: &Deployment,
    now: Timestamp,
) -> DeploymentStatus {
    let available_pods = counts::sum(all.iter().copied(), available);
    let total = counts::sum(all.iter().copied(), spec);
    let current = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: nonzero(counts::sum(all.iter().copied(), actual)),
        updated_replicas: nonzero(new.map_or(0, actual)),
        ready_replicas: nonzero(counts::sum(all.iter().copied(), ready)),
        available_replicas: nonzero(available_pods),
        // More available than asked (scaling down) is not negative.
        unavailable_replicas: nonzero((total - available_pods).max(0)),
        collision_count: current.collision_count,
        conditions: current.conditions.clone(),
        terminating_replicas: None,
    };
    if available_pods >= replicas(d) - max_unavailable(d) {
        set(
            &mut status,
            condition(
                AVAILABLE,
                "True",
                MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.".into(),
                now,
            ),
        );
    } else {
        set(
            &mut status,
            condition(
                AVAILABLE,
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                now,
            ),
        );
    }
    status
}

/// progressDeadlineSeconds, unless unset or "forever" (MaxInt32).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec.progress_deadline_seconds.filter(|s| *s != i32::MAX)
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// Every desired replica updated and available, none old left, and the
/// spec seen.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = replicas(d);
    n(s.updated_replicas) == want
        && n(s.replicas) == want
        && n(s.available_replicas) == want
        && s.observed_generation >= d.metadata.generation
}

/// Any step forward since the last status: more updated, fewer old, more
/// ready or available.
pub fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// No progress reported for longer than the deadline.
pub fn timed_out(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(c) = get(new, PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => c
            .last_update_time
            .as_ref()
            .is_some_and(|t| plus_seconds(t.0, deadline.into()) < now),
    }
}

/// The status after a rollout step (upstream's syncRolloutStatus), and
/// when to look again if the rollout may time out meanwhile.
pub fn rollout(
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    d: &Deployment,
    now: Timestamp,
) -> (DeploymentStatus, Option<Duration>) {
    let mut status = calculate(all, new, d, now);
    if progress_deadline(d).is_none() {
        remove(&mut status, PROGRESSING);
    }
    let current = d.status.as_ref().and_then(|s| get(s, PROGRESSING)).cloned();
    let done = n(status.replicas) == n(status.updated_replicas)
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    let subject = match new {
        Some(rs) => format!(
            "ReplicaSet {:?}",
            rs.metadata.name.clone().unwrap_or_default()
        ),
        None => format!(
            "Deployment {:?}",
            d.metadata.name.clone().unwrap_or_default()
        ),
    };
    if progress_deadline(d).is_some() && !done {
        if complete(d, &status) {
            set(
                &mut status,
                condition(
                    PROGRESSING,
                    "True",
                    NEW_RS_AVAILABLE,
                    format!("{subject} has successfully progressed."),
                    now,
                ),
            );
        } else if progressing(d, &status) {
            // Progress renews the update time, even with the same reason.
            let mut c = condition(
                PROGRESSING,
                "True",
                RS_UPDATED,
                format!("{subject} is progressing."),
                now,
            );
            if let Some(cur) = &current {
                if cur.status.as_deref() == Some("True") {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                remove(&mut status, PROGRESSING);
            }
            set(&mut status, c);
        } else if timed_out(d, &status, now) {
            set(
                &mut status,
                condition(
                    PROGRESSING,
                    "False",
                    TIMED_OUT,
                    format!("{subject} has timed out progressing."),
                    now,
                ),
            );
        }
    }
    match replica_failure(all, new) {
        Some(c) => set(&mut status, c),
        None => remove(&mut status, REPLICA_FAILURE),
    }
    if status.conditions.as_ref().is_some_and(Vec::is_empty) {
        status.conditions = None;
    }
    let requeue = requeue_stuck(d, &status, now);
    (status, requeue)
}

/// A ReplicaSet's failure to create or delete pods, the new one's first.
fn replica_failure(all: &[&ReplicaSet], new: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| {
        rs.status
            .as_ref()?
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_.as_deref() == Some(REPLICA_FAILURE))
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            })
    };
    new.and_then(failure)
        .or_else(|| all.iter().find_map(|rs| failure(rs)))
}

/// When a rollout that is neither complete nor timed out would reach its
/// deadline without further events (upstream's requeueStuckDeployment).
fn requeue_stuck(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let deadline = progress_deadline(d)?;
    let current = d.status.as_ref().and_then(|s| get(s, PROGRESSING))?;
    if complete(d, new) || current.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let updated = get(new, PROGRESSING)?.last_update_time.as_ref()?.0;
    let at = plus_seconds(updated, deadline.into());
    let left = nanos_between(now, at);
    Some(if left < 1_000_000_000 {
        Duration::from_secs(1)
    } else {
        Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deployment::counts::test_rs;
    use serde_json::json;

    const T0: &str = "2024-01-01T00:00:00Z";

    fn deployment(replicas: i32, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": replicas, "selector": {}, "template": {}, "progressDeadlineSeconds": 60,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}},
            "status": status}))
        .unwrap()
    }

    fn reason<'a>(s: &'a DeploymentStatus, t: &str) -> Option<&'a str> {
        get(s, t).and_then(|c| c.reason.as_deref())
    }

    #[test]
    fn counts_add_up_over_replica_sets() {
        let now: Timestamp = T0.parse().unwrap();
        let old = test_rs("old", T0, 2, 2);
        let new = test_rs("new", T0, 2, 0);
        let d = deployment(3, json!({}));
        let s = calculate(&[&old, &new], Some(&new), &d, now);
        assert_eq!(
            (
                s.replicas,
                s.updated_replicas,
                s.ready_replicas,
                s.available_replicas,
                s.unavailable_replicas
            ),
            (Some(4), Some(2), Some(2), Some(2), Some(2))
        );
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(reason(&s, AVAILABLE), Some(MINIMUM_REPLICAS_AVAILABLE));
        let down = test_rs("old", T0, 2, 1);
        let s = calculate(&[&down], None, &d, now);
        assert_eq!(reason(&s, AVAILABLE), Some(MINIMUM_REPLICAS_UNAVAILABLE));
    }

    #[test]
    fn progress_then_completion_then_a_timeout() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let new = test_rs("new", T0, 3, 1);
        let mut d = deployment(
            3,
            json!({"replicas": 3, "updatedReplicas": 3,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated",
                            "lastUpdateTime": T0, "lastTransitionTime": T0}]}),
        );
        // One more available: progress, and a look again by the deadline.
        let (s, requeue) = rollout(&[&new], Some(&new), &d, t("2024-01-01T00:00:10Z"));
        assert_eq!(reason(&s, PROGRESSING), Some(RS_UPDATED));
        assert_eq!(requeue, Some(Duration::from_secs(60)));
        d.status = Some(s);
        // No progress for longer than the deadline.
        let (s, _) = rollout(&[&new], Some(&new), &d, t("2024-01-01T00:01:11Z"));
        assert_eq!(reason(&s, PROGRESSING), Some(TIMED_OUT));
        assert_eq!(
            get(&s, PROGRESSING).unwrap().status.as_deref(),
            Some("False")
        );
        // All available: complete, and no more looking.
        let done = test_rs("new", T0, 3, 3);
        let (s, requeue) = rollout(&[&done], Some(&done), &d, t("2024-01-01T00:01:12Z"));
        assert_eq!(reason(&s, PROGRESSING), Some(NEW_RS_AVAILABLE));
        assert_eq!(requeue, None);
    }

    #[test]
    fn conditions_keep_their_transition_time() {
        let t0: Timestamp = T0.parse().unwrap();
        let later: Timestamp = "2024-01-01T00:05:00Z".parse().unwrap();
        let mut s = DeploymentStatus::default();
        set(
            &mut s,
            condition(PROGRESSING, "True", NEW_RS_CREATED, "a".into(), t0),
        );
        set(
            &mut s,
            condition(PROGRESSING, "True", FOUND_NEW_RS, "b".into(), later),
        );
        let c = get(&s, PROGRESSING).unwrap();
        assert_eq!(c.reason.as_deref(), Some(FOUND_NEW_RS));
        assert_eq!(c.last_transition_time, Some(Time(t0)));
        assert_eq!(c.last_update_time, Some(Time(later)));
        assert_eq!(s.conditions.as_ref().unwrap().len(), 1);
    }
}
