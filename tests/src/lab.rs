//! A node on one machine: a bridge in the node's namespace, pods (namespaces
//! with a veth on the bridge and servers on their IPs), a client pod whose
//! process runs in the cgroup the programs are attached to, and the agent.
//!
//! The namespaces have no route out: every address used lives inside them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent::{Agent, AgentConfig};
use crate::cgroup::Cgroup;
use crate::manifests::{Port, READY, port, service, slice, yaml};
use crate::netns::Netns;
use crate::probe::{self, Held, Outcome};
use crate::server::Server;

pub const POD_PORT: u16 = 8080;
pub const CLIENT_IP4: &str = "10.244.0.2";

pub struct Pod {
    pub name: String,
    pub ip4: String,
    pub ip6: String,
    _server: Server,
    _ns: Netns,
}

pub struct Lab {
    pub agent: Option<Agent>,
    pub pods: Vec<Pod>,
    _extra_servers: Vec<Server>,
    pub client: Netns,
    pub cgroup: Cgroup,
    pub node: Netns,
    pub dir: tempfile::TempDir,
    pub id: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn veth_pair(node: &Netns, host_name: &str, pod: &Netns) {
    crate::sh(&[
        "ip", "link", "add", host_name, "netns", &node.name, "type", "veth", "peer", "name",
        "eth0", "netns", &pod.name,
    ]);
    node.ip(&["link", "set", host_name, "master", "br0", "up"]);
    pod.ip(&["link", "set", "eth0", "up"]);
}

impl Lab {
    /// A node with `pods` backend pods named `pod-1`.. and a client pod.
    pub fn new(pods: usize) -> Self {
        crate::require_root();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:x}{n}", std::process::id() % 0xfff);
        let node = Netns::create(&format!("sk-{id}-node"));
        node.ip(&["link", "add", "br0", "type", "bridge"]);
        node.ip(&["addr", "add", "10.244.0.1/24", "dev", "br0"]);
        node.ip(&["addr", "add", "fd00:244::1/64", "dev", "br0", "nodad"]);
        node.ip(&["link", "set", "br0", "up"]);

        let client = Netns::create(&format!("sk-{id}-client"));
        veth_pair(&node, &format!("k{id}c"), &client);
        client.ip(&["addr", "add", &format!("{CLIENT_IP4}/24"), "dev", "eth0"]);
        client.ip(&["addr", "add", "fd00:244::2/64", "dev", "eth0", "nodad"]);

        let mut all = Vec::new();
        for i in 1..=pods {
            let ns = Netns::create(&format!("sk-{id}-pod{i}"));
            veth_pair(&node, &format!("k{id}p{i}"), &ns);
            let ip4 = format!("10.244.0.{}", 10 + i);
            let ip6 = format!("fd00:244::{}", 10 + i);
            ns.ip(&["addr", "add", &format!("{ip4}/24"), "dev", "eth0"]);
            ns.ip(&["addr", "add", &format!("{ip6}/64"), "dev", "eth0", "nodad"]);
            let name = format!("pod-{i}");
            // [::] takes IPv4 and IPv6 alike.
            let server = Server::start(&ns, format!("[::]:{POD_PORT}").parse().unwrap(), &name);
            all.push(Pod {
                name,
                ip4,
                ip6,
                _server: server,
                _ns: ns,
            });
        }
        let cgroup = Cgroup::create(&format!("skiff-test-{id}"));
        let dir = tempfile::Builder::new()
            .prefix(&format!("skiff-lab-{id}-"))
            .tempdir()
            .unwrap();
        Self {
            agent: None,
            pods: all,
            _extra_servers: Vec::new(),
            client,
            cgroup,
            node,
            dir,
            id,
        }
    }

    pub fn node_name(&self) -> String {
        format!("lab-{}", self.id)
    }

    pub fn pin_dir(&self) -> PathBuf {
        PathBuf::from("/sys/fs/bpf/skiff").join(self.node_name())
    }

    pub fn start_agent(&mut self) -> &Agent {
        self.agent = Some(Agent::start(self.agent_config()));
        self.agent()
    }

    pub fn agent_config(&self) -> AgentConfig {
        AgentConfig::new(&self.node_name(), &self.cgroup.path, self.dir.path())
    }

    pub fn agent(&self) -> &Agent {
        self.agent.as_ref().expect("the agent is not running")
    }

    /// SIGKILL, then a new agent with the same configuration.
    pub fn kill_agent(&mut self) -> AgentConfig {
        self.agent.take().expect("the agent is not running").kill()
    }

