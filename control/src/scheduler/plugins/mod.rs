//! The default profile: upstream's filter order and score weights. Each
//! plugin lives in its own file and prepares itself for one pod (its
//! PreFilter or PreScore), or stays out when it has nothing to say.

mod balanced_allocation;
mod image_locality;
mod inter_pod_affinity;
mod node_affinity;
mod node_name;
mod node_ports;
mod node_resources_fit;
mod node_unschedulable;
mod pod_topology_spread;
mod taint_toleration;

use crate::scheduler::cache::Snapshot;
use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::events::ClusterEvent;
use crate::scheduler::framework::{Filter, Score};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plugin {
    NodeUnschedulable,
    NodeName,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    PodTopologySpread,
    InterPodAffinity,
    BalancedAllocation,
    ImageLocality,
}

impl Plugin {
    pub fn name(self) -> &'static str {
        match self {
            Plugin::NodeUnschedulable => "NodeUnschedulable",
            Plugin::NodeName => "NodeName",
            Plugin::TaintToleration => "TaintToleration",
            Plugin::NodeAffinity => "NodeAffinity",
            Plugin::NodePorts => "NodePorts",
            Plugin::NodeResourcesFit => "NodeResourcesFit",
            Plugin::PodTopologySpread => "PodTopologySpread",
            Plugin::InterPodAffinity => "InterPodAffinity",
            Plugin::BalancedAllocation => "NodeResourcesBalancedAllocation",
            Plugin::ImageLocality => "ImageLocality",
        }
    }

    /// Whether `event` may undo a rejection by this plugin (upstream's
    /// `EventsToRegister`, with label and taint changes counted for every
    /// node filter as upstream does).
    pub fn requeued_by(self, event: ClusterEvent) -> bool {
        use ClusterEvent::*;
        let node_changed = match event {
            NodeAdd => return true,
            NodeUpdate(c) => Some(c),
            _ => None,
        };
        match self {
            Plugin::NodeUnschedulable
            | Plugin::NodeName
            | Plugin::TaintToleration
            | Plugin::NodeAffinity => node_changed.is_some_and(|c| c.labels || c.taints),
            Plugin::NodePorts => {
                matches!(event, AssignedPodDelete)
                    || node_changed.is_some_and(|c| c.labels || c.taints)
            }
            Plugin::NodeResourcesFit => {
                matches!(
                    event,
                    AssignedPodDelete
                        | AssignedPodUpdate {
                            scaled_down: true,
                            ..
                        }
                ) || node_changed.is_some_and(|c| c.allocatable || c.labels || c.taints)
            }
            Plugin::InterPodAffinity => {
                matches!(
                    event,
                    AssignedPodAdd
                        | AssignedPodDelete
                        | AssignedPodUpdate { labels: true, .. }
                        | NamespaceChange
                ) || node_changed.is_some_and(|c| c.labels || c.taints)
            }
            Plugin::PodTopologySpread => {
                matches!(
                    event,
                    AssignedPodAdd
                        | AssignedPodDelete
                        | AssignedPodUpdate { labels: true, .. }
                        | NodeDelete
                ) || node_changed.is_some_and(|c| c.labels || c.taints)
            }
            Plugin::BalancedAllocation | Plugin::ImageLocality => false,
        }
    }
}

/// A set of plugins (those that rejected a pod).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plugins(u16);

impl Plugins {
    pub fn insert(&mut self, p: Plugin) {
        self.0 |= 1 << p as u16;
    }

    pub fn contains(self, p: Plugin) -> bool {
        self.0 & (1 << p as u16) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `event` may help a pod these rejected. A pod no plugin
    /// rejected (there were no nodes) is helped by anything.
    pub fn requeued_by(self, event: ClusterEvent) -> bool {
        self.is_empty()
            || ALL
                .iter()
                .any(|p| self.contains(*p) && p.requeued_by(event))
    }
}

impl std::fmt::Display for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = ALL
            .iter()
            .filter(|p| self.contains(**p))
            .map(|p| p.name())
            .collect();
        f.write_str(&names.join(", "))
    }
}

const ALL: [Plugin; 10] = [
    Plugin::NodeUnschedulable,
    Plugin::NodeName,
    Plugin::TaintToleration,
    Plugin::NodeAffinity,
    Plugin::NodePorts,
    Plugin::NodeResourcesFit,
    Plugin::PodTopologySpread,
    Plugin::InterPodAffinity,
    Plugin::BalancedAllocation,
    Plugin::ImageLocality,
];

/// The filters that have something to check for `pod`, in upstream's order.
pub fn filters<'a>(pod: &'a PodInfo, snap: &Snapshot<'a>) -> Vec<Box<dyn Filter + 'a>> {
    let all: [Option<Box<dyn Filter + 'a>>; 8] = [
        node_unschedulable::filter(pod),
        node_name::filter(pod),
        taint_toleration::filter(pod),
        node_affinity::filter(pod),
        node_ports::filter(pod),
        node_resources_fit::filter(pod),
        pod_topology_spread::filter(pod, snap),
        inter_pod_affinity::filter(pod, snap),
    ];
    all.into_iter().flatten().collect()
}

/// The scores that have something to say about `pod` on `nodes`, with
/// upstream's default weights.
pub fn scores<'a>(
    pod: &'a PodInfo,
    snap: &Snapshot<'a>,
    nodes: &[&'a NodeInfo],
) -> Vec<(i64, Box<dyn Score + 'a>)> {
    let all: [(i64, Option<Box<dyn Score + 'a>>); 7] = [
        (3, taint_toleration::score(pod)),
        (2, node_affinity::score(pod)),
        (2, pod_topology_spread::score(pod, snap, nodes)),
        (2, inter_pod_affinity::score(pod, snap)),
        (1, node_resources_fit::score(pod)),
        (1, balanced_allocation::score(pod)),
        (1, image_locality::score(pod, snap)),
    ];
    all.into_iter().filter_map(|(w, s)| Some((w, s?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::events::NodeChange;

    #[test]
    fn only_relevant_events_move_a_rejected_pod() {
        let mut fit = Plugins::default();
        fit.insert(Plugin::NodeResourcesFit);
        assert!(fit.requeued_by(ClusterEvent::NodeAdd));
        assert!(fit.requeued_by(ClusterEvent::AssignedPodDelete));
        assert!(!fit.requeued_by(ClusterEvent::AssignedPodAdd));
        let heartbeat = NodeChange::default();
        assert!(!fit.requeued_by(ClusterEvent::NodeUpdate(heartbeat)));
        let bigger = NodeChange {
            allocatable: true,
            ..heartbeat
        };
        assert!(fit.requeued_by(ClusterEvent::NodeUpdate(bigger)));

        let mut taints = Plugins::default();
        taints.insert(Plugin::TaintToleration);
        assert!(!taints.requeued_by(ClusterEvent::NodeUpdate(bigger)));
        assert!(!taints.requeued_by(ClusterEvent::AssignedPodDelete));

        assert!(Plugins::default().requeued_by(ClusterEvent::AssignedPodAdd));
    }
}
