//! A node and what the pods on it already hold: requests summed as pods
//! come and go, host ports in use, and how many pods carry affinity terms,
//! so a filter answers for a node without looking at its pods.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::pod_info::{ANY_IP, HostPort, PodInfo};
use crate::scheduler::resources::{self, Resources};
use crate::scheduler::selector::Labels;
use crate::scheduler::taints::Taint;

/// The parts of a Node the scheduler reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    /// Image name -> size in bytes, one entry per name the image goes by.
    pub images: BTreeMap<String, i64>,
}

impl NodeView {
    pub fn new(node: &Node) -> Self {
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        NodeView {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .map(Taint::from)
                .collect(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable: Resources::from_amounts(&resources::amounts(
                status.and_then(|s| s.allocatable.as_ref()),
            )),
            images: status
                .and_then(|s| s.images.as_ref())
                .into_iter()
                .flatten()
                .flat_map(|i| {
                    let size = i.size_bytes.unwrap_or(0);
                    i.names.iter().flatten().map(move |n| (n.clone(), size))
                })
                .collect(),
        }
    }
}

/// Host ports in use: (protocol, port, ip) -> pods using it.
#[derive(Clone, Debug, Default)]
pub struct HostPorts(BTreeMap<HostPort, usize>);

impl HostPorts {
    fn add(&mut self, p: &HostPort, sign: isize) {
        let n = self.0.entry(p.clone()).or_default();
        *n = n.saturating_add_signed(sign);
        if *n == 0 {
            self.0.remove(p);
        }
    }

    /// Whether `p` clashes with a port in use: the same protocol and port
    /// on the same address, or where either side binds every address.
    pub fn conflicts(&self, p: &HostPort) -> bool {
        let same_port = |h: &&HostPort| h.protocol == p.protocol && h.port == p.port;
        let mut range = self
            .0
            .range(
                HostPort {
                    protocol: p.protocol.clone(),
                    port: p.port,
                    ip: String::new(),
                }..,
            )
            .map(|(h, _)| h)
            .take_while(same_port);
        if p.ip == ANY_IP {
            range.next().is_some()
        } else {
            range.any(|h| h.ip == p.ip || h.ip == ANY_IP)
        }
    }
}

/// A node with the pods placed on it (bound or assumed).
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node: NodeView,
    /// False while pods name a node the cache has no object for (yet).
    pub present: bool,
    pub pods: Vec<Arc<PodInfo>>,
    /// Summed requests of its pods (`pods` counts them).
    pub requested: Resources,
    /// CPU and memory summed with defaults for pods that ask for none.
    pub non_zero_cpu: i64,
    pub non_zero_memory: i64,
    pub ports: HostPorts,
    /// Its pods with any pod affinity or anti-affinity, and those with
    /// required anti-affinity: what the affinity plugins walk, so that
    /// nodes full of plain pods cost them nothing.
    pub with_affinity: Vec<Arc<PodInfo>>,
    pub with_required_anti_affinity: Vec<Arc<PodInfo>>,
}

impl NodeInfo {
    pub fn new(node: NodeView, present: bool) -> Self {
        NodeInfo {
            node,
            present,
            pods: Vec::new(),
            requested: Resources::default(),
            non_zero_cpu: 0,
            non_zero_memory: 0,
            ports: HostPorts::default(),
            with_affinity: Vec::new(),
            with_required_anti_affinity: Vec::new(),
        }
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.account(&pod, 1);
        if pod.has_pod_affinity {
            self.with_affinity.push(pod.clone());
        }
        if !pod.required_anti_affinity.is_empty() {
            self.with_required_anti_affinity.push(pod.clone());
        }
        self.pods.push(pod);
    }

    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.key == key)?;
        let pod = self.pods.swap_remove(i);
        self.account(&pod, -1);
        for list in [
            &mut self.with_affinity,
            &mut self.with_required_anti_affinity,
        ] {
            if let Some(i) = list.iter().position(|p| p.key == key) {
                list.swap_remove(i);
            }
        }
        Some(pod)
    }

    fn account(&mut self, pod: &PodInfo, sign: i64) {
        self.requested.add(&pod.requests, sign);
        self.requested.pods += sign;
        self.non_zero_cpu += sign * pod.non_zero_cpu;
        self.non_zero_memory += sign * pod.non_zero_memory;
        for p in &pod.host_ports {
            self.ports.add(p, sign as isize);
        }
    }

    pub fn name(&self) -> &str {
        &self.node.name
    }

    pub fn labels(&self) -> &Labels {
        &self.node.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: &str, port: i32) -> HostPort {
        HostPort {
            protocol: "TCP".into(),
            port,
            ip: ip.into(),
        }
    }

    #[test]
    fn host_ports_clash_on_the_same_address_or_any_address() {
        let mut used = HostPorts::default();
        used.add(&port("10.0.0.1", 80), 1);
        assert!(used.conflicts(&port("10.0.0.1", 80)));
        assert!(used.conflicts(&port(ANY_IP, 80)));
        assert!(!used.conflicts(&port("10.0.0.2", 80)));
        assert!(!used.conflicts(&port("10.0.0.1", 81)));
        assert!(!used.conflicts(&HostPort {
            protocol: "UDP".into(),
            ..port("10.0.0.1", 80)
        }));
        used.add(&port(ANY_IP, 443), 1);
        assert!(used.conflicts(&port("10.0.0.9", 443)));
        used.add(&port(ANY_IP, 443), -1);
        assert!(!used.conflicts(&port("10.0.0.9", 443)));
    }
}
