//! Pod routing, the agent's side: from the Nodes, this node's uplink (and
//! VXLAN device) with `from_node` on them, the routing mode in the config
//! map, other nodes' pod CIDRs in the route map (and, in kernel mode, in
//! the kernel), and the CNI config once all that is in place.

pub mod conflist;
pub mod devices;
pub mod plan;
pub mod routes;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use aya::programs::SchedClassifier;
use proxy_ebpf::{NetConfig, ROUTING_DIRECT, ROUTING_KERNEL, ROUTING_VXLAN, prog_names};
use tracing::{error, info, warn};

use crate::config::{Config, Routing};
use crate::datapath::{Layout, tcx};
use crate::maps::NetMaps;
use crate::netlink::Netlink;
use crate::source::{NodeNet, NodeReceiver};
use devices::Device;

pub struct Settings {
    pub node: String,
    pub routing: Routing,
    pub conf_dir: PathBuf,
    pub state_dir: PathBuf,
    pub vxlan_device: String,
    pub vxlan_port: u16,
    pub vni: u32,
}

impl Settings {
    pub fn new(cfg: &Config, conf_dir: PathBuf) -> Self {
        Self {
            node: cfg.node_name(),
            routing: cfg.routing,
            conf_dir,
            state_dir: cfg.cni_state_dir.clone(),
            vxlan_device: cfg.vxlan_device.clone(),
            vxlan_port: cfg.vxlan_port,
            vni: cfg.vxlan_vni,
        }
    }
}

/// What was set up for this node's address.
struct Wired {
    address: Ipv4Addr,
    /// The pods' MTU.
    mtu: u32,
    vxlan: Option<routes::Vxlan>,
}

struct Net {
    s: Settings,
    layout: Layout,
    maps: NetMaps,
    nl: Netlink,
    wired: Option<Wired>,
}

const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Starts the routing task: it follows the nodes until the agent stops.
pub fn spawn(
    s: Settings,
    layout: Layout,
    mut maps: NetMaps,
    nodes: NodeReceiver,
) -> anyhow::Result<()> {
    match prune_endpoints(&mut maps, &s.state_dir) {
        Ok(0) => {}
        Ok(n) => info!(removed = n, "endpoints of pods gone without a DEL removed"),
        Err(e) => warn!("cannot check the endpoints against the pods: {e:#}"),
    }
    let net = Net {
        s,
        layout,
        maps,
        nl: Netlink::here()?,
        wired: None,
    };
    tokio::spawn(run(net, nodes));
    Ok(())
}

