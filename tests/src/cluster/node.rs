//! One node: a network namespace `skn<id>-<i>` with `eth0` on the fabric, a
//! cgroup for its pods, its containerd, its kubelet and its agent.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::fabric::Fabric;
use super::process::Process;
use super::{Options, Routing};
use crate::containerd::Containerd;
use crate::netns::Netns;

/// The kubelet's ports (in the node's namespace, so every node has them).
pub const KUBELET_PORT: u16 = 10250;
pub const KUBELET_READ_ONLY_PORT: u16 = 10255;
/// The agent's ports, kube-proxy's.
pub const AGENT_HEALTHZ_PORT: u16 = 10256;
pub const AGENT_METRICS_PORT: u16 = 10249;

pub struct Node {
    pub index: usize,
    /// `node-<i>`: the Node object's name.
    pub name: String,
    /// Its address on the fabric (InternalIP).
    pub ip: String,
    pub dir: PathBuf,
    /// The pods' cgroup (`--cgroup-root`), relative to the hierarchies' root.
    pub cgroup_root: PathBuf,
    /// The same in the cgroup v2 hierarchy: the agent attaches there.
    pub cgroup: PathBuf,
    pub pin_dir: PathBuf,
    pub cni_conf_dir: PathBuf,
    pub cni_state_dir: PathBuf,
    // Dropped in this order: the agent and the kubelet before the runtime
    // they use, the runtime before the namespace it runs in.
    pub(super) agent: Option<Process>,
    pub(super) kubelet: Option<Process>,
    /// The kubelet's arguments and log filter, to start it again.
    kubelet_cmd: Option<(Vec<std::ffi::OsString>, String)>,
    pub containerd: Containerd,
    pub netns: Netns,
}

/// Paths and names every node of one cluster derives from.
pub(super) struct Site<'a> {
    pub fabric: &'a Fabric,
    pub dir: &'a Path,
    pub cgroup: &'a Path,
    pub pin_root: &'a Path,
    pub kubeconfig: &'a Path,
}

pub fn netns_name(id: u8, i: usize) -> String {
    format!("skn{id}-{i}")
}