    pub fn start_agent_with(&mut self, cfg: AgentConfig) {
        self.agent = Some(Agent::start(cfg));
    }

    /// A slice listing every pod, ready, by its IPv4 or IPv6 address.
    pub fn ready_slice(&self, name: &str, svc: &str, v6: bool, ports: &[Port]) -> Value {
        let eps: Vec<(&str, _)> = self
            .pods
            .iter()
            .map(|p| (if v6 { p.ip6.as_str() } else { p.ip4.as_str() }, READY))
            .collect();
        slice(name, svc, &eps, ports)
    }

    /// Service `name` at `vip`:80/TCP, served by every pod: the common case.
    pub fn web(&self, name: &str, vip: &str, affinity_timeout: Option<u32>) -> Vec<Value> {
        let ports = [port("http", 80, POD_PORT, "TCP")];
        vec![
            service(name, &[vip], &ports, affinity_timeout),
            self.ready_slice(&format!("{name}-1"), name, false, &ports),
        ]
    }

    /// Replaces the manifests the agent reads and waits until it has synced them.
    pub fn apply(&self, objects: &[Value]) {
        self.apply_file("objects.yaml", &yaml(objects));
    }

    /// Like `apply`, but the sync may fail: waits for either outcome and
    /// returns whether it succeeded.
    pub fn try_apply(&self, objects: &[Value]) -> bool {
        let agent = self.agent();
        let errors = |a: &Agent| a.metric("skiff_proxy_sync_errors_total") as u64;
        let (syncs, failed) = (agent.syncs(), errors(agent));
        let dir = &agent.cfg.manifests;
        std::fs::write(dir.join(".objects.tmp"), yaml(objects)).unwrap();
        std::fs::rename(dir.join(".objects.tmp"), dir.join("objects.yaml")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if agent.syncs() > syncs {
                return true;
            }
            if errors(agent) > failed {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "the agent neither synced nor failed:\n{}",
                agent.log_tail()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Writes one manifest file (atomically) and waits for the agent's next
    /// sync; returns how long that took.
    pub fn apply_file(&self, name: &str, text: &str) -> Duration {
        let agent = self.agent();
        let before = agent.syncs();
        let dir = &agent.cfg.manifests;
        let tmp = dir.join(".objects.tmp");
        std::fs::write(&tmp, text).unwrap();
        let started = Instant::now();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
        let deadline = started + Duration::from_secs(60);
        while agent.syncs() <= before {
            assert!(
                Instant::now() < deadline,
                "the agent did not sync the new manifests:\n{}",
                agent.log_tail()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        started.elapsed()
    }

    /// A server inside the client's own namespace, on an address given to
    /// its loopback: it shows what reaches an address without balancing.
    pub fn client_local_server(&mut self, ip: &str, port: u16, identity: &str) {
        let prefix = if ip.contains(':') { "128" } else { "32" };
        self.client
            .ip(&["addr", "add", &format!("{ip}/{prefix}"), "dev", "lo"]);
        let addr = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        self._extra_servers
            .push(Server::start(&self.client, addr.parse().unwrap(), identity));
    }

    pub fn tcp(&self, addr: &str, count: usize) -> Vec<Outcome> {
        probe::run(
            &self.client,
            &self.cgroup,
            &["tcp", addr, &count.to_string()],
        )
    }

    pub fn udp(&self, addr: &str, count: usize, connected: bool) -> Vec<Outcome> {
        let mut args = vec!["udp", addr];
        let c = count.to_string();
        args.push(&c);
        if connected {
            args.push("connected");
        }
        probe::run(&self.client, &self.cgroup, &args)
    }

    pub fn hold(&self, addr: &str) -> Held {
        Held::open(&self.client, &self.cgroup, addr)
    }

    /// Runs the debug CLI against this node's pin directory.
    pub fn dbg(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(crate::bin("skiff-dbg"))
            .arg("--pin-dir")
            .arg(self.pin_dir())
            .args(args)
            .output()
            .expect("running skiff-dbg")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(agent) = self.agent.take() {
            if std::thread::panicking() {
                eprintln!(
                    "--- agent log ({}) ---\n{}",
                    agent.cfg.log.display(),
                    agent.log_tail()
                );
            }
            drop(agent);
        }
        // Removing the pins detaches the programs and frees the maps.
        let _ = std::fs::remove_dir_all(self.pin_dir());
    }
}
