//! Links, addresses, routes and neighbours over rtnetlink, for the CNI
//! plugin and the agent. A connection acts in the network namespace its
//! socket was made in, which need not be the caller's: the plugin holds one
//! for the node and one for the pod.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context as _, anyhow};
use futures::TryStreamExt as _;
use nix::sched::{CloneFlags, setns};
use rtnetlink::packet_route::{
    address::AddressAttribute,
    link::{InfoData, InfoVeth, LinkAttribute, LinkMessage},
    neighbour::NeighbourState,
    route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope},
};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, LinkVxlan, RouteMessageBuilder};

/// Mark the routes skiff adds (`ip route show proto 197`), so that each
/// part removes only its own: the plugin's pod routes, the agent's routes to
/// other nodes' pod CIDRs (kernel mode).
pub const POD_ROUTE_PROTOCOL: u8 = 197;
pub const NODE_ROUTE_PROTOCOL: u8 = 198;

pub struct Netlink {
    handle: Handle,
}

/// The errno of a netlink NACK.
pub fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn is_errno(e: &rtnetlink::Error, n: i32) -> bool {
    errno(e) == Some(n)
}

pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
}

/// A route of the main table, as the agent compares them.
pub struct KernelRoute {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    /// What deletes it.
    pub message: RouteMessage,
}

fn link_of(msg: &LinkMessage) -> Link {
    let mac = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) if b.len() == 6 => {
            let mut m = [0u8; 6];
            m.copy_from_slice(b);
            Some(m)
        }
        _ => None,
    });
    let name = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let mtu = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(m) => Some(*m),
        _ => None,
    });
    Link {
        index: msg.header.index,
        name,
        mac,
        mtu,
    }
}

impl Netlink {
    /// A connection in the caller's namespace. Needs a tokio runtime.
    pub fn here() -> anyhow::Result<Self> {
        let (conn, handle, _) = rtnetlink::new_connection().context("opening a netlink socket")?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// A connection into the namespace `ns`: the socket is made while this
    /// thread visits it, and keeps acting there after the thread is back.
    pub fn in_netns(ns: &File) -> anyhow::Result<Self> {
        let home = File::open("/proc/thread-self/ns/net").context("opening our namespace")?;
        setns(ns, CloneFlags::CLONE_NEWNET).context("entering the pod's network namespace")?;
        let made = rtnetlink::new_connection();
        // Staying in the pod's namespace would act on the wrong one from
        // here on: better to stop at once.
        setns(&home, CloneFlags::CLONE_NEWNET).expect("returning to our network namespace");
        let (conn, handle, _) = made.context("opening a netlink socket in the pod's namespace")?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    pub async fn link(&self, name: &str) -> anyhow::Result<Option<Link>> {
        let mut req = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        match req.try_next().await {
            Ok(Some(msg)) => Ok(Some(link_of(&msg))),
            Ok(None) => Ok(None),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("looking up link {name}")),
        }
    }

    pub async fn link_by_index(&self, index: u32) -> anyhow::Result<Option<Link>> {
        let mut req = self.handle.link().get().match_index(index).execute();
        match req.try_next().await {
            Ok(Some(msg)) => Ok(Some(link_of(&msg))),
            Ok(None) => Ok(None),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("looking up link {index}")),
        }
    }

    /// A veth pair: `host` here, its peer `peer` made directly inside the
    /// namespace `peer_ns`, both with `mtu`.
    pub async fn add_veth(
        &self,
        host: &str,
        peer: &str,
        peer_ns: &File,
        mtu: u32,
    ) -> anyhow::Result<()> {
        use std::os::fd::AsRawFd as _;
        let peer_msg = LinkUnspec::new_with_name(peer)
            .mtu(mtu)
            .setns_by_fd(peer_ns.as_raw_fd())
            .build();
        let msg = LinkVeth::new(host, peer)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .mtu(mtu)
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .with_context(|| format!("creating veth {host} (peer {peer} in the pod)"))
    }

    /// An external-mode (collect-metadata) VXLAN device on `port`: the tunnel
    /// key of each packet names its remote end.
    pub async fn add_vxlan_external(&self, name: &str, port: u16, mtu: u32) -> anyhow::Result<()> {
        let msg = LinkVxlan::new(name, 0)
            .port(port)
            .collect_metadata(true)
            .learning(false)
            .mtu(mtu)
            .up()
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .with_context(|| format!("creating VXLAN device {name}"))
    }

    pub async fn set_up(&self, index: u32) -> anyhow::Result<()> {
        self.set_state(index, true).await
    }

    pub async fn set_down(&self, index: u32) -> anyhow::Result<()> {
        self.set_state(index, false).await
    }

    async fn set_state(&self, index: u32, up: bool) -> anyhow::Result<()> {
        let link = LinkUnspec::new_with_index(index);
        let link = if up { link.up() } else { link.down() };
        self.handle
            .link()
            .set(link.build())
            .execute()
            .await
            .with_context(|| format!("setting link {index} {}", if up { "up" } else { "down" }))
    }

