//! A whole cluster on this machine: the real control plane, and nodes made of
//! network namespaces, each with its own containerd, kubelet and agent.
//!
//! ```text
//!  root namespace: bridge skf<id> 10.250.<id>.1/24, skiff-control on it
//!    ├─ veth ─ netns skn<id>-0: eth0 10.250.<id>.10, containerd, kubelet, agent
//!    ├─ veth ─ netns skn<id>-1: eth0 10.250.<id>.11, ...
//! ```
//!
//! Everything it makes is listed in a `State`, saved under
//! `/run/skiff/clusters/` (and optionally to a file of the caller's) and
//! removed on drop, after a panic too; a saved state also lets another
//! process take down a cluster whose process was killed (`teardown_orphans`).

mod fabric;
mod node;
mod process;
mod state;
mod wait;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub use fabric::Fabric;
pub use node::{
    AGENT_HEALTHZ_PORT, AGENT_METRICS_PORT, KUBELET_PORT, KUBELET_READ_ONLY_PORT, Node,
};
pub use process::Process;
pub use state::{State, teardown_orphans};
pub use wait::condition;

use crate::control::ControlPlane;

/// How the agents forward pod traffic between nodes (`--routing`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Routing {
    #[default]
    Direct,
    Vxlan,
    Kernel,
}

pub struct Options {
    pub routing: Routing,
    /// Start an agent on each node (the kubelet's node stays NotReady
    /// without one: it writes the CNI configuration).
    pub agents: bool,
    /// Wait until every Node is Ready and every agent healthy.
    pub wait_ready: bool,
    pub ready_timeout: Duration,
    pub control_args: Vec<String>,
    pub kubelet_args: Vec<String>,
    pub agent_args: Vec<String>,
    /// RUST_LOG of the kubelets and agents.
    pub log_filter: String,
    /// Keep the `State` in this file while the cluster lives.
    pub state_file: Option<PathBuf>,
    /// Told each step as the cluster comes up.
    pub progress: fn(&str),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            routing: Routing::default(),
            agents: true,
            wait_ready: true,
            ready_timeout: Duration::from_secs(90),
            control_args: Vec::new(),
            kubelet_args: Vec::new(),
            agent_args: Vec::new(),
            log_filter: "info".into(),
            state_file: None,
            progress: |_| {},
        }
    }
}

pub struct Cluster {
    // Dropped in this order: nodes, then the API server, then the bridge.
    pub nodes: Vec<Node>,
    pub control: ControlPlane,
    pub fabric: Fabric,
    pub dir: tempfile::TempDir,
    pub state: State,
    state_file: Option<PathBuf>,
}

