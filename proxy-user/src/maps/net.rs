//! Typed access to the pinned pod-routing maps: the endpoints (written by the
//! CNI plugin), the routes and the config (written by the agent), and the
//! programs' counters.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use anyhow::{Context as _, bail};
use aya::{
    Ebpf,
    maps::{Array, HashMap, Map, MapData, PerCpuArray, lpm_trie::Key, lpm_trie::LpmTrie},
};
use ipnetwork::IpNetwork;
use proxy_ebpf::{Addr, Endpoint, NetConfig, RouteValue, map_names, net_stat};
use serde::Serialize;

use super::{addr_from_ip, ip_from_addr};

pub struct NetMaps {
    pub endpoints: HashMap<MapData, Addr, Endpoint>,
    pub routes: LpmTrie<MapData, Addr, RouteValue>,
    pub config: Array<MapData, NetConfig>,
    pub stats: PerCpuArray<MapData, u64>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EndpointView {
    pub ip: IpAddr,
    pub ifindex: u32,
    /// The host-side veth's name, when it still exists.
    pub interface: Option<String>,
    pub pod_mac: String,
    pub host_mac: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteView {
    pub cidr: IpNetwork,
    pub node: IpAddr,
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The route map's key for a CIDR: IPv4 prefixes sit after the 96 bits of
/// the IPv4-mapped prefix.
pub fn route_key(cidr: IpNetwork) -> Key<Addr> {
    let bits = match cidr {
        IpNetwork::V4(n) => 96 + u32::from(n.prefix()),
        IpNetwork::V6(n) => u32::from(n.prefix()),
    };
    Key::new(bits, addr_from_ip(cidr.network()))
}

fn cidr_from_key(key: &Key<Addr>) -> anyhow::Result<IpNetwork> {
    let ip = ip_from_addr(&key.data());
    let bits = key.prefix_len();
    Ok(match ip {
        IpAddr::V4(v4) => IpNetwork::new(IpAddr::V4(v4), bits.saturating_sub(96) as u8)?,
        IpAddr::V6(_) => IpNetwork::new(ip, bits as u8)?,
    })
}

impl NetMaps {
    /// Takes the maps out of a loaded object (they are pinned by then).
    pub fn take(ebpf: &mut Ebpf) -> anyhow::Result<Self> {
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .with_context(|| format!("the eBPF object has no map {name}"))
        };
        Ok(Self {
            endpoints: take(map_names::ENDPOINTS)?.try_into()?,
            routes: take(map_names::ROUTES)?.try_into()?,
            config: take(map_names::NET_CONFIG)?.try_into()?,
            stats: take(map_names::NET_STATS)?.try_into()?,
        })
    }

    /// Opens the maps an agent pinned in `dir`; an error that names what is
    /// missing when it has not.
    pub fn open_pinned(dir: &Path) -> anyhow::Result<Self> {
        let missing: Vec<&str> = map_names::NET
            .into_iter()
            .filter(|n| !dir.join(n).exists())
            .collect();
        if !missing.is_empty() {
            bail!(
                "no pinned pod-routing maps in {} (missing {}): is the agent running with \
                 --pin-dir {0}?",
                dir.display(),
                missing.join(", ")
            );
        }
        let open = |name: &str| -> anyhow::Result<Map> {
            let path = dir.join(name);
            let data = MapData::from_pin(&path)
                .with_context(|| format!("cannot open pinned map {}", path.display()))?;
            Ok(Map::from_map_data(data)?)
        };
        Ok(Self {
            endpoints: open(map_names::ENDPOINTS)?.try_into()?,
            routes: open(map_names::ROUTES)?.try_into()?,
            config: open(map_names::NET_CONFIG)?.try_into()?,
            stats: open(map_names::NET_STATS)?.try_into()?,
        })
    }

    pub fn endpoint_views(&self) -> anyhow::Result<Vec<EndpointView>> {
        let mut out = Vec::new();
        for entry in self.endpoints.iter() {
            let (addr, ep) = entry?;
            out.push(EndpointView {
                ip: ip_from_addr(&addr),
                ifindex: ep.ifindex,
                interface: nix::net::if_::if_indextoname(ep.ifindex)
                    .ok()
                    .and_then(|n| n.into_string().ok()),
                pod_mac: mac_string(&ep.pod_mac),
                host_mac: mac_string(&ep.host_mac),
            });
        }
        out.sort_by_key(|e| e.ip);
        Ok(out)
    }

    pub fn routes(&self) -> anyhow::Result<Vec<RouteView>> {
        let mut out = Vec::new();
        for entry in self.routes.iter() {
            let (key, value) = entry?;
            out.push(RouteView {
                cidr: cidr_from_key(&key)?,
                node: ip_from_addr(&value.node),
            });
        }
        out.sort();
        Ok(out)
    }

    /// The counters by name, summed over CPUs.
    pub fn stats(&self) -> anyhow::Result<BTreeMap<&'static str, u64>> {
        let mut out = BTreeMap::new();
        for (i, name) in net_stat::NAMES.iter().enumerate() {
            let per_cpu = self.stats.get(&(i as u32), 0)?;
            out.insert(*name, per_cpu.iter().sum());
        }
        Ok(out)
    }

    pub fn put_endpoint(&mut self, ip: Ipv4Addr, ep: Endpoint) -> anyhow::Result<()> {
        self.endpoints
            .insert(addr_from_ip(IpAddr::V4(ip)), ep, 0)
            .with_context(|| format!("writing the endpoint of {ip}"))
    }

    /// Removes a pod's entry; a missing one is fine.
    pub fn remove_endpoint(&mut self, ip: Ipv4Addr) -> anyhow::Result<()> {
        match self.endpoints.remove(&addr_from_ip(IpAddr::V4(ip))) {
            Err(e) if !is_not_found(&e) => {
                Err(e).with_context(|| format!("removing the endpoint of {ip}"))
            }
            _ => Ok(()),
        }
    }

    pub fn put_route(&mut self, cidr: IpNetwork, node: IpAddr) -> anyhow::Result<()> {
        self.routes
            .insert(
                &route_key(cidr),
                RouteValue {
                    node: addr_from_ip(node),
                },
                0,
            )
            .with_context(|| format!("writing the route to {cidr}"))
    }

    pub fn remove_route(&mut self, cidr: IpNetwork) -> anyhow::Result<()> {
        match self.routes.remove(&route_key(cidr)) {
            Err(e) if !is_not_found(&e) => {
                Err(e).with_context(|| format!("removing the route to {cidr}"))
            }
            _ => Ok(()),
        }
    }

    pub fn endpoint(&self, ip: Ipv4Addr) -> anyhow::Result<Option<Endpoint>> {
        match self.endpoints.get(&addr_from_ip(IpAddr::V4(ip)), 0) {
            Ok(ep) => Ok(Some(ep)),
            Err(aya::maps::MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// A delete of a missing key fails with ENOENT.
pub fn is_not_found(e: &aya::maps::MapError) -> bool {
    match e {
        aya::maps::MapError::KeyNotFound => true,
        aya::maps::MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}
