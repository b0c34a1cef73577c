//! The real control plane (skiff-control) on a loopback port, with its own
//! data directory; kubectl and the agent reach it with the kubeconfig it writes.

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::agent::free_port;

pub struct ControlPlane {
    child: Child,
    pub dir: tempfile::TempDir,
}

impl ControlPlane {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra flags for skiff-control.
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("skiff-control-")
            .tempdir()
            .unwrap();
        let child = Command::new(crate::bin("skiff-control"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--bind", &format!("127.0.0.1:{}", free_port())])
            .args(extra)
            .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting skiff-control");
        let cp = Self { child, dir };
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
        Command::new(kubectl)
            .arg("--kubeconfig")
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

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
