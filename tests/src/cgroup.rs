//! A cgroup v2 directory for a lab's clients: the agent attaches the programs
//! to it, and only processes started in it are balanced.

use std::path::{Path, PathBuf};

pub struct Cgroup {
    pub path: PathBuf,
}

/// The cgroup v2 root: `/sys/fs/cgroup/unified` on hybrid hosts.
pub fn v2_root() -> PathBuf {
    let hybrid = Path::new("/sys/fs/cgroup/unified");
    let root = if hybrid.join("cgroup.procs").exists() {
        hybrid
    } else {
        Path::new("/sys/fs/cgroup")
    };
    assert!(
        root.join("cgroup.procs").exists(),
        "no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified: the sock_addr programs need one"
    );
    root.to_path_buf()
}

impl Cgroup {
    pub fn create(name: &str) -> Self {
        let path = v2_root().join(name);
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating cgroup {}: {e}", path.display()));
        Self { path }
    }

    pub fn procs(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Processes still inside are killed first: a cgroup must be empty to go.
        if let Ok(pids) = std::fs::read_to_string(self.procs()) {
            for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                // SAFETY: plain kill of a process in our own cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
