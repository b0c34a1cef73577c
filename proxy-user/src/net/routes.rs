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

/// The kernel's routes `cidr via node`: exactly `want`, or none of the
/// agent's when `want` is None (other modes, cleanup).
pub async fn sync_kernel(
    nl: &Netlink,
    want: Option<&BTreeMap<Ipv4Network, Ipv4Addr>>,
) -> anyhow::Result<Changes> {
    let empty = BTreeMap::new();
    let want = want.unwrap_or(&empty);
    let mut c = Changes::default();
    let have = nl.routes_of(NODE_ROUTE_PROTOCOL).await?;
    for r in &have {
        let keep = Ipv4Network::new(r.dst, r.prefix)
            .is_ok_and(|cidr| r.gateway.is_some() && want.get(&cidr) == r.gateway.as_ref());
        if !keep {
            nl.del_route(r.message.clone()).await?;
            c.removed += 1;
        }
    }
    for (cidr, node) in want {
        let present = have.iter().any(|r| {
            r.dst == cidr.network() && r.prefix == cidr.prefix() && r.gateway == Some(*node)
        });
        if !present {
            nl.add_gateway_route(cidr.network(), cidr.prefix(), *node, NODE_ROUTE_PROTOCOL)
                .await?;
            c.added += 1;
        }
    }
    Ok(c)
}
