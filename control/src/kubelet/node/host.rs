//! What the host offers: CPUs, memory, disk, and who it is.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Capacity as the Node reports it (allocatable is the same: nothing is
/// reserved for system daemons).
pub fn capacity(root_dir: &Path, max_pods: u32) -> BTreeMap<String, Quantity> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpus.to_string())),
        ("pods".to_owned(), Quantity(max_pods.to_string())),
    ]);
    if let Some(kib) = meminfo_kib("MemTotal") {
        out.insert("memory".to_owned(), Quantity(format!("{kib}Ki")));
    }
    if let Some(bytes) = disk_bytes(root_dir) {
        out.insert("ephemeral-storage".to_owned(), Quantity(bytes.to_string()));
    }
    out
}

fn meminfo_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn disk_bytes(path: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    Some(stat.blocks() as u64 * stat.fragment_size() as u64)
}

pub fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

pub fn kernel_version() -> String {
    read_trimmed("/proc/sys/kernel/osrelease")
}

pub fn os_image() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".to_owned())
}

pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
