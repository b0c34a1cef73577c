//! tc programs attached through pinned tcx links: a link outlives the process
//! that made it, and a new program replaces the old one in place (one atomic
//! link update), so an interface is never without its program.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aya::programs::{
    LinkOrder, ProgramError, SchedClassifier, TcAttachType,
    links::{FdLink, LinkError, PinnedLink},
    tc::{SchedClassifierLink, SchedClassifierLinkId, TcAttachOptions},
};

/// Puts `prog` on `ifname`'s ingress through the link pinned at `pin`:
/// updates that link when it exists, else attaches and pins a new one.
pub fn attach_ingress(prog: &mut SchedClassifier, ifname: &str, pin: &Path) -> anyhow::Result<()> {
    let id = match PinnedLink::from_pin(pin) {
        Ok(old) => {
            let link: SchedClassifierLink = FdLink::from(old)
                .try_into()
                .with_context(|| format!("{} is not a tcx link", pin.display()))?;
            match prog.attach_to_link(link) {
                Ok(id) => id,
                // The interface it was on is gone (a veth made anew under the
                // same name): the link is dead, make a new one.
                Err(ProgramError::SyscallError(e))
                    if e.io_error.raw_os_error() == Some(libc::ENOLINK) =>
                {
                    detach(pin)?;
                    attach_new(prog, ifname)?
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("updating link {} ({ifname})", pin.display()));
                }
            }
        }
        Err(LinkError::SyscallError(e)) if e.io_error.kind() == io::ErrorKind::NotFound => {
            attach_new(prog, ifname)?
        }
        Err(e) => return Err(e).with_context(|| format!("opening link {}", pin.display())),
    };
    let link: FdLink = prog.take_link(id)?.try_into()?;
    if !pin.exists() {
        if let Some(dir) = pin.parent() {
            std::fs::create_dir_all(dir)?;
        }
        link.pin(pin)
            .with_context(|| format!("pinning link {}", pin.display()))?;
    }
    Ok(())
}

fn attach_new(prog: &mut SchedClassifier, ifname: &str) -> anyhow::Result<SchedClassifierLinkId> {
    prog.attach_with_options(
        ifname,
        TcAttachType::Ingress,
        TcAttachOptions::TcxOrder(LinkOrder::default()),
    )
    .with_context(|| format!("attaching to {ifname} ingress"))
}

/// Removes a pinned link: the program leaves its interface (if the interface
/// still exists). Missing is fine.
pub fn detach(pin: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(pin) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", pin.display())),
    }
}

/// The pinned links in `dir` (none when it does not exist).
pub fn pins(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        out.push(entry?.path());
    }
    out.sort();
    Ok(out)
}
