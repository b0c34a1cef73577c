//! The cluster's network: a bridge in the root namespace, `skf<id>`, with
//! 10.250.<id>.1/24. The id is claimed by creating the bridge, which fails if
//! another cluster (of this or another process) holds it.

use std::process::Command;

pub const PREFIX: &str = "10.250";

pub struct Fabric {
    pub id: u8,
    pub bridge: String,
}

impl Fabric {
    pub fn create() -> Self {
        // Spread concurrent processes over the ids instead of all racing for 1.
        let start = std::process::id() as usize;
        for n in 0..254 {
            let id = ((start + n) % 254 + 1) as u8;
            let bridge = bridge_name(id);
            let created = Command::new("ip")
                .args(["link", "add", &bridge, "type", "bridge"])
                .output()
                .is_ok_and(|o| o.status.success());
            if !created {
                continue;
            }
            let fabric = Self { id, bridge };
            crate::sh(&[
                "ip",
                "addr",
                "add",
                &format!("{}/24", fabric.gateway()),
                "dev",
                &fabric.bridge,
            ]);
            crate::sh(&["ip", "link", "set", &fabric.bridge, "up"]);
            return fabric;
        }
        panic!("no free fabric id: bridges skf1..skf254 all exist (`ip -br link | grep skf`)");
    }

    /// The bridge's address, where the API server listens.
    pub fn gateway(&self) -> String {
        format!("{PREFIX}.{}.1", self.id)
    }

    /// Node `i`'s address.
    pub fn node_ip(&self, i: usize) -> String {
        assert!(i < 240, "at most 240 nodes on one fabric");
        format!("{PREFIX}.{}.{}", self.id, 10 + i)
    }
}

pub fn bridge_name(id: u8) -> String {
    format!("skf{id}")
}

/// Removes the bridge; its veth ends go with the node namespaces.
pub fn remove(bridge: &str) {
    let _ = Command::new("ip").args(["link", "del", bridge]).output();
}

impl Drop for Fabric {
    fn drop(&mut self) {
        remove(&self.bridge);
    }
}
