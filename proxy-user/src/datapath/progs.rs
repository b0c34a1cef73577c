//! The tc programs of pod routing: pinned by name for the CNI plugin, and
//! swapped into every link already made when a new agent loads them.

use anyhow::Context as _;
use aya::{Ebpf, programs::SchedClassifier};
use proxy_ebpf::prog_names::{FROM_NODE, FROM_POD};
use tracing::{debug, info, warn};

use super::{Layout, tcx};

pub const TC_PROGRAMS: [&str; 2] = [FROM_POD, FROM_NODE];

pub fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut SchedClassifier> {
    Ok(ebpf
        .program_mut(name)
        .with_context(|| format!("the eBPF object has no program {name}"))?
        .try_into()?)
}

/// Pins the loaded tc programs under `<pin dir>/progs/` (replacing the pins
/// of an earlier agent), then moves the pods' links to the new `from_pod`.
/// A link whose veth is gone (a pod deleted while no DEL came) is removed.
pub fn pin_and_update(ebpf: &mut Ebpf, layout: &Layout) -> anyhow::Result<()> {
    for name in TC_PROGRAMS {
        let pin = layout.prog_pin(name);
        std::fs::create_dir_all(pin.parent().expect("progs dir"))?;
        // Pinned beside the old one and renamed over it: the plugin always
        // finds a program to attach.
        let fresh = pin.with_file_name(format!("{name}_new"));
        let _ = std::fs::remove_file(&fresh);
        program(ebpf, name)?
            .pin(&fresh)
            .with_context(|| format!("pinning {}", fresh.display()))?;
        std::fs::rename(&fresh, &pin)
            .with_context(|| format!("renaming {} to {}", fresh.display(), pin.display()))?;
    }
    let prog = program(ebpf, FROM_POD)?;
    let mut updated = 0;
    for pin in tcx::pins(&layout.pod_links_dir())? {
        let Some(ifname) = pin.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if nix::net::if_::if_nametoindex(ifname.as_str()).is_err() {
            debug!(veth = %ifname, "veth gone; removing its link");
            tcx::detach(&pin)?;
            continue;
        }
        match tcx::attach_ingress(prog, &ifname, &pin) {
            Ok(()) => updated += 1,
            Err(e) => warn!(veth = %ifname, "cannot move the pod's link to the new program: {e:#}"),
        }
    }
    info!(pods = updated, "tc programs pinned; pod links updated");
    Ok(())
}
