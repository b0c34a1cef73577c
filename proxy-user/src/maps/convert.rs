//! Between the ABI's network-order fields and std's addresses.

use std::net::{IpAddr, Ipv6Addr};

use proxy_ebpf::{Addr, IPPROTO_TCP, IPPROTO_UDP, ServiceKey};

use crate::desired::{Frontend, Protocol};

pub fn addr_from_ip(ip: IpAddr) -> Addr {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let b = v6.octets();
    std::array::from_fn(|i| {
        u32::from_ne_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]])
    })
}

pub fn ip_from_addr(addr: &Addr) -> IpAddr {
    let mut b = [0u8; 16];
    for (i, w) in addr.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
    }
    let v6 = Ipv6Addr::from(b);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

pub fn proto_to_abi(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
    }
}

pub fn proto_from_abi(p: u8) -> Option<Protocol> {
    match p {
        IPPROTO_TCP => Some(Protocol::Tcp),
        IPPROTO_UDP => Some(Protocol::Udp),
        _ => None,
    }
}

pub fn frontend_key(f: &Frontend, slot: u16) -> ServiceKey {
    ServiceKey {
        addr: addr_from_ip(f.ip),
        port: f.port.to_be(),
        proto: proto_to_abi(f.protocol),
        scope: 0,
        slot,
        _pad: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for ip in ["10.96.0.10", "0.0.0.0", "fd00::a", "2001:db8::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_from_addr(&addr_from_ip(ip)), ip);
        }
        // The kernel's user_ip4 is the address's bytes in memory order.
        let a = addr_from_ip("10.96.0.10".parse().unwrap());
        assert_eq!(a[3], u32::from_ne_bytes([10, 96, 0, 10]));
        assert!(proxy_ebpf::is_v4_mapped(&a));
    }
}
