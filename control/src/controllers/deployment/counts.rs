//! Replica counts over sets of ReplicaSets, as upstream's deployment util
//! sums them: spec for what is asked, status for what runs.

use k8s_openapi::api::apps::v1::ReplicaSet;

pub fn spec(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

pub fn actual(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

pub fn ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

pub fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

pub fn sum<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>, f: fn(&ReplicaSet) -> i32) -> i32 {
    rss.into_iter().map(f).sum()
}

/// Asked for any replicas.
pub fn is_active(rs: &ReplicaSet) -> bool {
    spec(rs) > 0
}

/// Oldest first, by creation time then name (upstream's
/// ReplicaSetsByCreationTimestamp).
pub fn by_age(rss: &mut [ReplicaSet]) {
    rss.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name)
            .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
}

#[cfg(test)]
pub fn test_rs(name: &str, created: &str, spec: i32, available: i32) -> ReplicaSet {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"replicas": spec, "selector": {}},
        "status": {"replicas": spec, "readyReplicas": available, "availableReplicas": available}}))
    .unwrap()
}
