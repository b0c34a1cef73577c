//! ADD: an address, the veth pair, the endpoint entry and the program; on any
//! failure, everything made so far is undone and the address freed.

use std::fs::File;

use super::config::Pod;
use super::env::Env;
use super::error::{CniError, CniResult, OrCode, code};
use super::ipam::{Exhausted, Ipam};
use super::pod::{self, GATEWAY};
use super::result::{CniOutput, Dns, Interface, Route, ip_config};
use super::{del, endpoint};
use crate::datapath::Layout;
use crate::maps::mac_string;

pub async fn add(env: &Env, cni_version: &str, pod: &Pod) -> CniResult<CniOutput> {
    let layout = Layout::new(&pod.pin_dir);
    endpoint::require_agent(&layout)?;
    let netns = env.netns.as_ref().expect("ADD has CNI_NETNS");
    let ns = File::open(netns).map_err(|e| {
        CniError::new(
            code::UNKNOWN_CONTAINER,
            format!("cannot open network namespace {}: {e}", netns.display()),
        )
    })?;
    let ip = {
        let ipam = Ipam::lock(&pod.state_dir, &pod.name)
            .or_code(code::IO_FAILURE, "cannot open the IP allocations")?;
        ipam.allocate(pod.pod_cidr, &env.container_id, &env.ifname)
            .map_err(|e| {
                let c = if e.downcast_ref::<Exhausted>().is_some() {
                    code::RANGE_EXHAUSTED
                } else {
                    code::IO_FAILURE
                };
                CniError::with(c, "cannot allocate an address", &e)
            })?
    };
    let host_if = env.host_veth();
    let done = async {
        let wired = pod::wire(&ns, &host_if, &env.ifname, ip, pod.mtu)
            .await
            .or_code(code::NETLINK, "cannot set up the pod's interface")?;
        endpoint::install(&layout, ip, &wired)
            .or_code(code::DATAPATH, "cannot add the pod to the datapath")?;
        Ok::<_, CniError>(wired)
    }
    .await;
    let wired = match done {
        Ok(w) => w,
        Err(e) => {
            // The error that matters is the first one.
            let _ = del::teardown(env, pod).await;
            return Err(e);
        }
    };
    Ok(CniOutput {
        cni_version: cni_version.into(),
        interfaces: vec![
            Interface {
                name: wired.host_if.clone(),
                mac: mac_string(&wired.host_mac),
                sandbox: None,
            },
            Interface {
                name: env.ifname.clone(),
                mac: mac_string(&wired.pod_mac),
                sandbox: Some(netns.display().to_string()),
            },
        ],
        ips: vec![ip_config(cni_version, format!("{ip}/32"), Some(GATEWAY), 1)],
        routes: vec![Route {
            dst: "0.0.0.0/0".into(),
            gw: Some(GATEWAY.to_string()),
        }],
        dns: Dns::default(),
    })
}
