//! The real skiff-control binary, reached by the real kubectl with the
//! kubeconfig it writes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn kubectl_bin() -> PathBuf {
    let path = PathBuf::from("/usr/bin/kubectl");
    assert!(
        path.exists(),
        "kubectl 1.32 is expected at /usr/bin/kubectl (the machine image ships it)"
    );
    path
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, "s3cret,alice,1001,\"dev\"\n").unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_skiff-control"))
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--token-auth-file")
            .arg(&tokens)
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !server.kubeconfig().exists() {
            assert!(
                Instant::now() < deadline,
                "no kubeconfig after 20 s: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        Command::new(kubectl_bin())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "kubectl failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn kubectl_authenticates_and_discovers_the_api() {
    let server = Server::start();
    let kc = server.kubeconfig();

    let version: serde_json::Value =
        serde_json::from_str(&ok(&server.kubectl(&kc, &["version", "-o", "json"]))).unwrap();
    assert_eq!(version["serverVersion"]["major"], "1", "{version}");

    let resources = ok(&server.kubectl(&kc, &["api-resources", "--no-headers"]));
    for (name, group) in [
        ("services", "v1"),
        ("endpointslices", "discovery.k8s.io/v1"),
        ("deployments", "apps/v1"),
        ("leases", "coordination.k8s.io/v1"),
    ] {
        assert!(
            resources
                .lines()
                .any(|l| l.starts_with(name) && l.contains(group)),
            "{name} ({group}) in:\n{resources}"
        );
    }
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("services") && l.contains(" svc ")),
        "short names:\n{resources}"
    );
    assert_eq!(ok(&server.kubectl(&kc, &["get", "--raw", "/readyz"])), "ok");

    // A kubeconfig with a bearer token: a known one works, an unknown one
    // gets 401 and only the public paths answer.
    let admin: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    let ca = admin["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_token = |token: &str| {
        let path = server.dir.path().join(format!("{token}.kubeconfig"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{}', certificate-authority-data: {ca}}}}}]\nusers: [{{name: u, user: {{token: {token}}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\n",
                server.port
            ),
        )
        .unwrap();
        path
    };
    assert!(
        ok(&server.kubectl(&with_token("s3cret"), &["get", "--raw", "/api"]))
            .contains("APIVersions")
    );
    let stranger = with_token("wrong");
    let denied = server.kubectl(&stranger, &["get", "--raw", "/api"]);
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Unauthorized"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    assert_eq!(
        ok(&server.kubectl(&stranger, &["get", "--raw", "/healthz"])),
        "ok"
    );
    assert!(ok(&server.kubectl(&stranger, &["get", "--raw", "/version"])).contains("gitVersion"));
}

#[test]
fn a_busy_port_or_data_directory_is_a_clear_error() {
    let server = Server::start();
    let out = Command::new(env!("CARGO_BIN_EXE_skiff-control"))
        .arg("--data-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .args(["--bind", &format!("127.0.0.1:{}", server.port)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{}", server.port)),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_skiff-control"))
        .arg("--data-dir")
        .arg(server.dir.path())
        .args(["--bind", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another process"),
        "the second server names the lock: {err}"
    );
}
