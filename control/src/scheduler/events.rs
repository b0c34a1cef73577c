//! Changes in the cluster that may make an unschedulable pod schedulable.
//! Each plugin names the ones that can undo its rejections
//! ([`crate::scheduler::plugins::Plugin::requeued_by`]); the queue moves a
//! pod back only for those (upstream's `EventsToRegister`).

use crate::scheduler::cache::node_info::NodeView;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    NodeAdd,
    NodeUpdate(NodeChange),
    NodeDelete,
    /// A pod was placed on a node (bound, or its binding confirmed).
    AssignedPodAdd,
    /// A placed pod changed its labels, or asks for less.
    AssignedPodUpdate {
        labels: bool,
        scaled_down: bool,
    },
    /// A placed pod went away (deleted, finished, or its binding failed).
    AssignedPodDelete,
    /// A namespace's labels changed (namespace selectors of affinity terms).
    NamespaceChange,
}

/// What changed in a node that filters look at; heartbeats change none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeChange {
    pub allocatable: bool,
    pub labels: bool,
    /// Taints, or `spec.unschedulable`.
    pub taints: bool,
}

impl NodeChange {
    pub fn between(old: &NodeView, new: &NodeView) -> Self {
        NodeChange {
            allocatable: old.allocatable != new.allocatable,
            labels: old.labels != new.labels,
            taints: old.taints != new.taints || old.unschedulable != new.unschedulable,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == NodeChange::default()
    }
}
