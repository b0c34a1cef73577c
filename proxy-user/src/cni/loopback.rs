//! The `loopback` type: containerd's CRI sets up a loopback network first,
//! from the same bin directory. Bringing `lo` up in the pod is all it takes.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::env::{Command, Env};
use super::error::{CniResult, OrCode, code};
use super::result::{CniOutput, Dns, Interface, ip_config};
use crate::netlink::Netlink;

pub async fn run(env: &Env, cni_version: &str) -> CniResult<Option<CniOutput>> {
    let Some(path) = &env.netns else {
        // DEL without a namespace: nothing left to do.
        return Ok(None);
    };
    let ns = match File::open(path) {
        Ok(f) => f,
        Err(_) if env.command == Command::Del => return Ok(None),
        Err(e) => {
            return Err(super::error::CniError::new(
                code::UNKNOWN_CONTAINER,
                format!("cannot open network namespace {}: {e}", path.display()),
            ));
        }
    };
    let nl = Netlink::in_netns(&ns).or_code(code::NETLINK, "cannot reach the pod's namespace")?;
    let lo = nl
        .link("lo")
        .await
        .or_code(code::NETLINK, "cannot find lo")?
        .ok_or_else(|| super::error::CniError::new(code::NETLINK, "the pod has no lo"))?;
    match env.command {
        Command::Add => {
            nl.set_up(lo.index)
                .await
                .or_code(code::NETLINK, "cannot bring lo up")?;
            let sandbox = Some(path.display().to_string());
            Ok(Some(CniOutput {
                cni_version: cni_version.into(),
                interfaces: vec![Interface {
                    name: "lo".into(),
                    mac: "00:00:00:00:00:00".into(),
                    sandbox,
                }],
                ips: vec![
                    ip_config(
                        cni_version,
                        format!("{}/8", IpAddr::V4(Ipv4Addr::LOCALHOST)),
                        None,
                        0,
                    ),
                    ip_config(
                        cni_version,
                        format!("{}/128", IpAddr::V6(Ipv6Addr::LOCALHOST)),
                        None,
                        0,
                    ),
                ],
                routes: Vec::new(),
                dns: Dns::default(),
            }))
        }
        Command::Del => {
            nl.set_down(lo.index)
                .await
                .or_code(code::NETLINK, "cannot bring lo down")?;
            Ok(None)
        }
        Command::Check | Command::Version => Ok(None),
    }
}
