//! The real control plane (skiff-control) on a loopback port (or another
//! address of this namespace, such as a cluster's fabric bridge), with its own
//! data directory; kubectl and the agent reach it with the kubeconfig it
//! writes, whose server is the bind address (the server puts that address in
//! its certificate).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::agent::free_port;

pub struct ControlPlane {
    child: Child,
    pub dir: tempfile::TempDir,
    addr: SocketAddr,
    /// The network namespace it runs in (and kubectl with it), if not ours.
    netns: Option<String>,
}

impl ControlPlane {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra flags for skiff-control.
    pub fn start_with(extra: &[&str]) -> Self {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port());
        Self::start_at(addr, extra, None)
    }

    /// On loopback in the network namespace `netns` (a node's), where only
    /// that node's processes reach it.
    pub fn start_in(netns: &str, extra: &[&str]) -> Self {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port());
        Self::start_at(addr, extra, Some(netns.to_owned()))
    }

    /// Bound to `ip` (an address of this network namespace), on a free port.
    pub fn start_on(ip: IpAddr, extra: &[&str]) -> Self {
        let port = TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("no free port on {ip}: {e}"))
            .port();
        Self::start_at(SocketAddr::new(ip, port), extra, None)
    }

    fn start_at(addr: SocketAddr, extra: &[&str], netns: Option<String>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("skiff-control-")
            .tempdir()
            .unwrap();
        let child = spawn(&dir, addr, extra, netns.as_deref());
        let mut cp = Self {
            child,
            dir,
            addr,
            netns,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cp.kubeconfig().exists() {
            if let Ok(Some(status)) = cp.child.try_wait() {
                panic!("skiff-control exited ({status}):\n{}", cp.log());
            }
            assert!(
                Instant::now() < deadline,
                "skiff-control wrote no kubeconfig in 20 s:\n{}",
                cp.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        cp
    }

    /// Stops the process as a service manager does (SIGTERM: it hands its
    /// leader Lease over) and starts it again on the same data and port,
    /// with `extra` flags; returns once it answers.
    pub fn restart_with(&mut self, extra: &[&str]) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.child = spawn(&self.dir, self.addr, extra, self.netns.as_deref());
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "skiff-control did not listen again in 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A kube-rs client with the admin kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address the API server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// kubectl (1.32, from the machine image) with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        let kubectl = PathBuf::from("/usr/bin/kubectl");
        assert!(
            kubectl.exists(),
            "kubectl is expected at /usr/bin/kubectl (the machine image ships it)"
        );
        let mut cmd = Command::new(kubectl);
        if let Some(ns) = &self.netns {
            crate::netns::enter_before_exec(&mut cmd, ns);
        }
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .output()
            .unwrap()
    }

    /// kubectl that must succeed; its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn spawn(dir: &tempfile::TempDir, addr: SocketAddr, extra: &[&str], netns: Option<&str>) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("server.log"))
        .unwrap();
    let mut cmd = Command::new(crate::bin("skiff-control"));
    if let Some(ns) = netns {
        crate::netns::enter_before_exec(&mut cmd, ns);
    }
    cmd.arg("--data-dir")
        .arg(dir.path())
        .args(["--bind", &addr.to_string()])
        .args(extra)
        .stderr(log)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting skiff-control")
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
