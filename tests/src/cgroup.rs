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

/// Every mounted cgroup hierarchy: the v1 controllers and v2. runc with the
/// cgroupfs driver makes a pod's cgroup in each of them.
pub fn hierarchies() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found = Vec::new();
    for line in info.lines() {
        let Some((mount, fs)) = line.split_once(" - ") else {
            continue;
        };
        if matches!(fs.split(' ').next(), Some("cgroup" | "cgroup2"))
            && let Some(point) = mount.split(' ').nth(4)
        {
            found.push(PathBuf::from(point));
        }
    }
    found
}

/// Removes the cgroup `rel` (relative to each hierarchy's root) and all its
/// children from every hierarchy, killing what still runs in them.
pub fn remove_everywhere(rel: &Path) {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    if rel.as_os_str().is_empty() {
        return;
    }
    for root in hierarchies() {
        remove_tree(&root.join(rel));
    }
}

/// Children first: a cgroup with children or processes cannot be removed.
fn remove_tree(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path());
        }
    }
    for _ in 0..100 {
        if let Ok(pids) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                // SAFETY: a plain kill of a process left in a cgroup we made.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    eprintln!("cannot remove cgroup {}", dir.display());
}
