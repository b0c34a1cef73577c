//! Service lookup and backend choice, shared by connect and sendmsg for both
//! address families.

use aya_ebpf::{
    EbpfContext,
    helpers::{bpf_get_netns_cookie, bpf_get_prandom_u32, bpf_get_socket_cookie, bpf_ktime_get_ns},
    programs::SockAddrContext,
};
use aya_log_ebpf::debug;
use proxy_ebpf::*;

use crate::ctx::Dest;
use crate::maps::{AFFINITY, BACKENDS, REV_SOCK, SERVICES, STATS};

/// What the forward path decided for one connect or datagram.
pub enum Verdict {
    /// Not a service address: leave the socket alone.
    Untouched,
    /// Rewritten to a backend.
    Balanced,
    /// The service has no usable backend: refuse at once.
    Refused,
}

fn l4_proto(protocol: u32) -> Option<u8> {
    match protocol {
        p if p == IPPROTO_TCP as u32 => Some(IPPROTO_TCP),
        p if p == IPPROTO_UDP as u32 => Some(IPPROTO_UDP),
        _ => None,
    }
}

fn count<F: FnOnce(&mut ServiceStats)>(rev_nat_id: u16, f: F) {
    if let Some(stats) = STATS.get_ptr_mut(rev_nat_id as u32) {
        // SAFETY: per-CPU value, no other writer on this CPU while we run.
        f(unsafe { &mut *stats });
    }
}

/// The backend ClientIP affinity keeps for this client, if the entry is fresh
/// and still names a backend of this service; its timestamp is renewed in
/// place rather than by a new LRU insert.
fn affinity_backend(key: &AffinityKey, timeout_s: u32, now: u64) -> Option<(u32, Backend)> {
    let entry = AFFINITY.get_ptr_mut(key)?;
    // SAFETY: a live LRU element; a concurrent eviction at worst loses the
    // renewal. Each field is read once.
    let (backend_id, last_used) = unsafe { ((*entry).backend_id, (*entry).last_used_ns) };
    if now.wrapping_sub(last_used) > timeout_s as u64 * 1_000_000_000 {
        return None;
    }
    // A backend that left the service has lost its id, and ids are reused:
    // the id must still belong to this service.
    // SAFETY: copied out at once.
    let b = *unsafe { BACKENDS.get(backend_id) }?;
    if b.rev_nat_id != key.rev_nat_id {
        return None;
    }
    // SAFETY: as above.
    unsafe { (*entry).last_used_ns = now };
    Some((backend_id, b))
}

/// A random backend of the service. The writer may shrink the service between
/// our read of the count and of a slot: a miss reads the frontend again once.
fn random_backend(front: &ServiceKey, count: u16) -> Option<(u32, Backend)> {
    let mut count = count;
    for _ in 0..2 {
        // SAFETY: helper without arguments.
        let rnd = unsafe { bpf_get_prandom_u32() };
        let key = ServiceKey {
            slot: (rnd % count as u32) as u16 + 1,
            ..*front
        };
        // SAFETY: copied out at once.
        if let Some(slot) = unsafe { SERVICES.get(&key) }.copied()
            && let Some(b) = unsafe { BACKENDS.get(slot.backend_id) }
        {
            return Some((slot.backend_id, *b));
        }
        // SAFETY: copied out at once.
        count = unsafe { SERVICES.get(front) }?.count;
        if count == 0 {
            return None;
        }
    }
    None
}

pub fn forward<const V6: bool>(ctx: &SockAddrContext, dest: &Dest<V6>) -> Verdict {
    let Some(proto) = l4_proto(dest.protocol()) else {
        return Verdict::Untouched;
    };
    let front = ServiceKey {
        addr: dest.addr(),
        port: dest.port(),
        proto,
        scope: 0,
        slot: 0,
        _pad: 0,
    };
    // SAFETY: copied out at once.
    let Some(svc) = (unsafe { SERVICES.get(&front) }).copied() else {
        return Verdict::Untouched;
    };
    if svc.count == 0 {
        count(svc.rev_nat_id, |s| s.refused += 1);
        debug!(ctx, "service {} has no backend: refused", svc.rev_nat_id);
        return Verdict::Refused;
    }

    let affinity = svc.flags & SVC_FLAG_AFFINITY != 0;
    // SAFETY: helpers taking the program's own context.
    let now = unsafe { bpf_ktime_get_ns() };
    let akey = AffinityKey {
        netns_cookie: if affinity {
            unsafe { bpf_get_netns_cookie(ctx.as_ptr()) }
        } else {
            0
        },
        rev_nat_id: svc.rev_nat_id,
        _pad: [0; 3],
    };
    let fresh = if affinity {
        affinity_backend(&akey, svc.affinity_timeout, now)
    } else {
        None
    };
    let hit = fresh.is_some();
    let Some((backend_id, b)) = fresh.or_else(|| random_backend(&front, svc.count)) else {
        count(svc.rev_nat_id, |s| s.refused += 1);
        return Verdict::Refused;
    };
    if affinity && !hit {
        let value = AffinityValue {
            backend_id,
            _pad: 0,
            last_used_ns: now,
        };
        let _ = AFFINITY.insert(&akey, &value, 0);
    }
    let rev_key = RevSockKey {
        // SAFETY: helper taking the program's own context.
        cookie: unsafe { bpf_get_socket_cookie(ctx.as_ptr()) },
        addr: b.addr,
        port: b.port,
        _pad: [0; 3],
    };
    let rev = RevSockValue {
        addr: front.addr,
        port: front.port,
        rev_nat_id: svc.rev_nat_id,
    };
    // An unconnected UDP socket sends many datagrams to the same backend:
    // skip the LRU update when the entry is already right.
    // SAFETY: compared at once.
    if unsafe { REV_SOCK.get(&rev_key) } != Some(&rev) {
        let _ = REV_SOCK.insert(&rev_key, &rev, 0);
    }

    dest.set(&b.addr, b.port);
    count(svc.rev_nat_id, |s| {
        s.balanced += 1;
        if hit {
            s.affinity_hits += 1;
        }
    });
    debug!(
        ctx,
        "service {} port {}: backend {} port {}",
        svc.rev_nat_id,
        u16::from_be(front.port),
        backend_id,
        u16::from_be(b.port)
    );
    Verdict::Balanced
}

/// Replies and `getpeername` show the service address the socket was sent to.
pub fn reverse<const V6: bool>(ctx: &SockAddrContext, dest: &Dest<V6>) {
    let key = RevSockKey {
        // SAFETY: helper taking the program's own context.
        cookie: unsafe { bpf_get_socket_cookie(ctx.as_ptr()) },
        addr: dest.addr(),
        port: dest.port(),
        _pad: [0; 3],
    };
    // SAFETY: copied out at once.
    let Some(rev) = (unsafe { REV_SOCK.get(&key) }).copied() else {
        return;
    };
    dest.set(&rev.addr, rev.port);
}
