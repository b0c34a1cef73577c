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

/// Backend id kept for this client by ClientIP affinity, if still fresh.
fn affinity_backend(key: &AffinityKey, timeout_s: u32, now: u64) -> Option<u32> {
    // SAFETY: a copy is taken at once; LRU entries are not aliased while read.
    let entry = unsafe { AFFINITY.get(key) }?;
    let age = now.wrapping_sub(entry.last_used_ns);
    if age > timeout_s as u64 * 1_000_000_000 {
        return None;
    }
    Some(entry.backend_id)
}

fn random_backend(front: &ServiceKey, count: u16) -> Option<u32> {
    // SAFETY: helper without arguments.
    let rnd = unsafe { bpf_get_prandom_u32() };
    let mut key = *front;
    key.slot = (rnd % count as u32) as u16 + 1;
    // SAFETY: copied out at once.
    unsafe { SERVICES.get(&key) }.map(|slot| slot.backend_id)
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
    let mut hit = false;
    let mut backend = None;
    if affinity && let Some(id) = affinity_backend(&akey, svc.affinity_timeout, now) {
        // A backend that left the service has lost its id: choose again.
        // SAFETY: copied out at once.
        if let Some(b) = unsafe { BACKENDS.get(id) } {
            backend = Some((id, *b));
            hit = true;
        }
    }
    if backend.is_none() {
        let Some(id) = random_backend(&front, svc.count) else {
            return Verdict::Refused;
        };
        // SAFETY: copied out at once.
        let Some(b) = (unsafe { BACKENDS.get(id) }) else {
            return Verdict::Refused;
        };
        backend = Some((id, *b));
    }
    let Some((backend_id, b)) = backend else {
        return Verdict::Refused;
    };

    if affinity {
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
    let _ = REV_SOCK.insert(&rev_key, &rev, 0);

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
