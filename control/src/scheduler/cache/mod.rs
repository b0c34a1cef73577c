//! What the scheduler knows of the cluster: nodes, the pods placed on them
//! (bound, or assumed while their binding is on its way), namespace labels,
//! and the selectors of Services and ReplicaSets (for default spreading).
//! Fed by the informers; read through a [`Snapshot`] per cycle.
//!
//! A pod is assumed on its node as soon as it is chosen, so the next pod
//! already sees its requests: a burst of pods never overcommits a node. The
//! informer's copy of the bound pod later replaces the assumed one; a
//! failed binding forgets it.

pub mod node_info;
pub mod pod_info;
pub mod snapshot;
pub mod workloads;

use std::collections::HashMap;
use std::sync::Arc;

use node_info::{NodeInfo, NodeView};
use pod_info::{PodInfo, PodKey};
pub use snapshot::Snapshot;
use workloads::Workloads;

use crate::scheduler::events::{ClusterEvent, NodeChange};
use crate::scheduler::selector::Labels;

#[derive(Debug)]
struct Placed {
    node: String,
    assumed: bool,
}

#[derive(Default)]
pub struct Cache {
    nodes: HashMap<String, NodeInfo>,
    /// Names of the nodes that exist, in the order they came: the order
    /// cycles go through them.
    order: Vec<String>,
    pods: HashMap<PodKey, Placed>,
    namespaces: HashMap<String, Labels>,
    /// Image name -> how many nodes have it.
    images: HashMap<String, usize>,
    pub workloads: Workloads,
}

impl Cache {
    /// Adds or updates a node; the event, if anything filters read changed.
    pub fn set_node(&mut self, view: NodeView) -> Option<ClusterEvent> {
        let name = view.name.clone();
        count_images(&mut self.images, &view, 1);
        let event = match self.nodes.get_mut(&name) {
            Some(info) if info.present => {
                count_images(&mut self.images, &info.node, -1);
                let change = NodeChange::between(&info.node, &view);
                info.node = view;
                (!change.is_empty()).then_some(ClusterEvent::NodeUpdate(change))
            }
            Some(info) => {
                info.node = view;
                info.present = true;
                Some(ClusterEvent::NodeAdd)
            }
            None => {
                self.nodes.insert(name.clone(), NodeInfo::new(view, true));
                Some(ClusterEvent::NodeAdd)
            }
        };
        if event == Some(ClusterEvent::NodeAdd) {
            self.order.push(name);
        }
        event
    }

    /// Its pods stay accounted under its name: they may outlive it briefly.
    pub fn remove_node(&mut self, name: &str) -> Option<ClusterEvent> {
        let info = self.nodes.get_mut(name).filter(|i| i.present)?;
        count_images(&mut self.images, &info.node, -1);
        info.present = false;
        info.node = NodeView {
            name: name.to_owned(),
            ..NodeView::default()
        };
        if info.pods.is_empty() {
            self.nodes.remove(name);
        }
        self.order.retain(|n| n != name);
        Some(ClusterEvent::NodeDelete)
    }

    /// Names of the nodes that exist.
    pub fn node_names(&self) -> Vec<String> {
        self.order.clone()
    }

