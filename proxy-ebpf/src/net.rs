//! Pod routing at tc ingress. `from_pod` sees what a pod sends (on its
//! host-side veth), `from_node` what arrives for this node's pods (on the
//! uplink and the VXLAN device). A pod of this node is reached by redirecting
//! into its veth peer, a pod of another node through the route map, by the
//! mode the agent chose; everything else, and every packet in kernel mode,
//! goes on to the kernel untouched.

use aya_ebpf::{
    EbpfContext as _,
    bindings::{
        BPF_FIB_LKUP_RET_NO_NEIGH, BPF_FIB_LKUP_RET_SUCCESS, BPF_FIB_LOOKUP_OUTPUT, TC_ACT_OK,
        TC_ACT_SHOT, bpf_fib_lookup as FibParams, bpf_redir_neigh, bpf_tunnel_key,
    },
    helpers::{
        bpf_fib_lookup, bpf_redirect, bpf_redirect_neigh, bpf_redirect_peer, bpf_skb_set_tunnel_key,
    },
    macros::classifier,
    maps::lpm_trie::Key,
    programs::TcContext,
};
use proxy_ebpf::{
    Endpoint, NetConfig, ROUTING_DIRECT, ROUTING_KERNEL, ROUTING_VXLAN, RouteValue, net_stat,
    v4_mapped,
};

use crate::maps::{ENDPOINTS, NET_CONFIG, NET_STATS, ROUTES};

const ETH_P_IP: u16 = 0x0800;
const ETH_HLEN: usize = 14;
/// Offset of the IPv4 destination address in the frame.
const IPV4_DST: usize = ETH_HLEN + 16;
const AF_INET: u8 = 2;
const TUNNEL_TTL: u8 = 64;

const OK: i32 = TC_ACT_OK as i32;

#[classifier]
pub fn from_pod(ctx: TcContext) -> i32 {
    let Some((cfg, dst)) = routed(&ctx) else {
        return OK;
    };
    let addr = v4_mapped(dst);
    // SAFETY: the value is read at once, never kept across a map update.
    if let Some(ep) = unsafe { ENDPOINTS.get(&addr) } {
        count(net_stat::LOCAL);
        return deliver(&ctx, ep);
    }
    let Some(route) = ROUTES.get(Key::new(96 + 32, addr)) else {
        return OK;
    };
    match cfg.mode {
        ROUTING_DIRECT => direct(&ctx, &cfg, route),
        ROUTING_VXLAN => vxlan(&ctx, &cfg, route),
        _ => OK,
    }
}

#[classifier]
pub fn from_node(ctx: TcContext) -> i32 {
    let Some((_, dst)) = routed(&ctx) else {
        return OK;
    };
    // SAFETY: as in from_pod.
    match unsafe { ENDPOINTS.get(&v4_mapped(dst)) } {
        Some(ep) => {
            count(net_stat::FROM_NODE);
            deliver(&ctx, ep)
        }
        None => OK,
    }
}

/// The config and the IPv4 destination (network order) of a packet this
/// program routes: none in kernel mode, nor for other protocols.
#[inline(always)]
fn routed(ctx: &TcContext) -> Option<(NetConfig, u32)> {
    let cfg = *NET_CONFIG.get(0)?;
    if cfg.mode == ROUTING_KERNEL {
        return None;
    }
    let proto: u16 = ctx.load(12).ok()?;
    if u16::from_be(proto) != ETH_P_IP {
        return None;
    }
    let dst: u32 = ctx.load(IPV4_DST).ok()?;
    Some((cfg, dst))
}

/// Into the pod's own interface, addressed to it from its gateway's MAC, as
/// the kernel would have forwarded it. From tc ingress to a veth whose peer
/// lives in another namespace, the peer redirect skips the host veth's
/// transmit path and the backlog queue.
#[inline(always)]
fn deliver(ctx: &TcContext, ep: &Endpoint) -> i32 {
    let (ifindex, macs) = (ep.ifindex, macs(&ep.pod_mac, &ep.host_mac));
    if ctx.store(0, &macs, 0).is_err() {
        return TC_ACT_SHOT as i32;
    }
    // SAFETY: helper without pointer arguments.
    unsafe { bpf_redirect_peer(ifindex, 0) as i32 }
}

