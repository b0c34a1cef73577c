//! Pod networking on one machine: nodes are network namespaces joined by a
//! veth "wire" between their uplinks, each with its own agent (fed Node
//! manifests, routing pods); pods are namespaces wired by the real
//! `skiff-cni`, invoked as a runtime would, with a server on their address.
//!
//! Every address lives inside the namespaces made here; nothing routes out.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::agent::{Agent, AgentConfig};
use crate::cgroup::Cgroup;
use crate::netns::{self, Netns};
use crate::server::Server;

pub const POD_PORT: u16 = 8080;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name part unique to this test process and call.
pub fn unique() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{n}", std::process::id() % 0xfff)
}

/// What a plugin run printed and how it exited.
#[derive(Debug)]
pub struct CniRun {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CniRun {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "skiff-cni printed no JSON ({e}): status {}, stdout {:?}, stderr {:?}",
                self.status, self.stdout, self.stderr
            )
        })
    }

    /// The error's code, asserting the run failed with the spec's error shape.
    pub fn error_code(&self) -> u64 {
        assert_ne!(self.status, 0, "expected a failure: {self:?}");
        let v = self.json();
        assert!(v["msg"].is_string(), "an error has a msg: {v}");
        v["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("an error has a code: {v}"))
    }

    pub fn ok(&self) -> &Self {
        assert_eq!(self.status, 0, "skiff-cni failed: {self:?}");
        self
    }
}

/// One plugin invocation, as a runtime makes it: CNI_* variables, the
/// config on stdin, run in the node's namespace.
pub struct Invoke<'a> {
    pub node_ns: String,
    pub command: &'a str,
    pub container: &'a str,
    pub netns: Option<&'a str>,
    pub ifname: &'a str,
    pub stdin: String,
    /// argv[0], as the runtime names the plugin by its type.
    pub program: &'a str,
}

