//! The pod in the agent's datapath: its entry in the endpoint map, and
//! `from_pod` on its host-side veth through a link pinned under the agent's
//! pin directory (`<pin dir>/pods/<veth>`).

use std::net::Ipv4Addr;

use aya::programs::SchedClassifier;
use proxy_ebpf::{Endpoint, map_names, prog_names};

use super::error::{CniError, CniResult, code};
use super::pod::Wired;
use crate::datapath::{Layout, tcx};
use crate::maps::NetMaps;

/// ADD and CHECK need the agent's maps and programs: until it has pinned
/// them, the runtime is told to come back later.
pub fn require_agent(layout: &Layout) -> CniResult<()> {
    let prog = layout.prog_pin(prog_names::FROM_POD);
    let map = layout.pin_dir.join(map_names::ENDPOINTS);
    if prog.exists() && map.exists() {
        return Ok(());
    }
    Err(CniError::new(
        code::TRY_AGAIN_LATER,
        format!(
            "the skiff agent is not running: it has not pinned {} in {}",
            if prog.exists() {
                map_names::ENDPOINTS
            } else {
                prog_names::FROM_POD
            },
            layout.pin_dir.display()
        ),
    ))
}

pub fn install(layout: &Layout, ip: Ipv4Addr, w: &Wired) -> anyhow::Result<()> {
    let mut maps = NetMaps::open_pinned(&layout.pin_dir)?;
    maps.put_endpoint(
        ip,
        Endpoint {
            ifindex: w.host_index,
            pod_mac: w.pod_mac,
            host_mac: w.host_mac,
        },
    )?;
    let mut prog = SchedClassifier::from_pin(layout.prog_pin(prog_names::FROM_POD))?;
    tcx::attach_ingress(
        &mut prog,
        &w.host_if,
        &layout.pod_links_dir().join(&w.host_if),
    )
}

/// Undoes `install`; what is already gone (or was never made) is fine, and
/// so is an agent that cleaned up its pin directory.
pub fn remove(layout: &Layout, ip: Option<Ipv4Addr>, host_if: &str) -> anyhow::Result<()> {
    tcx::detach(&layout.pod_links_dir().join(host_if))?;
    if let Some(ip) = ip
        && layout.pin_dir.join(map_names::ENDPOINTS).exists()
    {
        NetMaps::open_pinned(&layout.pin_dir)?.remove_endpoint(ip)?;
    }
    Ok(())
}

/// CHECK: the entry points at the pod's veth.
pub fn verify(layout: &Layout, ip: Ipv4Addr, host_index: u32, host_if: &str) -> anyhow::Result<()> {
    let maps = NetMaps::open_pinned(&layout.pin_dir)?;
    match maps.endpoint(ip)? {
        Some(ep) if ep.ifindex == host_index => {}
        Some(ep) => anyhow::bail!(
            "the endpoint of {ip} points at ifindex {}, not {host_if} ({host_index})",
            ep.ifindex
        ),
        None => anyhow::bail!("{ip} has no endpoint entry"),
    }
    let pin = layout.pod_links_dir().join(host_if);
    anyhow::ensure!(
        pin.exists(),
        "{} is missing: from_pod is not attached",
        pin.display()
    );
    Ok(())
}
