//! The system's default constraints (upstream's `systemDefaulted`), for a
//! pod that names none: spread by host and by zone, scored only, over the
//! pods its Services and its ReplicaSet select.

use crate::scheduler::cache::Snapshot;
use crate::scheduler::cache::pod_info::{PodInfo, SpreadConstraint};

pub const HOSTNAME: &str = "kubernetes.io/hostname";
pub const ZONE: &str = "topology.kubernetes.io/zone";

/// Empty when nothing selects the pod: there is nothing to spread it from.
pub fn constraints(pod: &PodInfo, snap: &Snapshot<'_>) -> Vec<SpreadConstraint> {
    let selector = snap.default_selector(pod);
    if selector.is_everything() {
        return Vec::new();
    }
    [(HOSTNAME, 3), (ZONE, 5)]
        .into_iter()
        .map(|(key, max_skew)| SpreadConstraint {
            max_skew,
            topology_key: key.to_owned(),
            hard: false,
            selector: selector.clone(),
            min_domains: 1,
            honor_affinity: true,
            honor_taints: false,
        })
        .collect()
}
