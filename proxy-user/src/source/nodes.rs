//! Nodes, as pod routing reads them: name, pod CIDRs, InternalIP. Sources
//! publish this projection only when it changes, so a node's heartbeats
//! never wake the routing.

use k8s_openapi::api::core::v1::Node;
use tokio::sync::watch;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeNet {
    pub name: String,
    /// `spec.podCIDRs` (or the older `spec.podCIDR`), as written.
    pub pod_cidrs: Vec<String>,
    /// `status.addresses` of type InternalIP, as written.
    pub internal_ips: Vec<String>,
}

/// None until the source has listed all nodes once.
pub type NodeSender = watch::Sender<Option<Vec<NodeNet>>>;
pub type NodeReceiver = watch::Receiver<Option<Vec<NodeNet>>>;

pub fn project(node: &Node) -> NodeNet {
    let spec = node.spec.as_ref();
    let mut pod_cidrs = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if pod_cidrs.is_empty()
        && let Some(c) = spec.and_then(|s| s.pod_cidr.clone())
    {
        pod_cidrs.push(c);
    }
    let internal_ips = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .map(|a| {
            a.iter()
                .filter(|a| a.type_ == "InternalIP")
                .map(|a| a.address.clone())
                .collect()
        })
        .unwrap_or_default();
    NodeNet {
        name: node.metadata.name.clone().unwrap_or_default(),
        pod_cidrs,
        internal_ips,
    }
}

/// Publishes the nodes if they differ from the last published list.
pub fn publish<'a>(tx: &NodeSender, nodes: impl Iterator<Item = &'a Node>) {
    let mut list: Vec<NodeNet> = nodes.map(project).collect();
    list.sort();
    tx.send_if_modified(|cur| {
        if cur.as_ref() == Some(&list) {
            false
        } else {
            *cur = Some(list);
            true
        }
    });
}
