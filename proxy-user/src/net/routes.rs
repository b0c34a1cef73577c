//! Routes to other nodes' pod CIDRs: the route map always, and in kernel mode
//! the kernel's routes too (marked with the agent's protocol, so it removes
//! only its own).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::{IpNetwork, Ipv4Network};

use crate::maps::NetMaps;
use crate::netlink::{NODE_ROUTE_PROTOCOL, Netlink};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: usize,
    pub removed: usize,
}

pub fn sync_map(
    maps: &mut NetMaps,
    want: &BTreeMap<Ipv4Network, Ipv4Addr>,
) -> anyhow::Result<Changes> {
    let mut c = Changes::default();
    let have = maps.routes()?;
    for r in &have {
        let keep = match (r.cidr, r.node) {
            (IpNetwork::V4(cidr), IpAddr::V4(node)) => want.get(&cidr) == Some(&node),
            _ => false,
        };
        if !keep {
            maps.remove_route(r.cidr)?;
            c.removed += 1;
        }
    }
    for (cidr, node) in want {
        let present = have
            .iter()
            .any(|r| r.cidr == IpNetwork::V4(*cidr) && r.node == IpAddr::V4(*node));
        if !present {
            maps.put_route(IpNetwork::V4(*cidr), IpAddr::V4(*node))?;
            c.added += 1;
        }
    }
    Ok(c)
}

/// The VXLAN device the kernel's routes go through, in vxlan mode.
#[derive(Debug, Clone, Copy)]
pub struct Vxlan {
    pub index: u32,
    pub vni: u32,
    /// The neighbour entry of every node on the device: frames need a
    /// destination MAC, and the receiving node's `from_node` rewrites it.
    pub mac: [u8; 6],
}

/// The kernel's routes to other nodes' pod CIDRs, for the node's own
/// packets (pods' packets are routed by the programs before the kernel
/// sees them, except in kernel mode): `cidr via node`, or through the VXLAN
/// device with the node as the tunnel's remote end. Exactly `want`, or none
/// of the agent's when `want` is None (cleanup).
pub async fn sync_kernel(
    nl: &Netlink,
    want: Option<&BTreeMap<Ipv4Network, Ipv4Addr>>,
    vxlan: Option<Vxlan>,
) -> anyhow::Result<Changes> {
    let empty = BTreeMap::new();
    let want = want.unwrap_or(&empty);
    let mut c = Changes::default();
    let have = nl.routes_of(NODE_ROUTE_PROTOCOL).await?;
    let right_device = |oif: Option<u32>| match vxlan {
        Some(v) => oif == Some(v.index),
        None => true,
    };
    for r in &have {
        let keep = Ipv4Network::new(r.dst, r.prefix).is_ok_and(|cidr| {
            r.gateway.is_some() && want.get(&cidr) == r.gateway.as_ref() && right_device(r.oif)
        });
        if !keep {
            nl.del_route(r.message.clone()).await?;
            c.removed += 1;
        }
    }
    for (cidr, node) in want {
        let present = have.iter().any(|r| {
            r.dst == cidr.network()
                && r.prefix == cidr.prefix()
                && r.gateway == Some(*node)
                && right_device(r.oif)
        });
        if let Some(v) = vxlan {
            nl.add_permanent_neighbour(v.index, *node, &v.mac).await?;
        }
        if present {
            continue;
        }
        match vxlan {
            Some(v) => {
                nl.add_vxlan_route(
                    cidr.network(),
                    cidr.prefix(),
                    *node,
                    v.index,
                    v.vni,
                    NODE_ROUTE_PROTOCOL,
                )
                .await?
            }
            None => {
                nl.add_gateway_route(cidr.network(), cidr.prefix(), *node, NODE_ROUTE_PROTOCOL)
                    .await?
            }
        }
        c.added += 1;
    }
    Ok(c)
}
