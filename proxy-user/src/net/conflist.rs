//! The CNI network configuration the runtime reads: written once this node
//! can route pods, so until then the runtime reports the network not ready.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ipnetwork::Ipv4Network;
use serde_json::json;

pub const FILE: &str = "10-skiff.conflist";
/// The network's name; the plugin keeps its allocations under it.
pub const NETWORK: &str = "skiff";

pub struct Settings<'a> {
    pub pod_cidr: Ipv4Network,
    pub pin_dir: &'a Path,
    pub state_dir: &'a Path,
    pub mtu: u32,
}

pub fn render(s: &Settings) -> String {
    let conf = json!({
        "cniVersion": crate::cni::version::CURRENT,
        "name": NETWORK,
        "plugins": [{
            "type": crate::cni::config::TYPE,
            "podCIDR": s.pod_cidr.to_string(),
            "pinDir": s.pin_dir,
            "stateDir": s.state_dir,
            "mtu": s.mtu,
        }],
    });
    serde_json::to_string_pretty(&conf).expect("JSON") + "\n"
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Writes the file if its text differs (atomically: the runtime never reads
/// half of it). True if written.
pub fn write(dir: &Path, text: &str) -> anyhow::Result<bool> {
    let target = path(dir);
    if std::fs::read_to_string(&target).is_ok_and(|t| t == text) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".{FILE}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &target).with_context(|| format!("writing {}", target.display()))?;
    Ok(true)
}

pub fn remove(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path(dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path(dir).display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_reads_what_the_agent_writes() {
        let text = render(&Settings {
            pod_cidr: "10.244.3.0/24".parse().unwrap(),
            pin_dir: Path::new("/sys/fs/bpf/skiff/n1"),
            state_dir: Path::new("/var/lib/skiff/cni"),
            mtu: 1450,
        });
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut plugin = list["plugins"][0].clone();
        // The runtime adds these to each plugin's config.
        plugin["cniVersion"] = list["cniVersion"].clone();
        plugin["name"] = list["name"].clone();
        let conf = crate::cni::config::parse(plugin.to_string().as_bytes()).unwrap();
        let pod = conf.pod().unwrap();
        assert_eq!(pod.pod_cidr.to_string(), "10.244.3.0/24");
        assert_eq!(pod.mtu, 1450);
        assert_eq!(pod.name, NETWORK);
    }
}
