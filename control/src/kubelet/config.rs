//! The kubelet's flags: everything that differs per node, so several
//! kubelets can share one machine (each with its own containerd, root
//! directory, cgroup and ports).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct Config {
    /// kubeconfig to reach the API server.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// The Node this kubelet registers and runs pods for
    /// [default: the host name].
    #[arg(long)]
    pub node_name: Option<String>,
    /// The node's InternalIP, reported in its status and used by the API
    /// server to reach this kubelet.
    #[arg(long)]
    pub node_ip: IpAddr,
    /// The CRI runtime's socket, as `unix:///path/to/containerd.sock`.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    pub container_runtime_endpoint: String,
    /// Pod volumes and container logs live here.
    #[arg(long, default_value = "/var/lib/skiff/kubelet")]
    pub root_dir: PathBuf,
    /// Pods' cgroups are made under this cgroup path (`<root>/pod<uid>`).
    #[arg(long, default_value = "/kubepods")]
    pub cgroup_root: String,
    /// The image of pod sandboxes.
    #[arg(long, default_value = "localhost/skiff/pause:1")]
    pub pod_infra_image: String,
    /// Port of the HTTPS kubelet API (logs, exec), on --node-ip.
    #[arg(long, default_value_t = 10250)]
    pub port: u16,
    /// Port of the read-only HTTP API (/pods, /healthz), on --node-ip; 0 turns it off.
    #[arg(long, default_value_t = 10255)]
    pub read_only_port: u16,
    /// Labels added to the Node at registration, `key=value,...`.
    #[arg(long, value_delimiter = ',', value_parser = label)]
    pub node_labels: Vec<(String, String)>,
    /// Most pods this node runs.
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// How many pods are set up (sandbox and first containers) at once; the
    /// others wait their turn in arrival order [default: twice the number of
    /// CPUs: a setup spends part of its time waiting on the runtime].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel_pod_starts: Option<u32>,
    /// How often the node Lease is renewed (seconds).
    #[arg(long, default_value_t = 10)]
    pub lease_renew_interval: u64,
    /// How often the node status is reported when nothing changed (seconds).
    #[arg(long, default_value_t = 60)]
    pub node_status_report_frequency: u64,
}

impl Config {
    pub fn node_name(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_lowercase())
                .unwrap_or_else(|_| "localhost".to_owned())
        })
    }

    pub fn parallel_pod_starts(&self) -> usize {
        self.parallel_pod_starts.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()) * 2,
            |n| n as usize,
        )
    }

    pub fn lease_renew(&self) -> Duration {
        Duration::from_secs(self.lease_renew_interval.max(1))
    }

    pub fn log_root(&self) -> PathBuf {
        self.root_dir.join("logs")
    }

    pub fn pods_root(&self) -> PathBuf {
        self.root_dir.join("pods")
    }
}

fn label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected key=value"))?;
    if k.is_empty() {
        return Err(format!("{s}: the label key is empty"));
    }
    Ok((k.to_owned(), v.to_owned()))
}
