//! The real control plane (skiff-control) on a loopback port, with its own
//! data directory; kubectl and the agent reach it with the kubeconfig it writes.

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::agent::free_port;

pub struct ControlPlane {
    child: Child,
    pub dir: tempfile::TempDir,
    port: u16,
    /// The network namespace it runs in (and kubectl with it), if not ours.
    netns: Option<String>,
}

impl ControlPlane {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra flags for skiff-control.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_in(None, extra)
    }

    /// In the network namespace at `netns` (a node's), where only that
    /// node's processes reach its loopback port.
    pub fn start_in(netns: Option<&str>, extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("skiff-control-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let netns = netns.map(str::to_owned);
        let child = spawn(&dir, port, extra, netns.as_deref());
        let cp = Self {
            child,
            dir,
            port,
            netns,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cp.kubeconfig().exists() {
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
        self.child = spawn(&self.dir, self.port, extra, self.netns.as_deref());
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
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

fn spawn(dir: &tempfile::TempDir, port: u16, extra: &[&str], netns: Option<&str>) -> Child {
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
        .args(["--bind", &format!("127.0.0.1:{port}")])
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