/// Out of the uplink towards the node's address, with the next hop's MAC
/// from the kernel's FIB and neighbour table.
#[inline(always)]
fn direct(ctx: &TcContext, cfg: &NetConfig, route: &RouteValue) -> i32 {
    // SAFETY: a plain C struct; all zero is its "unset" state.
    let mut p: FibParams = unsafe { core::mem::zeroed() };
    p.family = AF_INET;
    p.ifindex = cfg.uplink_ifindex;
    p.__bindgen_anon_4.ipv4_dst = route.node[3];
    // SAFETY: p lives for the call; the size is its own.
    let rc = unsafe {
        bpf_fib_lookup(
            ctx.as_ptr(),
            &mut p,
            core::mem::size_of::<FibParams>() as i32,
            BPF_FIB_LOOKUP_OUTPUT,
        )
    };
    match rc as u32 {
        BPF_FIB_LKUP_RET_SUCCESS => {
            if ctx.store(0, &macs(&p.dmac, &p.smac), 0).is_err() {
                return TC_ACT_SHOT as i32;
            }
            count(net_stat::DIRECT);
            // SAFETY: helper without pointer arguments.
            unsafe { bpf_redirect(p.ifindex, 0) as i32 }
        }
        // The next hop is not resolved yet: the kernel resolves it and sends.
        BPF_FIB_LKUP_RET_NO_NEIGH => {
            let mut nh = bpf_redir_neigh {
                nh_family: AF_INET as u32,
                __bindgen_anon_1: aya_ebpf::bindings::bpf_redir_neigh__bindgen_ty_1 {
                    // SAFETY: the lookup filled the IPv4 member.
                    ipv4_nh: unsafe { p.__bindgen_anon_4.ipv4_dst },
                },
            };
            count(net_stat::DIRECT);
            // SAFETY: nh lives for the call; the size is its own.
            unsafe {
                bpf_redirect_neigh(
                    p.ifindex,
                    &mut nh,
                    core::mem::size_of::<bpf_redir_neigh>() as i32,
                    0,
                ) as i32
            }
        }
        _ => {
            count(net_stat::FIB_MISS);
            OK
        }
    }
}

/// Into the VXLAN device, whose tunnel key names the node as the remote end.
#[inline(always)]
fn vxlan(ctx: &TcContext, cfg: &NetConfig, route: &RouteValue) -> i32 {
    // SAFETY: a plain C struct; all zero is its "unset" state.
    let mut key: bpf_tunnel_key = unsafe { core::mem::zeroed() };
    key.tunnel_id = cfg.vni;
    // The helper takes the remote address in host order.
    key.__bindgen_anon_1.remote_ipv4 = u32::from_be(route.node[3]);
    key.tunnel_ttl = TUNNEL_TTL;
    // SAFETY: key lives for the call; the size is its own.
    let rc = unsafe {
        bpf_skb_set_tunnel_key(
            ctx.as_ptr() as *mut _,
            &mut key,
            core::mem::size_of::<bpf_tunnel_key>() as u32,
            0,
        )
    };
    if rc != 0 {
        return TC_ACT_SHOT as i32;
    }
    count(net_stat::VXLAN);
    // SAFETY: helper without pointer arguments.
    unsafe { bpf_redirect(cfg.vxlan_ifindex, 0) as i32 }
}

/// Destination then source MAC: the first 12 bytes of the frame.
#[inline(always)]
fn macs(dst: &[u8; 6], src: &[u8; 6]) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[..6].copy_from_slice(dst);
    m[6..].copy_from_slice(src);
    m
}

#[inline(always)]
fn count(index: u32) {
    if let Some(c) = NET_STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *c += 1 };
    }
}
