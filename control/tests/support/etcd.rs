//! A real etcd (Debian's `etcd-server`) on free loopback ports.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use control::store::EtcdStore;
use tempfile::TempDir;

const ETCD: &str = "/usr/bin/etcd";

/// A single-member etcd on free loopback ports, killed when dropped.
pub struct EtcdServer {
    child: Child,
    pub url: String,
    _dir: TempDir,
}

impl EtcdServer {
    pub async fn start() -> Self {
        assert!(
            Path::new(ETCD).exists(),
            "{ETCD} is missing: the tests against etcd run the real one; \
             `cargo xtask setup` installs it (Debian package etcd-server)"
        );
        // A port picked free can be taken before etcd binds it: try again.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start().await {
                Ok(server) => return server,
                Err(why) => failures.push(why),
            }
        }
        panic!("etcd did not start:\n{}", failures.join("\n---\n"));
    }

    async fn try_start() -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = free_ports();
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log_path = dir.path().join("etcd.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(ETCD)
            .arg("--name=test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {ETCD}: {e}"))?;
        let mut server = EtcdServer {
            child,
            url,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("etcd exited ({status}):\n{log}"));
            }
            if EtcdStore::connect(std::slice::from_ref(&server.url), None)
                .await
                .is_ok()
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("etcd did not answer within 30s:\n{log}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}
