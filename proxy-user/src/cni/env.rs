//! The CNI_* environment the runtime passes.

use std::path::PathBuf;

use super::error::{CniError, CniResult, code};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
}

#[derive(Debug, Clone)]
pub struct Env {
    pub command: Command,
    pub container_id: String,
    /// May be empty on DEL (the namespace is gone).
    pub netns: Option<PathBuf>,
    pub ifname: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn required(name: &str) -> CniResult<String> {
    var(name).ok_or_else(|| CniError::new(code::INVALID_ENV, format!("{name} is not set")))
}

pub fn command() -> CniResult<Command> {
    match required("CNI_COMMAND")?.as_str() {
        "ADD" => Ok(Command::Add),
        "DEL" => Ok(Command::Del),
        "CHECK" => Ok(Command::Check),
        "VERSION" => Ok(Command::Version),
        other => Err(CniError::new(
            code::INVALID_ENV,
            format!("unknown CNI_COMMAND {other:?}"),
        )),
    }
}

impl Env {
    pub fn read(command: Command) -> CniResult<Self> {
        let container_id = required("CNI_CONTAINERID")?;
        let ifname = required("CNI_IFNAME")?;
        if ifname.len() > 15 || ifname.contains('/') {
            return Err(CniError::new(
                code::INVALID_ENV,
                format!("CNI_IFNAME {ifname:?} is not a valid interface name"),
            ));
        }
        let netns = var("CNI_NETNS").map(PathBuf::from);
        if netns.is_none() && command != Command::Del {
            return Err(CniError::new(code::INVALID_ENV, "CNI_NETNS is not set"));
        }
        Ok(Self {
            command,
            container_id,
            netns,
            ifname,
        })
    }

    /// The host-side veth's name: derived from the container and interface,
    /// so DEL finds it with nothing else to go on.
    pub fn host_veth(&self) -> String {
        host_veth_name(&self.container_id, &self.ifname)
    }
}

/// `sk` and 12 hex digits of an FNV-1a hash: 14 characters, within the
/// kernel's 15.
pub fn host_veth_name(container_id: &str, ifname: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in container_id.bytes().chain([b'/']).chain(ifname.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("sk{:012x}", h & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_veth_names_fit_and_differ() {
        let a = host_veth_name("abc", "eth0");
        assert_eq!(a.len(), 14);
        assert_eq!(a, host_veth_name("abc", "eth0"));
        assert_ne!(a, host_veth_name("abc", "eth1"));
        assert_ne!(a, host_veth_name("abd", "eth0"));
    }
}