async fn run(mut net: Net, mut nodes: NodeReceiver) {
    let mut backoff: Option<Duration> = None;
    loop {
        let list = nodes.borrow_and_update().clone();
        if let Some(list) = list {
            match net.sync(&list).await {
                Ok(()) => backoff = None,
                Err(e) => {
                    let wait = backoff.map_or(RETRY_FIRST, |b| (b * 2).min(RETRY_MAX));
                    error!(
                        "pod routing failed, retrying in {} s: {e:#}",
                        wait.as_secs()
                    );
                    backoff = Some(wait);
                }
            }
        }
        let retry = async {
            match backoff {
                Some(b) => tokio::time::sleep(b).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = nodes.changed() => if changed.is_err() { return },
            _ = retry => {}
        }
    }
}

impl Net {
    async fn sync(&mut self, nodes: &[NodeNet]) -> anyhow::Result<()> {
        let plan = plan::plan(nodes, &self.s.node);
        for (node, why) in &plan.skipped {
            warn!(node, "not routing to this node's pods: {why}");
        }
        let Some(own) = plan.own else {
            info!(node = %self.s.node, "waiting for this node's pod CIDR and InternalIP");
            return Ok(());
        };
        if self.wired.as_ref().map(|w| w.address) != Some(own.address) {
            self.wired = Some(self.wire(own.address).await?);
        }
        let (mtu, vxlan) = {
            let w = self.wired.as_ref().expect("wired above");
            (w.mtu, w.vxlan)
        };
        let in_map = routes::sync_map(&mut self.maps, &plan.remote)?;
        let in_kernel = routes::sync_kernel(&self.nl, Some(&plan.remote), vxlan).await?;
        let text = conflist::render(&conflist::Settings {
            pod_cidr: own.pod_cidr,
            pin_dir: &self.layout.pin_dir,
            state_dir: &self.s.state_dir,
            mtu,
        });
        if conflist::write(&self.s.conf_dir, &text)? {
            info!(
                path = %self.s.conf_dir.join(conflist::FILE).display(),
                pod_cidr = %own.pod_cidr,
                mtu,
                "CNI config written"
            );
        }
        info!(
            routes = plan.remote.len(),
            added = in_map.added,
            removed = in_map.removed,
            kernel_added = in_kernel.added,
            kernel_removed = in_kernel.removed,
            "pod routes synced"
        );
        Ok(())
    }

    /// `from_node` on the uplink (and the VXLAN device), then the mode in the
    /// config map: the programs start routing only once their devices are
    /// known.
    async fn wire(&mut self, address: Ipv4Addr) -> anyhow::Result<Wired> {
        let uplink = devices::uplink(&self.nl, address).await?;
        let mut prog = SchedClassifier::from_pin(self.layout.prog_pin(prog_names::FROM_NODE))
            .context("opening the pinned from_node program")?;
        self.attach(&mut prog, &uplink)?;
        let mut kernel_vxlan = None;
        let (mode, vxlan, mtu) = match self.s.routing {
            Routing::Vxlan => {
                let mtu = uplink.mtu - devices::VXLAN_OVERHEAD;
                let dev =
                    devices::ensure_vxlan(&self.nl, &self.s.vxlan_device, self.s.vxlan_port, mtu)
                        .await?;
                self.attach(&mut prog, &dev)?;
                kernel_vxlan = Some(routes::Vxlan {
                    index: dev.index,
                    vni: self.s.vni,
                    mac: dev.mac,
                });
                (ROUTING_VXLAN, dev.index, mtu)
            }
            Routing::Direct => {
                if !devices::forwarding(&uplink.name) {
                    warn!(
                        uplink = %uplink.name,
                        "forwarding is off on the uplink: direct routing looks up next hops \
                         from it and finds none (sysctl net.ipv4.conf.{}.forwarding=1)",
                        uplink.name
                    );
                }
                (ROUTING_DIRECT, 0, uplink.mtu)
            }
            Routing::Kernel => {
                if !devices::forwarding("all") {
                    warn!(
                        "IPv4 forwarding is off: the kernel will not route pods (sysctl net.ipv4.ip_forward=1)"
                    );
                }
                (ROUTING_KERNEL, 0, uplink.mtu)
            }
        };
        self.maps.config.set(
            0,
            NetConfig {
                mode,
                uplink_ifindex: uplink.index,
                vxlan_ifindex: vxlan,
                vni: self.s.vni,
            },
            0,
        )?;
        info!(
            uplink = %uplink.name,
            routing = ?self.s.routing,
            mtu,
            "pod routing on"
        );
        Ok(Wired {
            address,
            mtu,
            vxlan: kernel_vxlan,
        })
    }

    fn attach(&self, prog: &mut SchedClassifier, dev: &Device) -> anyhow::Result<()> {
        let pin = self.layout.node_links_dir().join(&dev.name);
        tcx::attach_ingress(prog, &dev.name, &pin)
    }
}

/// An endpoint is kept while its address is allocated and its ifindex is
/// still the veth the plugin made for that allocation: otherwise (a pod
/// removed without a DEL) it would redirect to whatever interface takes
/// that index next.
fn prune_endpoints(maps: &mut NetMaps, state_dir: &std::path::Path) -> anyhow::Result<usize> {
    let allocations = crate::cni::ipam::Ipam::lock(state_dir, conflist::NETWORK)?.allocations()?;
    let mut removed = 0;
    for ep in maps.endpoint_views()? {
        let std::net::IpAddr::V4(ip) = ep.ip else {
            continue;
        };
        let expected = allocations
            .iter()
            .find(|(a, _)| *a == ip)
            .map(|(_, o)| crate::cni::env::host_veth_name(&o.container_id, &o.ifname));
        if expected.is_none() || expected != ep.interface {
            maps.remove_endpoint(ip)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `--cleanup`: the CNI config, the VXLAN device and the agent's kernel
/// routes go (the pinned links go with the pin directory).
pub async fn cleanup(cfg: &Config) -> anyhow::Result<()> {
    if let Some(dir) = &cfg.cni_conf_dir {
        conflist::remove(dir)?;
    }
    let nl = Netlink::here()?;
    routes::sync_kernel(&nl, None, None).await?;
    if nl.del_link(&cfg.vxlan_device).await? {
        info!(device = %cfg.vxlan_device, "VXLAN device removed");
    }
    Ok(())
}
