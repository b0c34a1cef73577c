//! Pinned maps outlive the agent, so an upgrade may meet maps laid out by
//! another version. They are checked before reuse: a mismatch is an error
//! that says what to do, never a silent misreading.

use std::mem::size_of;
use std::path::Path;

use anyhow::bail;
use aya::maps::MapInfo;
use proxy_ebpf::{
    Addr, AffinityKey, AffinityValue, Backend, Endpoint, NetConfig, RevSockKey, RevSockValue,
    RouteKey, RouteValue, ServiceKey, ServiceStats, ServiceValue, map_names,
};

/// (map, key size, value size) as this version lays them out.
fn expected() -> [(&'static str, usize, usize); 9] {
    [
        (
            map_names::SERVICES,
            size_of::<ServiceKey>(),
            size_of::<ServiceValue>(),
        ),
        (map_names::BACKENDS, size_of::<u32>(), size_of::<Backend>()),
        (
            map_names::REV_SOCK,
            size_of::<RevSockKey>(),
            size_of::<RevSockValue>(),
        ),
        (
            map_names::AFFINITY,
            size_of::<AffinityKey>(),
            size_of::<AffinityValue>(),
        ),
        (
            map_names::STATS,
            size_of::<u32>(),
            size_of::<ServiceStats>(),
        ),
        (
            map_names::ENDPOINTS,
            size_of::<Addr>(),
            size_of::<Endpoint>(),
        ),
        (
            map_names::ROUTES,
            size_of::<RouteKey>(),
            size_of::<RouteValue>(),
        ),
        (
            map_names::NET_CONFIG,
            size_of::<u32>(),
            size_of::<NetConfig>(),
        ),
        (map_names::NET_STATS, size_of::<u32>(), size_of::<u64>()),
    ]
}

pub fn check_pinned(dir: &Path) -> anyhow::Result<()> {
    for (name, key, value) in expected() {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let info = MapInfo::from_pin(&path)?;
        let found = (info.key_size() as usize, info.value_size() as usize);
        if found != (key, value) {
            bail!(
                "pinned map {} has key/value sizes {found:?} but this version expects {:?}: it \
                 was made by an incompatible version. Remove it with `skiff-proxy --cleanup \
                 --pin-dir {}` (services are not balanced until the agent starts again)",
                path.display(),
                (key, value),
                dir.display()
            );
        }
    }
    Ok(())
}
