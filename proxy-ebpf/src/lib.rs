//! The map ABI: the `#[repr(C)]` keys and values that the eBPF programs and the
//! agent share. This is the one definition of the layout; both sides use it.
//!
//! Addresses are 16 bytes for both families: an IPv4 address is stored
//! IPv4-mapped (`::ffff:a.b.c.d`), so one service map, one backend map and one
//! reverse map serve IPv4 and IPv6 alike. Addresses and ports are kept in network
//! byte order, as the kernel hands them to sock_addr programs.
#![no_std]

/// Names of the pinned maps (file names in the per-node pin directory).
pub mod map_names {
    pub const SERVICES: &str = "SKIFF_SERVICES";
    pub const BACKENDS: &str = "SKIFF_BACKENDS";
    pub const REV_SOCK: &str = "SKIFF_REV_SOCK";
    pub const AFFINITY: &str = "SKIFF_AFFINITY";
    pub const STATS: &str = "SKIFF_STATS";
    /// The load-balancing maps.
    pub const ALL: [&str; 5] = [SERVICES, BACKENDS, REV_SOCK, AFFINITY, STATS];

    /// Pod routing: local pods, other nodes' pod CIDRs, the routing mode and
    /// counters.
    pub const ENDPOINTS: &str = "SKIFF_ENDPOINTS";
    pub const ROUTES: &str = "SKIFF_ROUTES";
    pub const NET_CONFIG: &str = "SKIFF_NET_CONFIG";
    pub const NET_STATS: &str = "SKIFF_NET_STATS";
    pub const NET: [&str; 4] = [ENDPOINTS, ROUTES, NET_CONFIG, NET_STATS];
}

/// Names of the tc programs, which the agent also pins by these names under
/// `<pin dir>/progs/`.
pub mod prog_names {
    /// Ingress of each pod's host-side veth (attached by the CNI plugin).
    pub const FROM_POD: &str = "from_pod";
    /// Ingress of the node's uplink and of its VXLAN device (attached by the
    /// agent).
    pub const FROM_NODE: &str = "from_node";
}

/// Default capacities. The agent may raise them at load time.
pub const MAX_SERVICE_ENTRIES: u32 = 262_144;
pub const MAX_BACKENDS: u32 = 262_144;
pub const MAX_REV_SOCK: u32 = 262_144;
pub const MAX_AFFINITY: u32 = 65_536;
/// Service ids (`rev_nat_id`) are `1..MAX_SERVICE_IDS`; 0 means "none".
pub const MAX_SERVICE_IDS: u32 = 65_536;

/// Pods a node can hold, and pod CIDRs of other nodes it can route to.
pub const MAX_ENDPOINTS: u32 = 65_536;
pub const MAX_ROUTES: u32 = 16_384;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

/// Frontend flags (slot 0 of a service).
pub const SVC_FLAG_AFFINITY: u16 = 1 << 0;
/// internalTrafficPolicy: Local (backends were filtered to this node).
pub const SVC_FLAG_LOCAL: u16 = 1 << 1;
/// No ready endpoint: the backends are serving-but-terminating ones.
pub const SVC_FLAG_TERMINATING_FALLBACK: u16 = 1 << 2;

/// Backend flags.
pub const BACKEND_FLAG_TERMINATING: u8 = 1 << 0;

/// A 16-byte address in network byte order (IPv4 as `::ffff:a.b.c.d`).
pub type Addr = [u32; 4];

/// The third word of an IPv4-mapped address, `0000:ffff`, in network order.
pub const V4_MAPPED_WORD: u32 = u32::from_ne_bytes([0, 0, 0xff, 0xff]);

/// An IPv4 address (network order, as in `bpf_sock_addr.user_ip4`) as a 16-byte
/// address.
#[inline(always)]
pub const fn v4_mapped(ip4_be: u32) -> Addr {
    [0, 0, V4_MAPPED_WORD, ip4_be]
}

