//! Everything that differs per node is configuration, so several agents can
//! share one kernel (each with its own cgroup, pin directory and ports).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "skiff-proxy",
    version,
    about = "eBPF Service load balancing for a Kubernetes node (kube-proxy replacement)"
)]
pub struct Config {
    /// This node's name (for internalTrafficPolicy: Local).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,

    /// This node's zone, for topology-aware routing.
    #[arg(long, env = "NODE_ZONE")]
    pub node_zone: Option<String>,

    /// cgroup v2 directory whose sockets are balanced (the root for a whole node).
    #[arg(long)]
    pub cgroup: Option<PathBuf>,

    /// bpffs directory for this node's maps and links [default: /sys/fs/bpf/skiff/<node-name>].
    #[arg(long)]
    pub pin_dir: Option<PathBuf>,

    /// Read Services and EndpointSlices from this directory of manifests
    /// instead of an API server.
    #[arg(long, conflicts_with = "kubeconfig")]
    pub manifests: Option<PathBuf>,

    /// kubeconfig to reach the API server [default: KUBECONFIG, ~/.kube/config, or in-cluster].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// Address for /healthz.
    #[arg(long, default_value = "0.0.0.0:10256")]
    pub healthz_bind: SocketAddr,

    /// Address for /metrics.
    #[arg(long, default_value = "127.0.0.1:10249")]
    pub metrics_bind: SocketAddr,

    /// How many service ports (frontends) this node can program; sizes the
    /// per-CPU counter map when the maps are first created.
    #[arg(long, default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(2..=65_536))]
    pub max_service_ports: u32,

    /// Detach this node's programs, remove its pinned maps and links, and exit
    /// (the agent otherwise leaves them balancing when it stops).
    #[arg(long)]
    pub cleanup: bool,

    /// Shortest time between two syncs; bursts of changes collapse into one.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub min_sync_period: Duration,

    /// Route pods: watch Nodes, route to other nodes' pod CIDRs, and write
    /// the CNI config (10-skiff.conflist) here once this node has a pod CIDR.
    /// Without it, the agent balances Services only.
    #[arg(long)]
    pub cni_conf_dir: Option<PathBuf>,

    /// Where the CNI plugin keeps its IP allocations.
    #[arg(long, default_value = "/var/lib/skiff/cni")]
    pub cni_state_dir: PathBuf,

    /// How pods reach pods of other nodes.
    #[arg(long, value_enum, default_value = "vxlan")]
    pub routing: Routing,

    /// The VXLAN device (vxlan routing), made by the agent.
    #[arg(long, default_value = "skiff_vxlan")]
    pub vxlan_device: String,

    /// UDP port of the VXLAN device.
    #[arg(long, default_value_t = 8472)]
    pub vxlan_port: u16,

    /// VXLAN network identifier.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..16_777_216))]
    pub vxlan_vni: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Routing {
    /// Out of the uplink to the other node's address, next hop from the
    /// kernel's FIB (nodes share a network).
    Direct,
    /// Encapsulated in VXLAN to the other node's address (any network).
    Vxlan,
    /// The kernel forwards along podCIDR routes the agent installs; the
    /// programs pass everything (the baseline).
    Kernel,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: use e.g. 100ms, 1s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        _ => Err(format!("invalid duration unit in {s:?}: use ms or s")),
    }
}

impl Config {
    pub fn node_name(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into())
        })
    }

    pub fn pin_dir(&self) -> PathBuf {
        self.pin_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/sys/fs/bpf/skiff").join(self.node_name()))
    }

    /// The cgroup v2 root: `/sys/fs/cgroup` on unified hosts,
    /// `/sys/fs/cgroup/unified` on hybrid ones.
    pub fn cgroup(&self) -> PathBuf {
        self.cgroup.clone().unwrap_or_else(|| {
            let hybrid = PathBuf::from("/sys/fs/cgroup/unified");
            if hybrid.join("cgroup.procs").exists() {
                hybrid
            } else {
                PathBuf::from("/sys/fs/cgroup")
            }
        })
    }
}