impl Cluster {
    /// Builds a cluster of `nodes` nodes, `node-0`.. Panics, with every
    /// component's log, if a step fails; what was made is removed.
    pub fn start(nodes: usize, opts: Options) -> Self {
        crate::require_root();
        let say = opts.progress;
        // Fail before anything is made.
        if let Err(why) = kubelet_available() {
            panic!("{why}");
        }
        for bin in ["skiff-control", "skiff-proxy"] {
            crate::bin(bin);
        }
        for image in [crate::images::PAUSE, crate::images::DEMO] {
            crate::images::archive(image);
        }

        let fabric = Fabric::create();
        let id = fabric.id;
        let dir = tempfile::Builder::new()
            .prefix(&format!("skiff-cluster-{id}-"))
            .tempdir()
            .unwrap();
        // The nodes' files (runtimes' state, snapshots, pods' directories)
        // live in memory, as a node's runtime state does under /run. On a
        // disk file system without a journal, ext4 makes each new inode scan
        // past every inode deleted in the last minutes: with clusters made
        // and removed one after another, a tenth of a pod burst's CPU.
        crate::mounts::tmpfs(dir.path());
        let mut state = State {
            owner: std::process::id(),
            bridge: fabric.bridge.clone(),
            cgroup: PathBuf::from(format!("skiff/c{id}")),
            pin_root: PathBuf::from(format!("/sys/fs/bpf/skiff/c{id}")),
            dirs: vec![dir.path().to_owned()],
            ..State::default()
        };
        let save = |state: &State| {
            state.save(&state.registry_path());
            if let Some(path) = &opts.state_file {
                state.save(path);
            }
        };
        save(&state);
        // From here a panic drops `guard`, which tears down what the state lists.
        let mut guard = Teardown(Some(state.clone()));
        say(&format!(
            "fabric: bridge {} with {}/24",
            fabric.bridge,
            fabric.gateway()
        ));

        let gateway: IpAddr = fabric.gateway().parse().unwrap();
        let control_args: Vec<&str> = opts.control_args.iter().map(String::as_str).collect();
        let control = ControlPlane::start_on(gateway, &control_args);
        state.dirs.push(control.dir.path().to_owned());
        save(&state);
        guard.0 = Some(state.clone());
        say(&format!("control plane: https://{}", control.addr()));

        let kubeconfig = control.kubeconfig();
        let site = node::Site {
            fabric: &fabric,
            dir: dir.path(),
            cgroup: &state.cgroup.clone(),
            pin_root: &state.pin_root.clone(),
            kubeconfig: &kubeconfig,
        };
        let mut all = Vec::new();
        for i in 0..nodes {
            state.netns.push(node::netns_name(id, i));
            state
                .containerd
                .push(dir.path().join(format!("node-{i}/ctd")));
            save(&state);
            guard.0 = Some(state.clone());
            let mut node = Node::create(&site, i);
            say(&format!(
                "{}: {} in netns {}, containerd ready",
                node.name, node.ip, node.netns.name
            ));
            node.start_kubelet(&site, &opts);
            if opts.agents {
                node.start_agent(&site, &opts);
            }
            all.push(node);
        }
        // The cluster owns the cleanup from here.
        guard.0 = None;
        let cluster = Self {
            nodes: all,
            control,
            fabric,
            dir,
            state,
            state_file: opts.state_file.clone(),
        };
        if opts.wait_ready {
            say("waiting for the nodes to be Ready ...");
            cluster.wait_nodes_ready(opts.ready_timeout);
            cluster.route_pod_cidrs();
            if opts.agents {
                cluster.wait_agents_healthy(opts.ready_timeout);
            }
            say("all nodes Ready");
        }
        cluster
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// Routes each node's pod CIDR to the node on the fabric's side, as a
    /// control plane host's network does: pods' connections to the API
    /// server (through the `kubernetes` Service) get their answers back,
    /// and nothing for a pod leaves by the machine's own default route.
    pub fn route_pod_cidrs(&self) {
        let list = self
            .get_json(&["nodes"])
            .unwrap_or_else(|| self.fail("listing the nodes for their pod CIDRs"));
        let items = list["items"].as_array().cloned().unwrap_or_default();
        for node in &self.nodes {
            let cidr = items
                .iter()
                .find(|n| n["metadata"]["name"] == node.name.as_str())
                .and_then(|n| n["spec"]["podCIDR"].as_str())
                .unwrap_or_else(|| self.fail(&format!("{} has no pod CIDR", node.name)));
            let out = std::process::Command::new("ip")
                .args(["route", "replace", cidr, "via", &node.ip])
                .args(["dev", &self.fabric.bridge])
                .output()
                .expect("running ip");
            if !out.status.success() {
                self.fail(&format!(
                    "routing {cidr} to {}: {}",
                    node.name,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }

    /// The admin kubeconfig; its server is the fabric address.
    pub fn kubeconfig(&self) -> PathBuf {
        self.control.kubeconfig()
    }

    /// kubectl with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl_command(&self.kubeconfig())
            .args(args)
            .output()
            .expect("running kubectl")
    }

    /// kubectl that must succeed; its stdout. Fails with every log.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        if !out.status.success() {
            self.fail(&format!(
                "kubectl {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `manifest` (YAML or JSON).
    pub fn apply(&self, manifest: &str) -> String {
        use std::io::Write as _;
        let mut child = kubectl_command(&self.kubeconfig())
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(manifest.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            self.fail(&format!(
                "kubectl apply failed: {}{}\nmanifest:\n{manifest}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The last lines of every component's log: API server, then each node's
    /// kubelet, agent and containerd.
    pub fn logs(&self) -> String {
        let mut out = format!(
            "--- skiff-control ({}) ---\n{}\n",
            self.control.dir.path().join("server.log").display(),
            crate::tail(&self.control.log(), 100)
        );
        for node in &self.nodes {
            out.push_str(&node.logs(60));
        }
        out
    }

    /// Panics with `what` and every component's log.
    pub fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.logs())
    }
}

/// kubectl (from the machine image, or `SKIFF_KUBECTL`) with `kubeconfig`.
pub fn kubectl_command(kubeconfig: &Path) -> Command {
    let kubectl = std::env::var_os("SKIFF_KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"));
    assert!(
        kubectl.exists(),
        "kubectl is expected at {} (set SKIFF_KUBECTL to use another)",
        kubectl.display()
    );
    let mut cmd = Command::new(kubectl);
    cmd.arg("--kubeconfig").arg(kubeconfig);
    cmd
}

/// The kubelet is a subcommand of skiff-control: `Err` says why this build
/// cannot run nodes.
pub fn kubelet_available() -> Result<(), String> {
    let bin = crate::bin("skiff-control");
    let out = Command::new(&bin)
        .args(["kubelet", "--help"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`skiff-control kubelet` is not available in {}: the nodes need the kubelet \
         subcommand; skiff-control said: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Tears a half-built cluster down if `start` panics.
struct Teardown(Option<State>);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state.teardown();
            let _ = std::fs::remove_file(state.registry_path());
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        for node in &mut self.nodes {
            node.stop();
        }
        // Nodes' processes, runtimes and namespaces; what remains (cgroups,
        // pins, directories, the bridge) goes with the state's teardown.
        self.nodes.clear();
        self.state.teardown();
        let _ = std::fs::remove_file(self.state.registry_path());
        if let Some(path) = &self.state_file {
            let _ = std::fs::remove_file(path);
        }
    }
}
