//! Pure: the nodes in, this node's pod CIDR and address and the routes to
//! every other node's pod CIDR out. IPv4 only, as the datapath.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use crate::source::NodeNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Own {
    pub pod_cidr: Ipv4Network,
    pub address: Ipv4Addr,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// None until this node has both a pod CIDR and an InternalIP.
    pub own: Option<Own>,
    /// Other nodes' pod CIDRs -> their InternalIP.
    pub remote: BTreeMap<Ipv4Network, Ipv4Addr>,
    /// Nodes left out, with why (no pod CIDR yet, no address, overlap).
    pub skipped: Vec<(String, &'static str)>,
}

fn first_v4_cidr(n: &NodeNet) -> Option<Ipv4Network> {
    n.pod_cidrs
        .iter()
        .find_map(|c| c.parse::<Ipv4Network>().ok())
}

fn first_v4_ip(n: &NodeNet) -> Option<Ipv4Addr> {
    n.internal_ips
        .iter()
        .find_map(|a| a.parse::<Ipv4Addr>().ok())
}

pub fn plan(nodes: &[NodeNet], me: &str) -> Plan {
    let mut plan = Plan::default();
    let own = nodes.iter().find(|n| n.name == me);
    plan.own = own.and_then(|n| {
        Some(Own {
            pod_cidr: first_v4_cidr(n)?,
            address: first_v4_ip(n)?,
        })
    });
    for n in nodes.iter().filter(|n| n.name != me) {
        let (Some(cidr), Some(ip)) = (first_v4_cidr(n), first_v4_ip(n)) else {
            let why = if first_v4_cidr(n).is_none() {
                "no IPv4 pod CIDR"
            } else {
                "no IPv4 InternalIP"
            };
            plan.skipped.push((n.name.clone(), why));
            continue;
        };
        let clash = plan
            .own
            .is_some_and(|o| o.pod_cidr.overlaps(cidr) || o.address == ip)
            || plan.remote.keys().any(|c| c.overlaps(cidr));
        if clash {
            plan.skipped.push((
                n.name.clone(),
                "pod CIDR or address overlaps another node's",
            ));
            continue;
        }
        plan.remote.insert(cidr, ip);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidrs: &[&str], ips: &[&str]) -> NodeNet {
        NodeNet {
            name: name.into(),
            pod_cidrs: cidrs.iter().map(|s| s.to_string()).collect(),
            internal_ips: ips.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn own_and_remote_routes() {
        let nodes = [
            node("a", &["10.244.0.0/24"], &["192.168.1.1"]),
            node(
                "b",
                &["fd00::/64", "10.244.1.0/24"],
                &["fd01::2", "192.168.1.2"],
            ),
            node("c", &[], &["192.168.1.3"]),
            node("d", &["10.244.0.128/25"], &["192.168.1.4"]),
        ];
        let p = plan(&nodes, "a");
        assert_eq!(
            p.own,
            Some(Own {
                pod_cidr: "10.244.0.0/24".parse().unwrap(),
                address: "192.168.1.1".parse().unwrap()
            })
        );
        assert_eq!(
            p.remote.into_iter().collect::<Vec<_>>(),
            [(
                "10.244.1.0/24".parse().unwrap(),
                "192.168.1.2".parse().unwrap()
            )]
        );
        let skipped: Vec<&str> = p.skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(skipped, ["c", "d"]);
    }

    #[test]
    fn no_own_cidr_yet() {
        let p = plan(&[node("a", &[], &["192.168.1.1"])], "a");
        assert_eq!(p.own, None);
    }
}
