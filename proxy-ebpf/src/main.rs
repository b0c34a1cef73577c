//! eBPF programs: socket-level Service load balancing and pod routing.
//!
//! Built for `bpfel-unknown-none` by proxy-user's build.rs. On the host only the
//! library (the map ABI) is meant to be compiled; this binary then says so.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(target_arch = "bpf")]
mod ctx;
#[cfg(target_arch = "bpf")]
mod lb;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod net;
#[cfg(target_arch = "bpf")]
mod sock;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program that could reach a panic.
    unsafe { core::hint::unreachable_unchecked() }
}

/// The kernel grants GPL-only helpers (used by aya-log) to GPL-compatible
/// programs only.
#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(not(target_arch = "bpf"))]
fn main() {
    eprintln!(
        "proxy-ebpf holds eBPF programs; build it for bpfel-unknown-none (cargo xtask build)"
    );
    std::process::exit(2);
}
