//! The real skiff-control binary in a temporary data directory, and the
//! clients the tests reach it with.

#![allow(dead_code)]

pub mod etcd;
pub mod kubelet;
pub mod nodes;
pub mod observer;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    extra: Vec<String>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// kubectl 1.32, as the machine image ships it.
pub fn kubectl_current() -> PathBuf {
    let path = PathBuf::from("/usr/bin/kubectl");
    assert!(
        path.exists(),
        "kubectl 1.32 is expected at /usr/bin/kubectl (the machine image ships it)"
    );
    path
}

/// kubectl 1.20, unpacked by `cargo xtask setup` from Debian's kubernetes-client.
pub fn kubectl_legacy() -> PathBuf {
    let path = std::env::var_os("SKIFF_KUBECTL_1_20").map(PathBuf::from).expect(
        "SKIFF_KUBECTL_1_20 is not set: run the tests with `cargo xtask test`, which installs kubectl 1.20",
    );
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask setup`",
        path.display()
    );
    path
}

/// The Python of the venv `cargo xtask setup` makes, with the `kubernetes` client.
pub fn python() -> PathBuf {
    let path = std::env::var_os("SKIFF_PYTHON").map(PathBuf::from).expect(
        "SKIFF_PYTHON is not set: run the tests with `cargo xtask test`, which installs a Python with the `kubernetes` client",
    );
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask setup`",
        path.display()
    );
    path
}

fn spawn(dir: &Path, port: u16, extra: &[String]) -> Child {
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, "s3cret,alice,1001,\"dev\"\n").unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_skiff-control"))
        .arg("--data-dir")
        .arg(dir)
        .arg("--token-auth-file")
        .arg(&tokens)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stderr(log)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn(dir.path(), port, &extra);
        let mut server = Self {
            child,
            dir,
            port,
            extra,
        };
        server.wait_ready();
        server
    }

    /// Ready once it answers /readyz after writing its kubeconfig; a
    /// process that exits (a bad flag) fails at once with its log.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "skiff-control exited ({status}) before it was ready: {}",
                    self.log()
                );
            }
            if self.kubeconfig().exists() {
                let ready = self.kubectl(&self.kubeconfig(), &["get", "--raw", "/readyz"]);
                if ready.status.success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "not ready after 20 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGKILL, then a new process on the same data directory and port.
    pub fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::fs::remove_file(self.kubeconfig()).ok();
        self.child = spawn(self.dir.path(), self.port, &self.extra);
        self.wait_ready();
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        Command::new(kubectl_current())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .unwrap()
    }

    /// A kubectl binary with the admin kubeconfig.
    pub fn admin(&self, bin: PathBuf) -> Kubectl {
        Kubectl {
            bin,
            kubeconfig: self.kubeconfig(),
            dir: self.dir.path().to_owned(),
        }
    }

    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Kubectl {
    pub bin: PathBuf,
    kubeconfig: PathBuf,
    dir: PathBuf,
}

impl Kubectl {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        // Each binary keeps its own discovery cache.
        cmd.env("HOME", &self.dir);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// stdout of a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        ok(&self.run(args))
    }

    /// stderr of a command that must fail.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Writes `content` to a file in the data directory and returns its path.
    pub fn file(&self, name: &str, content: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        path.to_string_lossy().into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "kubectl failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `kubectl rollout status <what>`, which waits until the rollout is done
/// or 90 s pass; off the test's thread, where test kubelets run. Its output.
pub async fn rollout_status(server: &Server, kubectl: &Kubectl, what: &str) -> String {
    let mut cmd = kubectl.command(&["rollout", "status", what, "--timeout=90s"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl rollout status {what} failed: {}{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `check` every 100 ms until it holds; after 20 s fails with `what`
/// and the server's log.
pub async fn eventually<F, Fut>(server: &Server, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} within 20 s\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
