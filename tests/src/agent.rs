//! The real agent binary, fed by a manifest directory, with its own pin
//! directory and ports.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bin;

#[derive(Clone)]
pub struct AgentConfig {
    pub node: String,
    pub cgroup: PathBuf,
    pub pin_dir: PathBuf,
    pub manifests: PathBuf,
    pub log: PathBuf,
    pub healthz_port: u16,
    pub metrics_port: u16,
    /// RUST_LOG of the agent; `proxy_ebpf=debug` turns the programs' events on.
    pub log_filter: String,
    pub extra_args: Vec<String>,
    /// Watch this API server instead of reading the manifest directory.
    pub kubeconfig: Option<PathBuf>,
    /// Run in this network namespace (a node of its own); its ports are
    /// then reached from inside it.
    pub netns: Option<String>,
}

pub struct Agent {
    child: Child,
    pub cfg: AgentConfig,
}

/// A port free on loopback right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_at(([127, 0, 0, 1], port).into(), path)
}

/// A plain HTTP/1.0 GET: (status, body).
pub fn http_get_at(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

impl AgentConfig {
    pub fn new(node: &str, cgroup: &Path, dir: &Path) -> Self {
        Self {
            node: node.to_owned(),
            cgroup: cgroup.to_owned(),
            pin_dir: PathBuf::from("/sys/fs/bpf/skiff").join(node),
            manifests: dir.join("manifests"),
            log: dir.join("agent.log"),
            healthz_port: free_port(),
            metrics_port: free_port(),
            log_filter: "info,proxy_ebpf=debug".into(),
            extra_args: Vec::new(),
            kubeconfig: None,
            netns: None,
        }
    }
}

impl Agent {
    /// Starts the agent and waits until it reports healthy (first sync done).
    pub fn start(cfg: AgentConfig) -> Self {
        std::fs::create_dir_all(&cfg.manifests).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.log)
            .unwrap();
        let mut cmd = Command::new(bin("skiff-proxy"));
        if let Some(ns) = &cfg.netns {
            crate::netns::enter_before_exec(&mut cmd, ns);
        }
        let child = cmd
            .args(["--node-name", &cfg.node])
            .arg("--cgroup")
            .arg(&cfg.cgroup)
            .arg("--pin-dir")
            .arg(&cfg.pin_dir)
            .args(match &cfg.kubeconfig {
                Some(kc) => ["--kubeconfig".as_ref(), kc.as_os_str()],
                None => ["--manifests".as_ref(), cfg.manifests.as_os_str()],
            })
            .args(["--healthz-bind", &format!("127.0.0.1:{}", cfg.healthz_port)])
            .args(["--metrics-bind", &format!("127.0.0.1:{}", cfg.metrics_port)])
            .args(&cfg.extra_args)
            .env("RUST_LOG", &cfg.log_filter)
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting skiff-proxy");
        let mut agent = Self { child, cfg };
        agent.wait_healthy();
        agent
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the agent exited ({status}) before becoming healthy:\n{}",
                    self.log_tail()
                );
            }
            if matches!(
                self.http_get(self.cfg.healthz_port, "/healthz"),
                Some((200, _))
            ) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not become healthy in 20 s:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.cfg.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `http_get` from the agent's namespace.
    pub fn http_get(&self, port: u16, path: &str) -> Option<(u16, String)> {
        match &self.cfg.netns {
            None => http_get(port, path),
            Some(ns) => {
                let (ns, path) = (ns.clone(), path.to_owned());
                std::thread::spawn(move || {
                    crate::netns::enter(&ns);
                    http_get(port, &path)
                })
                .join()
                .unwrap()
            }
        }
    }

    pub fn metrics(&self) -> String {
        self.http_get(self.cfg.metrics_port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// A counter or gauge from /metrics.
    pub fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }

    pub fn syncs(&self) -> u64 {
        self.metric("skiff_proxy_syncs_total") as u64
    }

    /// Kills the agent without letting it clean up, as a crash would (SIGKILL,
    /// which dropping it sends), and gives back its configuration.
    pub fn kill(self) -> AgentConfig {
        self.cfg.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
