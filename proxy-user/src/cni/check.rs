//! CHECK: the pod's network is still as ADD left it.

use std::fs::File;

use super::config::Pod;
use super::endpoint;
use super::env::Env;
use super::error::{CniError, CniResult, OrCode, code};
use super::ipam::Ipam;
use super::pod;
use crate::datapath::Layout;

pub async fn check(env: &Env, pod: &Pod) -> CniResult<()> {
    let layout = Layout::new(&pod.pin_dir);
    endpoint::require_agent(&layout)?;
    let netns = env.netns.as_ref().expect("CHECK has CNI_NETNS");
    let ns = File::open(netns).map_err(|e| {
        CniError::new(
            code::UNKNOWN_CONTAINER,
            format!("cannot open network namespace {}: {e}", netns.display()),
        )
    })?;
    let ip = Ipam::lock(&pod.state_dir, &pod.name)
        .and_then(|ipam| ipam.find(&env.container_id, &env.ifname))
        .or_code(code::IO_FAILURE, "cannot read the IP allocations")?
        .ok_or_else(|| {
            CniError::new(
                code::CHECK_FAILED,
                format!(
                    "no address is allocated to container {} ({})",
                    env.container_id, env.ifname
                ),
            )
        })?;
    let host_if = env.host_veth();
    let host_index = pod::inspect(&ns, &host_if, &env.ifname, ip).await.or_code(
        code::CHECK_FAILED,
        "the pod's interface is not as ADD left it",
    )?;
    endpoint::verify(&layout, ip, host_index, &host_if).or_code(
        code::CHECK_FAILED,
        "the pod is not in the datapath as ADD left it",
    )?;
    Ok(())
}
