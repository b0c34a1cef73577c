//! What a cluster made on this machine, written to a file as it is made, so
//! that a cluster whose process was killed can still be taken down
//! (`cargo xtask run --down`): `teardown` needs nothing but this record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Every live cluster's state is also kept here, named after its bridge, so
/// that clusters whose process died (a killed test) can be found.
pub const REGISTRY: &str = "/run/skiff/clusters";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// The process that made the cluster (and removes it on drop).
    #[serde(default)]
    pub owner: u32,
    /// The fabric bridge in the root namespace.
    pub bridge: String,
    /// The nodes' network namespaces.
    pub netns: Vec<String>,
    /// The cluster's cgroup, relative to each hierarchy's root (nodes and
    /// pods are below it).
    pub cgroup: PathBuf,
    /// The nodes' pin directories are below it.
    pub pin_root: PathBuf,
    /// The nodes' containerd directories (see `containerd::Layout`).
    pub containerd: Vec<PathBuf>,
    /// The cluster's and the control plane's directories: a process whose
    /// command line names one of them (or `pin_root`) is the cluster's.
    pub dirs: Vec<PathBuf>,
}

impl State {
    pub fn save(&self, path: &Path) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap()).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    /// Where the registry keeps this cluster's state.
    pub fn registry_path(&self) -> PathBuf {
        Path::new(REGISTRY).join(format!("{}.json", self.bridge))
    }

    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read(path)?;
        serde_json::from_slice(&text).map_err(std::io::Error::other)
    }

    /// Removes everything recorded, whatever is left of it: processes first
    /// (they hold mounts, cgroups and namespaces), then runtimes' mounts,
    /// namespaces, the bridge, cgroups, pins and directories. Idempotent.
    pub fn teardown(&self) {
        let mut marks: Vec<String> = self
            .dirs
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        if !self.pin_root.as_os_str().is_empty() {
            marks.push(self.pin_root.to_string_lossy().into_owned());
        }
        let me = std::process::id() as i32;
        let ours = crate::procs::matching(|cmd| {
            cmd.iter().any(|a| {
                marks
                    .iter()
                    .any(|m| !m.is_empty() && a.contains(m.as_str()))
            })
        });
        for pid in ours.into_iter().filter(|p| *p != me) {
            crate::procs::kill_tree(pid);
        }
        for dir in &self.containerd {
            crate::containerd::cleanup(&crate::containerd::Layout { dir: dir.clone() });
        }
        for ns in &self.netns {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .output();
        }
        if !self.bridge.is_empty() {
            super::fabric::remove(&self.bridge);
        }
        crate::cgroup::remove_everywhere(&self.cgroup);
        if !self.pin_root.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.pin_root);
        }
        for dir in &self.dirs {
            crate::mounts::unmount_under(dir);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Tears down every registered cluster whose owner process is gone; returns
/// their states.
pub fn teardown_orphans() -> Vec<State> {
    let mut done = Vec::new();
    for entry in std::fs::read_dir(REGISTRY).into_iter().flatten().flatten() {
        let Ok(state) = State::load(&entry.path()) else {
            continue;
        };
        if state.owner != 0 && crate::procs::running(state.owner as i32) {
            continue;
        }
        state.teardown();
        let _ = std::fs::remove_file(entry.path());
        done.push(state);
    }
    done
}
