//! The cluster as one scheduling cycle sees it: the nodes that exist, in a
//! stable order, with what their pods hold, and what the plugins look up
//! besides. It borrows the cache, which nothing changes while a cycle runs.

use std::collections::HashMap;

use super::node_info::NodeInfo;
use super::pod_info::PodInfo;
use super::workloads::Workloads;
use crate::scheduler::selector::{Labels, Selector};

pub struct Snapshot<'a> {
    pub nodes: Vec<&'a NodeInfo>,
    namespaces: &'a HashMap<String, Labels>,
    images: &'a HashMap<String, usize>,
    workloads: &'a Workloads,
}

impl<'a> Snapshot<'a> {
    pub fn new(
        nodes: Vec<&'a NodeInfo>,
        namespaces: &'a HashMap<String, Labels>,
        images: &'a HashMap<String, usize>,
        workloads: &'a Workloads,
    ) -> Self {
        Snapshot {
            nodes,
            namespaces,
            images,
            workloads,
        }
    }

    /// Labels of a namespace, None when it is not known.
    pub fn namespace_labels(&self, namespace: &str) -> Option<&'a Labels> {
        self.namespaces.get(namespace)
    }

    /// How many nodes have `image`.
    pub fn nodes_with_image(&self, image: &str) -> usize {
        self.images.get(image).copied().unwrap_or(0)
    }

    /// The selector of the system's default spread constraints for `pod`
    /// (everything when it has none).
    pub fn default_selector(&self, pod: &PodInfo) -> Selector {
        self.workloads.default_selector(pod)
    }
}
