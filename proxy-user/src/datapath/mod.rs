//! Loading the eBPF object and attaching its programs to the node's cgroup.
//!
//! Maps are pinned under the node's pin directory (adopted if already there);
//! program links are pinned too, so the programs keep balancing while the agent
//! is down or restarting. A new agent attaches its programs first, then
//! detaches the links of the one before: there is no moment without them.

mod abi;
mod attach;
mod log;
pub mod progs;
pub mod tcx;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aya::{Ebpf, EbpfLoader};

pub use attach::{PROGRAMS, attach_all, detach_all};
pub use log::spawn_log_pump;

/// The eBPF object built by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/proxy-ebpf"));

pub struct Layout {
    pub pin_dir: PathBuf,
}

impl Layout {
    pub fn new(pin_dir: &Path) -> Self {
        Self {
            pin_dir: pin_dir.to_owned(),
        }
    }
    /// The agent's links on the cgroup.
    pub fn links_dir(&self) -> PathBuf {
        self.pin_dir.join("links")
    }
    /// The tc programs, pinned by name for the CNI plugin to attach.
    pub fn prog_pin(&self, name: &str) -> PathBuf {
        self.pin_dir.join("progs").join(name)
    }
    /// The CNI plugin's links on pods' host-side veths, named by the veth.
    pub fn pod_links_dir(&self) -> PathBuf {
        self.pin_dir.join("pods")
    }
    /// The agent's links on the uplink and the VXLAN device, named by the
    /// device.
    pub fn node_links_dir(&self) -> PathBuf {
        self.pin_dir.join("net")
    }
}

/// What can be chosen at load time.
pub struct LoadOptions {
    /// The programs' debug events (filtered in the kernel when off, at no cost).
    pub log_debug: bool,
    /// Entries of the per-service counter map, which bounds how many service
    /// ports (frontends) the node can program. It is per CPU: 16,384 cost
    /// 384 KiB a CPU.
    pub service_ports: u32,
}

/// Loads the object and verifies its programs, reusing maps already pinned in
/// `layout.pin_dir`.
pub fn load(layout: &Layout, opts: &LoadOptions) -> anyhow::Result<Ebpf> {
    ensure_bpffs(&layout.pin_dir)?;
    std::fs::create_dir_all(&layout.pin_dir)
        .with_context(|| format!("creating pin directory {}", layout.pin_dir.display()))?;
    abi::check_pinned(&layout.pin_dir)?;
    match load_with(layout, opts, true) {
        Ok(ebpf) => Ok(ebpf),
        Err(first) => match load_with(layout, opts, false) {
            Ok(ebpf) => {
                tracing::warn!(
                    "this kernel does not give sock_addr programs bpf_set_retval: connections \
                     to a service without endpoints fail with EPERM instead of ECONNREFUSED"
                );
                Ok(ebpf)
            }
            Err(_) => Err(first),
        },
    }
}

fn load_with(layout: &Layout, opts: &LoadOptions, set_retval: bool) -> anyhow::Result<Ebpf> {
    // aya-log's levels: Error = 1 .. Debug = 4, Trace = 5; 0 is off.
    let level: u8 = if opts.log_debug { 4 } else { 0 };
    let set_retval = set_retval as u8;
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(&layout.pin_dir)
        .override_global(aya_log::LEVEL, &level, true)
        .override_global(proxy_ebpf::GLOBAL_SET_RETVAL, &set_retval, true)
        .map_max_entries(proxy_ebpf::map_names::STATS, opts.service_ports)
        .load(OBJECT)
        .with_context(|| {
            format!(
                "loading the eBPF object (maps pinned in {})",
                layout.pin_dir.display()
            )
        })?;
    for name in PROGRAMS {
        let prog: &mut aya::programs::CgroupSockAddr = ebpf
            .program_mut(name)
            .with_context(|| format!("the eBPF object has no program {name}"))?
            .try_into()?;
        prog.load()
            .with_context(|| format!("loading program {name} (the verifier's log follows)"))?;
    }
    for name in progs::TC_PROGRAMS {
        let prog: &mut aya::programs::SchedClassifier = ebpf
            .program_mut(name)
            .with_context(|| format!("the eBPF object has no program {name}"))?
            .try_into()?;
        prog.load()
            .with_context(|| format!("loading program {name} (the verifier's log follows)"))?;
    }
    Ok(ebpf)
}

fn ensure_bpffs(dir: &Path) -> anyhow::Result<()> {
    let mut probe = dir.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    let st = nix_statfs(&probe)?;
    const BPF_FS_MAGIC: i64 = 0xcafe4a11;
    anyhow::ensure!(
        st == BPF_FS_MAGIC,
        "{} is not on a bpf filesystem: mount one with `mount -t bpf bpf /sys/fs/bpf` (cargo xtask setup does it)",
        probe.display()
    );
    Ok(())
}

fn nix_statfs(p: &Path) -> anyhow::Result<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())?;
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    anyhow::ensure!(
        rc == 0,
        "statfs {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    Ok(st.f_type as i64)
}
