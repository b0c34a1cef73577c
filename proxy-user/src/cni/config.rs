//! The network configuration on stdin: one plugin of the conflist the agent
//! writes, with `name` and `cniVersion` added by the runtime.

use std::path::PathBuf;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use super::error::{CniError, CniResult, code};

/// The type this plugin answers to, and the loopback type containerd's CRI
/// asks for first.
pub const TYPE: &str = "skiff-cni";
pub const LOOPBACK_TYPE: &str = "loopback";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetConf {
    pub cni_version: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The node's pod CIDR (IPv4).
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Option<Ipv4Network>,
    /// The agent's pin directory: its maps and tc programs.
    pub pin_dir: Option<PathBuf>,
    /// Where IP allocations are kept.
    pub state_dir: Option<PathBuf>,
    pub mtu: Option<u32>,
    /// CHECK (and DEL, from 0.4.0) get the result of ADD back.
    #[serde(default)]
    pub prev_result: Option<serde_json::Value>,
}

/// What ADD, DEL and CHECK need, all present.
#[derive(Debug, Clone, Serialize)]
pub struct Pod {
    pub name: String,
    pub pod_cidr: Ipv4Network,
    pub pin_dir: PathBuf,
    pub state_dir: PathBuf,
    pub mtu: u32,
}

pub const DEFAULT_MTU: u32 = 1500;

pub fn parse(stdin: &[u8]) -> CniResult<NetConf> {
    serde_json::from_slice(stdin).map_err(|e| {
        CniError::new(
            code::DECODE_FAILURE,
            format!("the network configuration on stdin is not valid: {e}"),
        )
    })
}

impl NetConf {
    pub fn pod(&self) -> CniResult<Pod> {
        let missing = |field: &str| {
            CniError::new(
                code::INVALID_CONFIG,
                format!("the network configuration has no {field}"),
            )
        };
        let mtu = self.mtu.unwrap_or(DEFAULT_MTU);
        if !(576..=65535).contains(&mtu) {
            return Err(CniError::new(
                code::INVALID_CONFIG,
                format!("mtu {mtu} is out of range (576-65535)"),
            ));
        }
        Ok(Pod {
            name: if self.name.is_empty() {
                "skiff".into()
            } else {
                self.name.clone()
            },
            pod_cidr: self.pod_cidr.ok_or_else(|| missing("podCIDR"))?,
            pin_dir: self.pin_dir.clone().ok_or_else(|| missing("pinDir"))?,
            state_dir: self.state_dir.clone().ok_or_else(|| missing("stateDir"))?,
            mtu,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_plugin_config() {
        let c = parse(
            br#"{"cniVersion":"1.0.0","name":"skiff","type":"skiff-cni","podCIDR":"10.244.1.0/24",
                "pinDir":"/sys/fs/bpf/skiff/n1","stateDir":"/var/lib/skiff/cni","mtu":1450,
                "runtimeConfig":{}}"#,
        )
        .unwrap();
        let p = c.pod().unwrap();
        assert_eq!(p.pod_cidr.to_string(), "10.244.1.0/24");
        assert_eq!(p.mtu, 1450);
    }

    #[test]
    fn missing_fields_are_invalid_config() {
        let c = parse(br#"{"cniVersion":"1.0.0","type":"skiff-cni"}"#).unwrap();
        let e = c.pod().unwrap_err();
        assert_eq!(e.code, code::INVALID_CONFIG);
        assert!(e.msg.contains("podCIDR"), "{e}");
        assert_eq!(parse(b"{").unwrap_err().code, code::DECODE_FAILURE);
    }
}