impl Invoke<'_> {
    pub fn run(&self) -> CniRun {
        let mut cmd = Command::new(crate::bin("skiff-cni"));
        {
            use std::os::unix::process::CommandExt as _;
            cmd.arg0(self.program);
        }
        netns::enter_before_exec(&mut cmd, &self.node_ns);
        for (k, v) in [
            ("CNI_COMMAND", Some(self.command)),
            ("CNI_CONTAINERID", Some(self.container)),
            ("CNI_NETNS", self.netns),
            ("CNI_IFNAME", Some(self.ifname)),
            ("CNI_PATH", Some(crate::bin_dir().to_str().unwrap())),
        ] {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting skiff-cni");
        {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(self.stdin.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        CniRun {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The plugin's config as a runtime passes it: the conflist's one plugin
/// with the list's `cniVersion` and `name`.
pub fn plugin_config(conflist: &Value) -> Value {
    let mut p = conflist["plugins"][0].clone();
    p["cniVersion"] = conflist["cniVersion"].clone();
    p["name"] = conflist["name"].clone();
    p
}

pub struct NetNode {
    pub name: String,
    pub address: String,
    pub pod_cidr: String,
    pub agent: Option<Agent>,
    pub agent_cfg: AgentConfig,
    pub dir: tempfile::TempDir,
    pub cgroup: Cgroup,
    pub ns: Netns,
}

impl NetNode {
    pub fn pin_dir(&self) -> PathBuf {
        self.agent_cfg.pin_dir.clone()
    }
    pub fn conf_dir(&self) -> PathBuf {
        self.dir.path().join("cni-conf")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("cni-state")
    }

    pub fn start_agent(&mut self) {
        self.agent = Some(Agent::start(self.agent_cfg.clone()));
    }

    /// The conflist, once the agent has written it.
    pub fn conflist(&self) -> Value {
        let path = self.conf_dir().join("10-skiff.conflist");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return serde_json::from_str(&text).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "the agent wrote no {} in 20 s:\n{}",
                path.display(),
                self.agent
                    .as_ref()
                    .map(|a| a.log_tail())
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn invoke<'a>(
        &'a self,
        command: &'a str,
        container: &'a str,
        netns: Option<&'a str>,
    ) -> Invoke<'a> {
        Invoke {
            node_ns: self.ns.path(),
            command,
            container,
            netns,
            ifname: "eth0",
            stdin: plugin_config(&self.conflist()).to_string(),
            program: "skiff-cni",
        }
    }

    /// A pod: its namespace, ADD, and a server on its address.
    pub fn add_pod(&self, name: &str) -> Pod {
        let ns = Netns::create(&format!("sk-{}-{name}", unique()));
        let container = format!("{}-{name}", self.name);
        let path = ns.path();
        let result = self.invoke("ADD", &container, Some(&path)).run();
        let v = result.ok().json();
        let cidr = v["ips"][0]["address"].as_str().unwrap().to_owned();
        let ip: Ipv4Addr = cidr.split('/').next().unwrap().parse().unwrap();
        let server = Server::start(&ns, SocketAddr::from((ip, POD_PORT)), name);
        Pod {
            name: name.to_owned(),
            container,
            ip,
            result: v,
            _server: server,
            ns,
        }
    }

    /// A command run in the node's namespace.
    pub fn ip(&self, args: &[&str]) -> String {
        self.ns.ip(args)
    }

    pub fn sysctl(&self, key: &str, value: &str) {
        let (ns, key, value) = (self.ns.path(), key.to_owned(), value.to_owned());
        std::thread::spawn(move || {
            netns::enter(&ns);
            std::fs::write(format!("/proc/sys/{key}"), value)
                .unwrap_or_else(|e| panic!("sysctl {key}: {e}"));
        })
        .join()
        .unwrap();
    }

    pub fn read_sysctl(&self, key: &str) -> String {
        let (ns, key) = (self.ns.path(), key.to_owned());
        std::thread::spawn(move || {
            netns::enter(&ns);
            std::fs::read_to_string(format!("/proc/sys/{key}"))
                .unwrap()
                .trim()
                .to_owned()
        })
        .join()
        .unwrap()
    }

    /// The routing programs' counters (summed over CPUs).
    pub fn counters(&self) -> std::collections::BTreeMap<&'static str, u64> {
        proxy_user::maps::NetMaps::open_pinned(&self.pin_dir())
            .unwrap()
            .stats()
            .unwrap()
    }

    /// skiff-dbg against this node's pin directory (run in the node's
    /// namespace, where its veths are).
    pub fn dbg(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(crate::bin("skiff-dbg"));
        netns::enter_before_exec(&mut cmd, &self.ns.path());
        cmd.arg("--pin-dir")
            .arg(self.pin_dir())
            .args(args)
            .output()
            .expect("running skiff-dbg")
    }
}

impl Drop for NetNode {
    fn drop(&mut self) {
        if let Some(agent) = self.agent.take() {
            if std::thread::panicking() {
                eprintln!("--- agent {} log ---\n{}", self.name, agent.log_tail());
            }
            drop(agent);
        }
        // Removing the pins detaches the programs and frees the maps.
        let _ = std::fs::remove_dir_all(self.pin_dir());
    }
}

pub struct Pod {
    pub name: String,
    pub container: String,
    pub ip: Ipv4Addr,
    pub result: Value,
    _server: Server,
    pub ns: Netns,
}

impl Pod {
    /// Connects to `ip`'s server from this pod; its greeting names the pod
    /// that answered.
    pub fn greet(&self, ip: Ipv4Addr) -> Result<String, String> {
        let path = self.ns.path();
        std::thread::spawn(move || {
            netns::enter(&path);
            use std::io::BufRead as _;
            let addr = SocketAddr::from((ip, POD_PORT));
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                .map_err(|e| format!("connect {addr}: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut line = String::new();
            std::io::BufReader::new(s)
                .read_line(&mut line)
                .map_err(|e| format!("read from {addr}: {e}"))?;
            Ok(line.trim().to_owned())
        })
        .join()
        .unwrap()
    }
}

/// Nodes joined by one wire between their uplinks (`up0`, 172.30.0.N/24),
/// node N with pod CIDR 10.246.N.0/24. A lone node's uplink is a veth whose
/// peer stays in the same namespace.
pub struct Cluster {
    pub nodes: Vec<NetNode>,
}

impl Cluster {
    /// `routing` is the agents' --routing; agents are not started.
    pub fn new(count: usize, routing: &str) -> Self {
        assert!((1..=2).contains(&count), "one wire joins at most two nodes");
        crate::require_root();
        let id = unique();
        let mut nodes = Vec::new();
        for i in 1..=count {
            let name = format!("pn-{id}-{i}");
            let ns = Netns::create(&format!("sk-{id}-n{i}"));
            let cgroup = Cgroup::create(&format!("skiff-test-{id}-{i}"));
            let dir = tempfile::Builder::new()
                .prefix(&format!("skiff-pods-{id}-{i}-"))
                .tempdir()
                .unwrap();
            let mut cfg = AgentConfig::new(&name, &cgroup.path, dir.path());
            cfg.netns = Some(ns.path());
            cfg.extra_args = vec![
                "--cni-conf-dir".into(),
                dir.path().join("cni-conf").display().to_string(),
                "--cni-state-dir".into(),
                dir.path().join("cni-state").display().to_string(),
                "--routing".into(),
                routing.into(),
            ];
            nodes.push(NetNode {
                name,
                address: format!("172.30.0.{i}"),
                pod_cidr: format!("10.246.{i}.0/24"),
                agent: None,
                agent_cfg: cfg,
                dir,
                cgroup,
                ns,
            });
        }
        if count == 2 {
            crate::sh(&[
                "ip",
                "link",
                "add",
                "up0",
                "netns",
                &nodes[0].ns.name,
                "type",
                "veth",
                "peer",
                "name",
                "up0",
                "netns",
                &nodes[1].ns.name,
            ]);
        } else {
            nodes[0].ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up0p"]);
            nodes[0].ip(&["link", "set", "up0p", "up"]);
        }
        for n in &nodes {
            n.ip(&["addr", "add", &format!("{}/24", n.address), "dev", "up0"]);
            n.ip(&["link", "set", "up0", "up"]);
        }
        let cluster = Self { nodes };
        cluster.write_node_manifests();
        cluster
    }

    /// Every node's Node object, in every agent's manifest directory.
    pub fn write_node_manifests(&self) {
        let objects = self.node_objects();
        for n in &self.nodes {
            write_manifest(&n.agent_cfg.manifests, "nodes.yaml", &objects);
        }
    }

    /// The Node objects: pod CIDR in the spec, InternalIP in the status.
    pub fn node_objects(&self) -> Vec<Value> {
        self.nodes
            .iter()
            .map(|n| {
                json!({
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": n.name},
                    "spec": {"podCIDR": n.pod_cidr, "podCIDRs": [n.pod_cidr]},
                    "status": {"addresses": [
                        {"type": "InternalIP", "address": n.address},
                        {"type": "Hostname", "address": n.name},
                    ]},
                })
            })
            .collect()
    }

    pub fn start_agents(&mut self) {
        for n in &mut self.nodes {
            n.start_agent();
        }
    }
}

fn write_manifest(dir: &Path, name: &str, objects: &[Value]) {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(".nodes.tmp");
    std::fs::write(&tmp, crate::manifests::yaml(objects)).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}
