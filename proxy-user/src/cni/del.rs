//! DEL: the pod leaves the datapath, its veth goes, its address is freed.
//! Idempotent, and it works with the namespace gone or the agent stopped.

use super::config::Pod;
use super::endpoint;
use super::env::Env;
use super::error::{CniResult, OrCode, code};
use super::ipam::Ipam;
use super::pod;
use crate::datapath::Layout;

pub async fn del(env: &Env, pod: &Pod) -> CniResult<()> {
    teardown(env, pod).await
}

/// Also undoes a failed ADD.
pub async fn teardown(env: &Env, pod: &Pod) -> CniResult<()> {
    let layout = Layout::new(&pod.pin_dir);
    let host_if = env.host_veth();
    let ipam = Ipam::lock(&pod.state_dir, &pod.name)
        .or_code(code::IO_FAILURE, "cannot open the IP allocations")?;
    let ip = ipam
        .find(&env.container_id, &env.ifname)
        .or_code(code::IO_FAILURE, "cannot read the IP allocations")?;
    // First out of the datapath, so no packet is redirected to a veth that
    // is about to go (or to the next pod given its ifindex).
    endpoint::remove(&layout, ip, &host_if)
        .or_code(code::DATAPATH, "cannot remove the pod from the datapath")?;
    pod::unwire(&host_if)
        .await
        .or_code(code::NETLINK, "cannot delete the pod's veth")?;
    ipam.release(&env.container_id, &env.ifname)
        .or_code(code::IO_FAILURE, "cannot free the pod's address")?;
    Ok(())
}
