//! Reading and writing the destination of a `bpf_sock_addr`, one 32-bit word at
//! a time: the verifier accepts only 4-byte accesses to `user_ip6`, so volatile
//! accesses keep the compiler from merging them.

use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};

use aya_ebpf::{bindings::bpf_sock_addr, programs::SockAddrContext};
use proxy_ebpf::{Addr, v4_mapped};

/// The socket address of one hook. `V6` is a constant so that every program
/// reads its fields at fixed offsets: the verifier refuses a context pointer
/// moved by a computed offset.
pub struct Dest<'a, const V6: bool> {
    ctx: &'a SockAddrContext,
}

impl<'a, const V6: bool> Dest<'a, V6> {
    pub fn new(ctx: &'a SockAddrContext) -> Self {
        Self { ctx }
    }

    fn sa(&self) -> *mut bpf_sock_addr {
        self.ctx.sock_addr
    }

    /// The destination (or, for recvmsg, the source) address as 16 bytes.
    pub fn addr(&self) -> Addr {
        let sa = self.sa();
        // SAFETY: the kernel passes a valid context; fields are read in place.
        unsafe {
            match V6 {
                false => v4_mapped(read_volatile(addr_of!((*sa).user_ip4))),
                true => {
                    let ip6 = addr_of!((*sa).user_ip6) as *const u32;
                    [
                        read_volatile(ip6),
                        read_volatile(ip6.add(1)),
                        read_volatile(ip6.add(2)),
                        read_volatile(ip6.add(3)),
                    ]
                }
            }
        }
    }

    /// Port in network byte order.
    pub fn port(&self) -> u16 {
        // SAFETY: as above.
        unsafe { read_volatile(addr_of!((*self.sa()).user_port)) as u16 }
    }

    pub fn protocol(&self) -> u32 {
        // SAFETY: as above.
        unsafe { read_volatile(addr_of!((*self.sa()).protocol)) }
    }

    pub fn set(&self, addr: &Addr, port_be: u16) {
        let sa = self.sa();
        // SAFETY: as above; these fields are writable for the attach types used.
        unsafe {
            match V6 {
                false => write_volatile(addr_of_mut!((*sa).user_ip4), addr[3]),
                true => {
                    let ip6 = addr_of_mut!((*sa).user_ip6) as *mut u32;
                    write_volatile(ip6, addr[0]);
                    write_volatile(ip6.add(1), addr[1]);
                    write_volatile(ip6.add(2), addr[2]);
                    write_volatile(ip6.add(3), addr[3]);
                }
            }
            write_volatile(addr_of_mut!((*sa).user_port), port_be as u32);
        }
    }
}
