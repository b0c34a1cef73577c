//! The end-to-end harness: nodes and pods made of network namespaces on this
//! one machine, servers bound to pod IPs, a client in the cgroup the programs
//! are attached to, and the real agent and debug CLI binaries.
//!
//! Traffic stays inside the namespaces a lab creates: they have no route out.

pub mod agent;
pub mod cgroup;
pub mod cluster;
pub mod containerd;
pub mod control;
pub mod flags;
pub mod images;
pub mod lab;
pub mod manifests;
pub mod mounts;
pub mod netns;
pub mod podnet;
pub mod probe;
pub mod procs;
pub mod server;

use std::path::PathBuf;

/// Where the project's binaries are (`SKIFF_BIN_DIR`, set by `cargo xtask`),
/// or target/debug of this workspace.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("SKIFF_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug"))
}

pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} not found: build it first (cargo xtask test builds everything)",
        path.display()
    );
    path
}

/// Fails at once, with the reason, where the tests cannot run.
pub fn require_root() {
    // SAFETY: no arguments.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the end-to-end tests need root (network namespaces, cgroups, eBPF): run as root"
    );
}

/// Runs a command and fails with its output when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