impl Node {
    /// Network, cgroup and containerd: what the kubelet and agent need.
    pub(super) fn create(site: &Site, i: usize) -> Self {
        let fabric = site.fabric;
        let name = format!("node-{i}");
        let ip = fabric.node_ip(i);
        let netns = Netns::create(&netns_name(fabric.id, i));
        let host_end = format!("skv{}-{i}", fabric.id);
        crate::sh(&[
            "ip",
            "link",
            "add",
            &host_end,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns.name,
        ]);
        crate::sh(&[
            "ip",
            "link",
            "set",
            &host_end,
            "master",
            &fabric.bridge,
            "up",
        ]);
        netns.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        netns.ip(&["link", "set", "eth0", "up"]);
        // Nodes forward their pods' traffic. No default route: traffic stays
        // on the fabric.
        crate::sh(&[
            "ip",
            "netns",
            "exec",
            &netns.name,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);

        let dir = site.dir.join(&name);
        let cgroup_root = site.cgroup.join(&name);
        let cgroup = crate::cgroup::v2_root().join(&cgroup_root);
        std::fs::create_dir_all(&cgroup)
            .unwrap_or_else(|e| panic!("creating cgroup {}: {e}", cgroup.display()));
        let cni_conf_dir = dir.join("cni/net.d");
        let cni_state_dir = dir.join("cni/state");
        std::fs::create_dir_all(&cni_state_dir).unwrap();
        let containerd = Containerd::start(&dir.join("ctd"), &netns, &cni_conf_dir);
        Self {
            index: i,
            name,
            ip,
            cgroup_root,
            cgroup,
            pin_dir: site.pin_root.join(format!("node-{i}")),
            cni_conf_dir,
            cni_state_dir,
            dir,
            agent: None,
            kubelet: None,
            kubelet_cmd: None,
            containerd,
            netns,
        }
    }

    pub(super) fn start_kubelet(&mut self, site: &Site, opts: &Options) {
        let root_dir = self.dir.join("kubelet");
        std::fs::create_dir_all(&root_dir).unwrap();
        let mut cmd = Command::new(crate::bin("skiff-control"));
        cmd.arg("kubelet")
            .arg("--kubeconfig")
            .arg(site.kubeconfig)
            .args(["--node-name", &self.name, "--node-ip", &self.ip])
            .args(["--container-runtime-endpoint", &self.containerd.endpoint()])
            .arg("--root-dir")
            .arg(&root_dir)
            // Absolute within the hierarchy, as cgroupfs paths are.
            .arg("--cgroup-root")
            .arg(Path::new("/").join(&self.cgroup_root))
            .args(["--pod-infra-image", crate::images::PAUSE])
            .args(["--port", &KUBELET_PORT.to_string()])
            .args(["--read-only-port", &KUBELET_READ_ONLY_PORT.to_string()])
            .args(&opts.kubelet_args)
            .env("RUST_LOG", &opts.log_filter);
        self.kubelet_cmd = Some((
            cmd.get_args().map(ToOwned::to_owned).collect(),
            opts.log_filter.clone(),
        ));
        self.kubelet = Some(Process::spawn(
            &format!("kubelet of {}", self.name),
            cmd,
            &self.netns,
            &self.dir.join("kubelet.log"),
        ));
    }

    pub(super) fn start_agent(&mut self, site: &Site, opts: &Options) {
        let mut cmd = Command::new(crate::bin("skiff-proxy"));
        cmd.arg("--kubeconfig")
            .arg(site.kubeconfig)
            .args(["--node-name", &self.name])
            .arg("--cgroup")
            .arg(&self.cgroup)
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .arg("--cni-conf-dir")
            .arg(&self.cni_conf_dir)
            .arg("--cni-state-dir")
            .arg(&self.cni_state_dir)
            .args(["--routing", opts.routing.flag()])
            .args(["--healthz-bind", &format!("0.0.0.0:{AGENT_HEALTHZ_PORT}")])
            .args(["--metrics-bind", &format!("127.0.0.1:{AGENT_METRICS_PORT}")])
            .args(&opts.agent_args)
            .env("RUST_LOG", &opts.log_filter);
        self.agent = Some(Process::spawn(
            &format!("agent of {}", self.name),
            cmd,
            &self.netns,
            &self.dir.join("agent.log"),
        ));
    }

    /// Runs a command inside the node's network namespace (`ip netns exec`,
    /// so `/sys/class/net` shows the node's interfaces).
    pub fn exec_in_netns(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.netns.name])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {args:?} in {}: {e}", self.netns.name))
    }

    /// A plain HTTP GET from inside the node's namespace: (status, body).
    pub fn http_get(&self, addr: SocketAddr, path: &str) -> Option<(u16, String)> {
        let path = path.to_owned();
        self.netns
            .spawn(move || crate::agent::http_get_at(addr, &path))
            .join()
            .unwrap()
    }

    /// The agent's `/healthz` answers 200.
    pub fn agent_healthy(&self) -> bool {
        matches!(
            self.http_get(([127, 0, 0, 1], AGENT_HEALTHZ_PORT).into(), "/healthz"),
            Some((200, _))
        )
    }

    /// The debug CLI on this node's pinned maps.
    pub fn dbg(&self, args: &[&str]) -> Output {
        Command::new(crate::bin("skiff-dbg"))
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .args(args)
            .output()
            .expect("running skiff-dbg")
    }

    /// The kubelet's process (its pid, log), once started.
    pub fn kubelet(&self) -> Option<&Process> {
        self.kubelet.as_ref()
    }

    /// The agent's process, once started.
    pub fn agent(&self) -> Option<&Process> {
        self.agent.as_ref()
    }

    pub fn kubelet_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kubelet.log")).unwrap_or_default()
    }

    pub fn agent_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// A component that has ended.
    pub fn exited(&self) -> Option<String> {
        if let Some(pid) = self.containerd.pid()
            && !crate::procs::running(pid as i32)
        {
            return Some(format!("the containerd of {} exited", self.name));
        }
        [self.kubelet.as_ref(), self.agent.as_ref()]
            .into_iter()
            .flatten()
            .find(|p| !p.running())
            .map(|p| format!("the {} exited", p.name))
    }

    /// The last lines of each component's log.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for p in [self.kubelet.as_ref(), self.agent.as_ref()]
            .into_iter()
            .flatten()
        {
            out.push_str(&format!(
                "--- {} ({}) ---\n{}\n",
                p.name,
                p.log.display(),
                p.log_tail(lines)
            ));
        }
        out.push_str(&format!(
            "--- containerd of {} ({}) ---\n{}\n",
            self.name,
            self.containerd.layout.log().display(),
            crate::tail(&self.containerd.log(), lines)
        ));
        out
    }

    /// Starts the kubelet again, as it was first started (after
    /// [`Node::stop_kubelet`]); its log continues in `kubelet.log`.
    pub fn restart_kubelet(&mut self) {
        self.stop_kubelet();
        let (args, filter) = self
            .kubelet_cmd
            .clone()
            .expect("the kubelet was started once");
        let mut cmd = Command::new(crate::bin("skiff-control"));
        cmd.args(args).env("RUST_LOG", filter);
        self.kubelet = Some(Process::spawn(
            &format!("kubelet of {}", self.name),
            cmd,
            &self.netns,
            &self.dir.join("kubelet.log"),
        ));
    }

    /// Kills the kubelet as a crash would: its pods keep running, its Lease
    /// stops. Its log stays in `kubelet.log`.
    pub fn stop_kubelet(&mut self) {
        if let Some(mut kubelet) = self.kubelet.take() {
            kubelet.stop(Duration::ZERO);
        }
    }

    /// Stops the agent and the kubelet (SIGTERM, then SIGKILL).
    pub(super) fn stop(&mut self) {
        for p in [self.agent.as_mut(), self.kubelet.as_mut()]
            .into_iter()
            .flatten()
        {
            p.stop(Duration::from_secs(3));
        }
    }
}

impl Routing {
    pub fn flag(self) -> &'static str {
        match self {
            Routing::Direct => "direct",
            Routing::Vxlan => "vxlan",
            Routing::Kernel => "kernel",
        }
    }
}
