//! Attaching the sock_addr programs through pinned links.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aya::{
    Ebpf,
    programs::{
        CgroupAttachMode, CgroupSockAddr,
        links::{FdLink, PinnedLink},
    },
};
use tracing::{debug, info};

use super::Layout;

/// The programs, by their names in the object.
pub const PROGRAMS: [&str; 8] = [
    "connect4",
    "connect6",
    "sendmsg4",
    "sendmsg6",
    "recvmsg4",
    "recvmsg6",
    "getpeername4",
    "getpeername6",
];

/// Attaches every program to `cgroup` and pins the links under the layout's
/// links directory, then detaches the links an earlier agent left there.
pub fn attach_all(ebpf: &mut Ebpf, layout: &Layout, cgroup: &Path) -> anyhow::Result<()> {
    let cgroup_file = File::open(cgroup).with_context(|| {
        format!(
            "opening cgroup {} (it must be a cgroup v2 directory)",
            cgroup.display()
        )
    })?;
    let links_dir = layout.links_dir();
    std::fs::create_dir_all(&links_dir)?;
    let old = existing_pins(&links_dir)?;
    // Unique across restarts, even when every start is PID 1 in a container.
    let generation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();

    for name in PROGRAMS {
        let prog: &mut CgroupSockAddr = ebpf
            .program_mut(name)
            .with_context(|| format!("the eBPF object has no program {name}"))?
            .try_into()?;
        // Links on a cgroup always stack (two agents' links coexist during a
        // restart); the kernel refuses the ALLOW_MULTI flag on them, so none
        // is passed.
        let link_id = prog
            .attach(&cgroup_file, CgroupAttachMode::Single)
            .with_context(|| format!("attaching {name} to {}", cgroup.display()))?;
        let link: FdLink = prog.take_link(link_id)?.try_into()?;
        // bpffs refuses names with a dot.
        let pin = links_dir.join(format!("{name}_{generation}"));
        link.pin(&pin)
            .with_context(|| format!("pinning link {}", pin.display()))?;
    }
    info!(cgroup = %cgroup.display(), programs = PROGRAMS.len(), "programs attached");

    for pin in old {
        // Unpinning drops the last reference to the old link: it detaches.
        match PinnedLink::from_pin(&pin) {
            Ok(link) => {
                link.unpin()
                    .with_context(|| format!("unpinning {}", pin.display()))?;
                debug!(pin = %pin.display(), "earlier link detached");
            }
            Err(_) => std::fs::remove_file(&pin)?,
        }
    }
    Ok(())
}

/// Detaches and removes every pinned link of this node: the programs stop.
pub fn detach_all(layout: &Layout) -> anyhow::Result<usize> {
    let pins = existing_pins(&layout.links_dir())?;
    for pin in &pins {
        match PinnedLink::from_pin(pin) {
            Ok(link) => drop(link.unpin()?),
            Err(_) => std::fs::remove_file(pin)?,
        }
    }
    Ok(pins.len())
}

fn existing_pins(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        out.push(entry?.path());
    }
    Ok(out)
}
