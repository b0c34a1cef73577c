//! The pod's interfaces: a veth pair with one end in the pod as its
//! interface, a /32 from the pod CIDR, its gateway 169.254.1.1 on the link,
//! and the host side answering for that gateway.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context as _, bail};

use crate::netlink::{Netlink, POD_ROUTE_PROTOCOL};

/// The pods' gateway: link-local, the same in every pod, never on the wire
/// as an address (the host-side veth answers for it).
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

pub struct Wired {
    pub host_if: String,
    pub host_index: u32,
    pub host_mac: [u8; 6],
    pub pod_mac: [u8; 6],
}

/// Creates and configures the pair. A leftover of the same name (an ADD
/// that failed half-way) is removed first.
pub async fn wire(
    ns: &File,
    host_if: &str,
    ifname: &str,
    ip: Ipv4Addr,
    mtu: u32,
) -> anyhow::Result<Wired> {
    let host = Netlink::here()?;
    let pod = Netlink::in_netns(ns)?;
    host.del_link(host_if).await?;
    host.add_veth(host_if, ifname, ns, mtu).await?;
    let h = host
        .link(host_if)
        .await?
        .with_context(|| format!("{host_if} vanished after its creation"))?;
    let p = pod
        .link(ifname)
        .await?
        .with_context(|| format!("{ifname} is not in the pod after its creation"))?;
    let (Some(host_mac), Some(pod_mac)) = (h.mac, p.mac) else {
        bail!("the veth pair has no MAC addresses");
    };
    // Proxy ARP as the specification of the node has it; the pod also gets
    // a permanent entry for its gateway, so it never has to ask.
    set_sysctl(&format!("net/ipv4/conf/{host_if}/proxy_arp"), "1")?;
    host.set_up(h.index).await?;
    pod.set_up(p.index).await?;
    pod.add_address(p.index, IpAddr::V4(ip), 32).await?;
    pod.add_permanent_neighbour(p.index, GATEWAY, &host_mac)
        .await?;
    pod.add_pod_routes(p.index, GATEWAY).await?;
    host.add_link_route(ip, 32, h.index, POD_ROUTE_PROTOCOL)
        .await?;
    Ok(Wired {
        host_if: host_if.to_owned(),
        host_index: h.index,
        host_mac,
        pod_mac,
    })
}

/// Removes the pair (the pod's end and the node's route go with it).
/// Missing is fine: the namespace's end disappears with the namespace.
pub async fn unwire(host_if: &str) -> anyhow::Result<()> {
    Netlink::here()?.del_link(host_if).await?;
    Ok(())
}

/// What CHECK compares: the host side's index, and whether the pod's
/// interface holds the address.
pub async fn inspect(ns: &File, host_if: &str, ifname: &str, ip: Ipv4Addr) -> anyhow::Result<u32> {
    let host = Netlink::here()?;
    let h = host
        .link(host_if)
        .await?
        .with_context(|| format!("the host-side veth {host_if} is missing"))?;
    let pod = Netlink::in_netns(ns)?;
    let p = pod
        .link(ifname)
        .await?
        .with_context(|| format!("the pod has no {ifname}"))?;
    let addrs = pod.addresses(Some(p.index)).await?;
    if !addrs.iter().any(|(_, a)| *a == IpAddr::V4(ip)) {
        bail!("{ifname} in the pod does not hold {ip}");
    }
    Ok(h.index)
}

/// Writes a sysctl of the caller's network namespace.
pub fn set_sysctl(key: &str, value: &str) -> anyhow::Result<()> {
    let path = format!("/proc/sys/{key}");
    std::fs::write(&path, value).with_context(|| format!("writing {path}"))
}