    /// Deletes a link by name; a missing one is fine. True if it existed.
    pub async fn del_link(&self, name: &str) -> anyhow::Result<bool> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(link.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("deleting link {name}")),
        }
    }

    pub async fn add_address(&self, index: u32, ip: IpAddr, prefix: u8) -> anyhow::Result<()> {
        match self.handle.address().add(index, ip, prefix).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, libc::EEXIST) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("adding {ip}/{prefix}")),
        }
    }

    /// The addresses on a link (all links when `index` is None), with the
    /// link's index.
    pub async fn addresses(&self, index: Option<u32>) -> anyhow::Result<Vec<(u32, IpAddr)>> {
        let mut req = self.handle.address().get();
        if let Some(i) = index {
            req = req.set_link_index_filter(i);
        }
        let mut stream = req.execute();
        let mut out = Vec::new();
        while let Some(msg) = stream.try_next().await.context("listing addresses")? {
            for a in &msg.attributes {
                if let AddressAttribute::Address(ip) = a {
                    out.push((msg.header.index, *ip));
                }
            }
        }
        Ok(out)
    }

    /// A link-scoped route to `dst/prefix` out of `index`, marked with
    /// `protocol`; one already there is replaced.
    pub async fn add_link_route(
        &self,
        dst: Ipv4Addr,
        prefix: u8,
        index: u32,
        protocol: u8,
    ) -> anyhow::Result<()> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst, prefix)
            .output_interface(index)
            .scope(RouteScope::Link)
            .protocol(RouteProtocol::Other(protocol))
            .build();
        self.replace_route(msg, || format!("{dst}/{prefix} dev {index}"))
            .await
    }

    /// Adds the route, replacing one with the same destination.
    async fn replace_route(
        &self,
        msg: rtnetlink::packet_route::route::RouteMessage,
        what: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .with_context(|| format!("adding route {}", what()))
    }

    /// `dst/prefix via gw`, marked with `protocol`; one already there is
    /// replaced.
    pub async fn add_gateway_route(
        &self,
        dst: Ipv4Addr,
        prefix: u8,
        gw: Ipv4Addr,
        protocol: u8,
    ) -> anyhow::Result<()> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst, prefix)
            .gateway(gw)
            .protocol(RouteProtocol::Other(protocol))
            .build();
        self.replace_route(msg, || format!("{dst}/{prefix} via {gw}"))
            .await
    }

    /// `dst/prefix via gw dev <vxlan> onlink encap ip id <vni> dst gw`,
    /// marked with `protocol`: the kernel's own packets to those addresses
    /// go through the external-mode VXLAN device to `gw`.
    pub async fn add_vxlan_route(
        &self,
        dst: Ipv4Addr,
        prefix: u8,
        gw: Ipv4Addr,
        vxlan: u32,
        vni: u32,
        protocol: u8,
    ) -> anyhow::Result<()> {
        use rtnetlink::packet_route::route::RouteIpTunnel;
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst, prefix)
            .gateway(gw)
            .output_interface(vxlan)
            .onlink()
            .encap_ip(vec![
                RouteIpTunnel::Id(u64::from(vni)),
                RouteIpTunnel::Destination(gw),
            ])
            .protocol(RouteProtocol::Other(protocol))
            .build();
        self.replace_route(msg, || format!("{dst}/{prefix} via {gw} (VXLAN)"))
            .await
    }

    /// The pod's routes: its gateway on the link, then the default through it.
    pub async fn add_pod_routes(&self, index: u32, gw: Ipv4Addr) -> anyhow::Result<()> {
        self.add_link_route(gw, 32, index, POD_ROUTE_PROTOCOL)
            .await?;
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gw)
            .output_interface(index)
            .build();
        match self.handle.route().add(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, libc::EEXIST) => Ok(()),
            Err(e) => Err(e).context("adding the default route"),
        }
    }

    /// A permanent neighbour entry: the pod knows its gateway's MAC without
    /// asking, so nothing depends on the host answering ARP in time.
    pub async fn add_permanent_neighbour(
        &self,
        index: u32,
        ip: Ipv4Addr,
        mac: &[u8; 6],
    ) -> anyhow::Result<()> {
        self.handle
            .neighbours()
            .add(index, IpAddr::V4(ip))
            .link_layer_address(mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .with_context(|| format!("adding neighbour {ip}"))
    }

    /// The IPv4 routes of the main table marked with `protocol`.
    pub async fn routes_of(&self, protocol: u8) -> anyhow::Result<Vec<KernelRoute>> {
        use rtnetlink::packet_route::route::RouteAddress;
        let mut stream = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = stream.try_next().await.context("listing routes")? {
            if msg.header.protocol != RouteProtocol::Other(protocol) {
                continue;
            }
            let addr = |want_dst: bool| {
                msg.attributes.iter().find_map(|a| match (a, want_dst) {
                    (RouteAttribute::Destination(RouteAddress::Inet(d)), true)
                    | (RouteAttribute::Gateway(RouteAddress::Inet(d)), false) => Some(*d),
                    _ => None,
                })
            };
            let (dst, gateway) = (addr(true), addr(false));
            let oif = msg.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            });
            if let Some(dst) = dst {
                out.push(KernelRoute {
                    dst,
                    prefix: msg.header.destination_prefix_length,
                    gateway,
                    oif,
                    message: msg,
                });
            }
        }
        Ok(out)
    }

    pub async fn del_route(&self, msg: RouteMessage) -> anyhow::Result<()> {
        match self.handle.route().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, libc::ESRCH) => Ok(()),
            Err(e) => Err(anyhow!(e)).context("deleting a route"),
        }
    }
}
