//! The cluster as one scheduling cycle sees it: the nodes that exist, in a
//! stable order, with what their pods hold. It borrows the cache, which
//! nothing changes while a cycle runs.

use std::collections::HashMap;

use super::node_info::NodeInfo;
use crate::scheduler::selector::Labels;

pub struct Snapshot<'a> {
    pub nodes: Vec<&'a NodeInfo>,
    namespaces: &'a HashMap<String, Labels>,
    images: &'a HashMap<String, usize>,
}

impl<'a> Snapshot<'a> {
    pub fn new(
        nodes: Vec<&'a NodeInfo>,
        namespaces: &'a HashMap<String, Labels>,
        images: &'a HashMap<String, usize>,
    ) -> Self {
        Snapshot {
            nodes,
            namespaces,
            images,
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
}