    /// A pod the informer shows on a node: added, updated, or confirming
    /// the assumed copy.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) -> Option<ClusterEvent> {
        let node = pod.node_name.clone()?;
        let old = self.take(&pod.key);
        self.place(pod.clone(), node, false);
        match old {
            Some((old, false)) => {
                let labels = old.labels != pod.labels;
                let scaled_down = pod.requests.any_below(&old.requests);
                (labels || scaled_down).then_some(ClusterEvent::AssignedPodUpdate {
                    labels,
                    scaled_down,
                })
            }
            _ => Some(ClusterEvent::AssignedPodAdd),
        }
    }

    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        self.take(key).map(|(p, _)| p)
    }

    /// Places a chosen pod (its `node_name` set) before it is bound.
    pub fn assume(&mut self, pod: Arc<PodInfo>) {
        let Some(node) = pod.node_name.clone() else {
            return;
        };
        self.take(&pod.key);
        self.place(pod, node, true);
    }

    /// Takes back an assumed pod whose binding failed; `uid` tells it from
    /// a pod recreated under its name and assumed since.
    pub fn forget(&mut self, key: &str, uid: &str) -> Option<Arc<PodInfo>> {
        let placed = self.pods.get(key).filter(|p| p.assumed)?;
        let info = self.nodes.get(&placed.node)?;
        if !info.pods.iter().any(|p| p.key == key && p.uid == uid) {
            return None;
        }
        self.remove_pod(key)
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// Whether the pod is on a node, bound or assumed.
    pub fn is_placed(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// Keys of the pods the informer showed bound (not merely assumed).
    pub fn bound_keys(&self) -> Vec<PodKey> {
        self.pods
            .iter()
            .filter(|(_, p)| !p.assumed)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Sets a namespace's labels; whether they changed.
    pub fn set_namespace(&mut self, name: &str, labels: Labels) -> bool {
        self.namespaces.insert(name.to_owned(), labels.clone()) != Some(labels)
    }

    pub fn remove_namespace(&mut self, name: &str) -> bool {
        self.namespaces.remove(name).is_some()
    }

    pub fn namespace_names(&self) -> Vec<String> {
        self.namespaces.keys().cloned().collect()
    }

    pub fn snapshot(&self) -> Snapshot<'_> {
        let nodes = self
            .order
            .iter()
            .filter_map(|n| self.nodes.get(n))
            .collect();
        Snapshot::new(nodes, &self.namespaces, &self.images, &self.workloads)
    }

    fn place(&mut self, pod: Arc<PodInfo>, node: String, assumed: bool) {
        let info = self.nodes.entry(node.clone()).or_insert_with(|| {
            let ghost = NodeView {
                name: node.clone(),
                ..NodeView::default()
            };
            NodeInfo::new(ghost, false)
        });
        self.pods.insert(pod.key.clone(), Placed { node, assumed });
        info.add_pod(pod);
    }

    fn take(&mut self, key: &str) -> Option<(Arc<PodInfo>, bool)> {
        let placed = self.pods.remove(key)?;
        let info = self.nodes.get_mut(&placed.node)?;
        let pod = info.remove_pod(key);
        if !info.present && info.pods.is_empty() {
            self.nodes.remove(&placed.node);
        }
        pod.map(|p| (p, placed.assumed))
    }
}

fn count_images(images: &mut HashMap<String, usize>, node: &NodeView, sign: isize) {
    for name in node.images.keys() {
        let n = images.entry(name.clone()).or_default();
        *n = n.saturating_add_signed(sign);
        if *n == 0 {
            images.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, pod};
    use serde_json::json;

    #[test]
    fn assumed_pods_count_until_confirmed_or_forgotten() {
        let mut cache = Cache::default();
        cache.set_node(node("n1", json!({"cpu": "2", "pods": "10"})));
        let p = pod(json!({"metadata": {"name": "a"}, "spec": {"containers": [
            {"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}));
        cache.assume(Arc::new(p.assigned_to("n1")));
        let requested = |c: &Cache| c.snapshot().nodes[0].requested.milli_cpu;
        assert_eq!(requested(&cache), 1000);
        assert!(cache.is_assumed(&p.key));

        // The informer shows it bound: counted once, no longer assumed.
        cache.add_pod(Arc::new(p.assigned_to("n1")));
        assert_eq!(requested(&cache), 1000);
        assert!(!cache.is_assumed(&p.key) && cache.forget(&p.key, &p.uid).is_none());

        cache.remove_pod(&p.key);
        assert_eq!(requested(&cache), 0);

        cache.assume(Arc::new(p.assigned_to("n1")));
        assert!(cache.forget(&p.key, "another uid").is_none());
        assert!(cache.forget(&p.key, &p.uid).is_some());
        assert_eq!(requested(&cache), 0);
    }

    #[test]
    fn pods_on_an_unknown_node_wait_for_it() {
        let mut cache = Cache::default();
        let p = pod(
            json!({"metadata": {"name": "a"}, "spec": {"nodeName": "n1", "containers": [
            {"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}),
        );
        assert_eq!(
            cache.add_pod(Arc::new(p)),
            Some(ClusterEvent::AssignedPodAdd)
        );
        assert!(cache.snapshot().nodes.is_empty(), "no node object yet");
        assert_eq!(
            cache.set_node(node("n1", json!({"cpu": "2"}))),
            Some(ClusterEvent::NodeAdd)
        );
        assert_eq!(cache.snapshot().nodes[0].requested.milli_cpu, 1000);
        // A heartbeat changes nothing filters read.
        assert_eq!(cache.set_node(node("n1", json!({"cpu": "2"}))), None);
        assert_eq!(cache.remove_node("n1"), Some(ClusterEvent::NodeDelete));
        assert!(cache.snapshot().nodes.is_empty());
    }
}