#[inline(always)]
pub const fn is_v4_mapped(addr: &Addr) -> bool {
    addr[0] == 0 && addr[1] == 0 && addr[2] == V4_MAPPED_WORD
}

/// Key of the service map. Slot 0 is the frontend; slots `1..=count` point at
/// backend ids, so a backend is chosen with one random slot lookup.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub addr: Addr,
    /// Network byte order.
    pub port: u16,
    pub proto: u8,
    /// Reserved for external scopes; always 0 for ClusterIPs.
    pub scope: u8,
    pub slot: u16,
    pub _pad: u16,
}

/// Value of the service map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ServiceValue {
    /// In slots `1..=count`: the backend's id. 0 in slot 0.
    pub backend_id: u32,
    /// In slot 0: how many backend slots follow.
    pub count: u16,
    /// The service's id: indexes the counters and tags affinity entries.
    pub rev_nat_id: u16,
    /// In slot 0: `SVC_FLAG_*`.
    pub flags: u16,
    pub _pad: u16,
    /// In slot 0: ClientIP affinity timeout in seconds.
    pub affinity_timeout: u32,
}

/// Value of the backend map, keyed by backend id (`u32`). Ids are allocated per
/// (service port, backend), so removing a backend from a service removes its id
/// and stale affinity entries pointing at it miss.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    pub addr: Addr,
    /// Network byte order.
    pub port: u16,
    pub proto: u8,
    pub flags: u8,
    /// The service this backend id belongs to: an affinity entry is honoured
    /// only when it still names a backend of its own service.
    pub rev_nat_id: u16,
    pub _pad: u16,
}

/// Name of the global that enables `bpf_set_retval` (1) in the programs. The
/// helper reaches sock_addr programs only in newer kernels (about 6.0); the
/// agent loads with 0 where the verifier refuses it, and a refused connect
/// then fails with EPERM instead of ECONNREFUSED.
pub const GLOBAL_SET_RETVAL: &str = "SKIFF_SET_RETVAL";

/// Key of the socket reverse map: which service address a socket was sent to,
/// so replies (`recvmsg`) and `getpeername` show the service, not the backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevSockKey {
    pub cookie: u64,
    pub addr: Addr,
    /// Network byte order.
    pub port: u16,
    pub _pad: [u16; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevSockValue {
    pub addr: Addr,
    /// Network byte order.
    pub port: u16,
    pub rev_nat_id: u16,
}

/// Key of the affinity map. Socket-level balancing runs before the socket has a
/// source address, so the client is identified by its network namespace
/// cookie: one pod, one client.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AffinityKey {
    pub netns_cookie: u64,
    pub rev_nat_id: u16,
    pub _pad: [u16; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AffinityValue {
    pub backend_id: u32,
    pub _pad: u32,
    /// `bpf_ktime_get_ns()` of the last use.
    pub last_used_ns: u64,
}

/// Per-service, per-CPU counters, indexed by `rev_nat_id`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ServiceStats {
    /// Connections (and unconnected datagrams) sent to a backend.
    pub balanced: u64,
    /// Connections refused because the service had no usable backend.
    pub refused: u64,
    /// Backend choices served from the affinity map.
    pub affinity_hits: u64,
}

/// Value of the endpoint map, keyed by the pod's address (`Addr`): how to
/// hand a packet to a pod of this node without the host's routing.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Endpoint {
    /// The host-side veth; the pod's interface is its peer.
    pub ifindex: u32,
    /// Destination MAC of a delivered frame: the pod's interface.
    pub pod_mac: [u8; 6],
    /// Source MAC of a delivered frame: the host-side veth (the pod's
    /// gateway 169.254.1.1 resolves to it).
    pub host_mac: [u8; 6],
}

/// Key of the route map (an LPM trie): prefix length in bits over the
/// 16-byte address, so an IPv4 /24 is `96 + 24`. Same layout as
/// `aya_ebpf::maps::lpm_trie::Key<Addr>`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteKey {
    pub prefix_len: u32,
    pub addr: Addr,
}

