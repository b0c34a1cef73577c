//! The result ADD prints: interfaces, addresses and routes, in the shape of
//! the config's CNI version.

use std::net::Ipv4Addr;

use serde::Serialize;

use super::version;

#[derive(Debug, Clone, Serialize)]
pub struct CniOutput {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub interfaces: Vec<Interface>,
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    pub dns: Dns,
}

#[derive(Debug, Clone, Serialize)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IpConfig {
    /// "4", before CNI 1.0.0 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    pub interface: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub dst: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Dns {}

pub fn ip_config(
    cni_version: &str,
    address: String,
    gateway: Option<Ipv4Addr>,
    interface: usize,
) -> IpConfig {
    let family = if address.contains(':') { "6" } else { "4" };
    IpConfig {
        version: version::ip_version_field(cni_version).then_some(family),
        address,
        gateway: gateway.map(|g| g.to_string()),
        interface,
    }
}
