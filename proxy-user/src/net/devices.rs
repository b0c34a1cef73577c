//! The node's devices: the uplink (holding the node's address) and the VXLAN
//! device the agent makes.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context as _;

use crate::netlink::Netlink;

/// VXLAN over IPv4: outer IPv4 (20), UDP (8), VXLAN (8), inner Ethernet (14).
pub const VXLAN_OVERHEAD: u32 = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub mac: [u8; 6],
}

/// The device that holds `address`.
pub async fn uplink(nl: &Netlink, address: Ipv4Addr) -> anyhow::Result<Device> {
    let index = nl
        .addresses(None)
        .await?
        .into_iter()
        .find(|(_, a)| *a == IpAddr::V4(address))
        .map(|(i, _)| i)
        .with_context(|| {
            format!("no device holds this node's InternalIP {address}: which is the uplink?")
        })?;
    let link = nl
        .link_by_index(index)
        .await?
        .with_context(|| format!("link {index} vanished"))?;
    Ok(Device {
        index,
        name: link.name,
        mtu: link.mtu.unwrap_or(1500),
        mac: link.mac.unwrap_or_default(),
    })
}

/// The VXLAN device, made if missing (an earlier agent's is reused).
pub async fn ensure_vxlan(nl: &Netlink, name: &str, port: u16, mtu: u32) -> anyhow::Result<Device> {
    if nl.link(name).await?.is_none() {
        nl.add_vxlan_external(name, port, mtu).await?;
    }
    let link = nl
        .link(name)
        .await?
        .with_context(|| format!("{name} vanished after its creation"))?;
    nl.set_up(link.index).await?;
    Ok(Device {
        index: link.index,
        name: name.to_owned(),
        mtu: link.mtu.unwrap_or(mtu),
        mac: link.mac.unwrap_or_default(),
    })
}

/// A device's IPv4 forwarding switch (`net.ipv4.conf.<dev>.forwarding`).
pub fn forwarding(dev: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{dev}/forwarding"))
        .is_ok_and(|v| v.trim() == "1")
}
