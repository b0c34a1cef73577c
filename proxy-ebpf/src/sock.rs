//! The cgroup sock_addr entry points. Forward hooks pick a backend when a socket
//! connects or sends to a service; reverse hooks make replies and the peer name
//! show the service address.

use aya_ebpf::{
    Global, helpers::bpf_set_retval, macros::cgroup_sock_addr, programs::SockAddrContext,
};

use crate::ctx::Dest;
use crate::lb::{Verdict, forward, reverse};

const ECONNREFUSED: i32 = 111;

/// Set by the agent at load time (see `proxy_ebpf::GLOBAL_SET_RETVAL`); the
/// verifier drops the branch that is never taken.
#[unsafe(no_mangle)]
static SKIFF_SET_RETVAL: Global<u8> = Global::new(1);

/// 1 lets the call go on; 0 fails it, with ECONNREFUSED rather than the
/// default EPERM so that clients see "connection refused" at once.
fn fwd<const V6: bool>(ctx: &SockAddrContext) -> i32 {
    match forward(ctx, &Dest::<V6>::new(ctx)) {
        Verdict::Untouched | Verdict::Balanced => 1,
        Verdict::Refused => {
            if SKIFF_SET_RETVAL.load() != 0 {
                // SAFETY: helper without pointer arguments.
                unsafe { bpf_set_retval(-ECONNREFUSED) };
            }
            0
        }
    }
}

fn rev<const V6: bool>(ctx: &SockAddrContext) -> i32 {
    reverse(ctx, &Dest::<V6>::new(ctx));
    1
}

#[cgroup_sock_addr(connect4)]
pub fn connect4(ctx: SockAddrContext) -> i32 {
    fwd::<false>(&ctx)
}

#[cgroup_sock_addr(connect6)]
pub fn connect6(ctx: SockAddrContext) -> i32 {
    fwd::<true>(&ctx)
}

#[cgroup_sock_addr(sendmsg4)]
pub fn sendmsg4(ctx: SockAddrContext) -> i32 {
    fwd::<false>(&ctx)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn sendmsg6(ctx: SockAddrContext) -> i32 {
    fwd::<true>(&ctx)
}

#[cgroup_sock_addr(recvmsg4)]
pub fn recvmsg4(ctx: SockAddrContext) -> i32 {
    rev::<false>(&ctx)
}

#[cgroup_sock_addr(recvmsg6)]
pub fn recvmsg6(ctx: SockAddrContext) -> i32 {
    rev::<true>(&ctx)
}

#[cgroup_sock_addr(getpeername4)]
pub fn getpeername4(ctx: SockAddrContext) -> i32 {
    rev::<false>(&ctx)
}

#[cgroup_sock_addr(getpeername6)]
pub fn getpeername6(ctx: SockAddrContext) -> i32 {
    rev::<true>(&ctx)
}
