//! NodePorts: a pod asking for host ports fits only nodes where none of
//! them is already taken (same protocol and port, on its address or on
//! every address).

use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::framework::{Filter, Verdict};
use crate::scheduler::plugins::Plugin;

const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

struct NodePorts<'a> {
    pod: &'a PodInfo,
}

pub fn filter(pod: &PodInfo) -> Option<Box<dyn Filter + '_>> {
    (!pod.host_ports.is_empty()).then(|| Box::new(NodePorts { pod }) as Box<dyn Filter>)
}

impl Filter for NodePorts<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::NodePorts
    }

    fn filter(&self, node: &NodeInfo) -> Verdict {
        if self.pod.host_ports.iter().any(|p| node.ports.conflicts(p)) {
            Err(vec![REASON.into()])
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node, pod, rejected};
    use serde_json::json;

    fn with_ports(name: &str, ports: serde_json::Value) -> PodInfo {
        pod(
            json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "ports": ports}]}}),
        )
    }

    #[test]
    fn host_ports_in_use_keep_pods_out() {
        let cluster = Cluster::new(vec![node("a", json!({})), node("b", json!({})), node("c", json!({}))])
            .with_pod("a", with_ports("web", json!([{"containerPort": 80, "hostPort": 8080}])))
            .with_pod("b", with_ports("dns", json!([{"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.2"}])));
        let no = || rejected(REASON);
        let cases = [
            (json!([{"containerPort": 80}]), vec![Ok(()), Ok(()), Ok(())]),
            (
                json!([{"containerPort": 80, "hostPort": 8080}]),
                vec![no(), Ok(()), Ok(())],
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
                vec![no(), Ok(()), Ok(())],
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]),
                vec![Ok(()), Ok(()), Ok(())],
            ),
            (
                json!([{"containerPort": 53, "hostPort": 53, "protocol": "UDP"}]),
                vec![Ok(()), no(), Ok(())],
            ),
            (
                json!([{"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.3"}]),
                vec![Ok(()); 3],
            ),
        ];
        for (ports, want) in cases {
            assert_eq!(
                cluster.filter(&with_ports("p", ports.clone()), |p, _| filter(p)),
                want,
                "{ports}"
            );
        }
    }
}
