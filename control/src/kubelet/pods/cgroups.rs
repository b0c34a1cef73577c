//! Pod cgroups under `--cgroup-root`. With the cgroupfs driver the runtime
//! places containers under the pod's cgroup but neither makes nor removes the
//! pod's own directory: the kubelet does, in every mounted hierarchy.

use std::path::{Path, PathBuf};

const CGROUP_FS: &str = "/sys/fs/cgroup";

/// The pod's cgroup path as CRI takes it (`cgroup_parent`).
pub fn pod_parent(cgroup_root: &str, uid: &str) -> String {
    format!("{}/pod{uid}", cgroup_root.trim_end_matches('/'))
}

/// Each hierarchy mounted under /sys/fs/cgroup (v1 controllers and the
/// unified one on hybrid hosts, or the single v2 root).
fn hierarchies() -> Vec<PathBuf> {
    let root = Path::new(CGROUP_FS);
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    std::fs::read_dir(root)
        .map(|dirs| {
            dirs.flatten()
                .map(|d| d.path())
                .filter(|p| p.join("cgroup.procs").exists())
                .collect()
        })
        .unwrap_or_default()
}

pub fn create(parent: &str) -> std::io::Result<()> {
    for h in hierarchies() {
        std::fs::create_dir_all(h.join(parent.trim_start_matches('/')))?;
    }
    Ok(())
}

/// Removes the pod's directories, containers' leftovers first (a cgroup
/// directory goes only once it has no children).
pub fn remove(parent: &str) {
    for h in hierarchies() {
        let dir = h.join(parent.trim_start_matches('/'));
        remove_tree(&dir);
    }
}

fn remove_tree(dir: &Path) {
    if let Ok(children) = std::fs::read_dir(dir) {
        for child in children.flatten() {
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&child.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}