/// Value of the route map: the node that holds a pod CIDR.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RouteValue {
    /// The node's address (its InternalIP).
    pub node: Addr,
}

/// `NetConfig::mode`: the kernel forwards (the programs pass everything).
pub const ROUTING_KERNEL: u32 = 0;
/// Remote pods through the uplink, next hop from the kernel's FIB.
pub const ROUTING_DIRECT: u32 = 1;
/// Remote pods through the VXLAN device, in external (collect-metadata) mode.
pub const ROUTING_VXLAN: u32 = 2;

/// The one entry (index 0) of the config map, written by the agent. All zero
/// (kernel mode) until it has written it: the programs then pass.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NetConfig {
    pub mode: u32,
    /// The device holding the node's address: FIB lookups are made from it.
    pub uplink_ifindex: u32,
    pub vxlan_ifindex: u32,
    pub vni: u32,
}

/// Indexes of the per-CPU packet counters (`SKIFF_NET_STATS`, `u64` each).
pub mod net_stat {
    /// From a pod to a pod of this node, redirected to its veth.
    pub const LOCAL: u32 = 0;
    /// To a remote pod through the uplink (direct mode).
    pub const DIRECT: u32 = 1;
    /// To a remote pod through the VXLAN device.
    pub const VXLAN: u32 = 2;
    /// From the uplink or the VXLAN device to a pod of this node.
    pub const FROM_NODE: u32 = 3;
    /// To a remote pod, but the FIB had no usable route: left to the kernel.
    pub const FIB_MISS: u32 = 4;
    pub const COUNT: u32 = 5;
    pub const NAMES: [&str; COUNT as usize] = ["local", "direct", "vxlan", "from_node", "fib_miss"];
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all are `#[repr(C)]`, `Copy`, with explicit padding and no
    // pointers, so any byte pattern the kernel returns is a valid value.
    unsafe impl aya::Pod for ServiceKey {}
    unsafe impl aya::Pod for ServiceValue {}
    unsafe impl aya::Pod for Backend {}
    unsafe impl aya::Pod for RevSockKey {}
    unsafe impl aya::Pod for RevSockValue {}
    unsafe impl aya::Pod for AffinityKey {}
    unsafe impl aya::Pod for AffinityValue {}
    unsafe impl aya::Pod for ServiceStats {}
    unsafe impl aya::Pod for Endpoint {}
    unsafe impl aya::Pod for RouteValue {}
    unsafe impl aya::Pod for NetConfig {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    // The layout is an ABI: a change here must be deliberate.
    #[test]
    fn sizes_are_stable() {
        assert_eq!(size_of::<ServiceKey>(), 24);
        assert_eq!(size_of::<ServiceValue>(), 16);
        assert_eq!(size_of::<Backend>(), 24);
        assert_eq!(size_of::<RevSockKey>(), 32);
        assert_eq!(size_of::<RevSockValue>(), 20);
        assert_eq!(size_of::<AffinityKey>(), 16);
        assert_eq!(size_of::<AffinityValue>(), 16);
        assert_eq!(size_of::<ServiceStats>(), 24);
        assert_eq!(size_of::<Endpoint>(), 16);
        assert_eq!(size_of::<RouteKey>(), 20);
        assert_eq!(size_of::<RouteValue>(), 16);
        assert_eq!(size_of::<NetConfig>(), 16);
    }

    #[test]
    fn v4_mapped_matches_std() {
        let ip = core::net::Ipv4Addr::new(10, 96, 0, 10);
        let mapped = v4_mapped(u32::from_ne_bytes(ip.octets()));
        let mut bytes = [0u8; 16];
        for (i, w) in mapped.iter().enumerate() {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        assert_eq!(core::net::Ipv6Addr::from(bytes), ip.to_ipv6_mapped());
        assert!(is_v4_mapped(&mapped));
    }
}
