//! Typed access to the pinned load-balancing maps, shared by the agent (which
//! writes them) and the debug CLI (which only reads them).

mod convert;
mod net;
mod snapshot;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use aya::{
    Ebpf,
    maps::{HashMap, Map, MapData, PerCpuArray},
};
use proxy_ebpf::{
    AffinityKey, AffinityValue, Backend, ServiceKey, ServiceStats, ServiceValue, map_names,
};

pub use convert::{addr_from_ip, frontend_key, ip_from_addr, proto_from_abi, proto_to_abi};
pub use net::{EndpointView, NetMaps, RouteView, mac_string, route_key};
pub use snapshot::{AffinityView, BackendView, ServiceView, Snapshot, StatsView};

pub struct LbMaps {
    pub services: HashMap<MapData, ServiceKey, ServiceValue>,
    pub backends: HashMap<MapData, u32, Backend>,
    pub affinity: HashMap<MapData, AffinityKey, AffinityValue>,
    pub stats: PerCpuArray<MapData, ServiceStats>,
}

impl LbMaps {
    /// Takes the maps out of a loaded object (they are pinned by then).
    pub fn take(ebpf: &mut Ebpf) -> anyhow::Result<Self> {
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .with_context(|| format!("the eBPF object has no map {name}"))
        };
        Ok(Self {
            services: take(map_names::SERVICES)?.try_into()?,
            backends: take(map_names::BACKENDS)?.try_into()?,
            affinity: take(map_names::AFFINITY)?.try_into()?,
            stats: take(map_names::STATS)?.try_into()?,
        })
    }

    /// Opens the maps an agent pinned in `dir`, whether or not it still runs.
    pub fn open_pinned(dir: &Path) -> anyhow::Result<Self> {
        let missing: Vec<PathBuf> = map_names::ALL
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| !p.exists())
            .collect();
        if !missing.is_empty() {
            bail!(
                "no pinned maps in {}: is the agent running with --pin-dir {0}? (missing {})",
                dir.display(),
                missing
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let open = |name: &str| -> anyhow::Result<Map> {
            let path = dir.join(name);
            let data = MapData::from_pin(&path)
                .with_context(|| format!("cannot open pinned map {}", path.display()))?;
            Ok(Map::from_map_data(data)?)
        };
        Ok(Self {
            services: open(map_names::SERVICES)?.try_into()?,
            backends: open(map_names::BACKENDS)?.try_into()?,
            affinity: open(map_names::AFFINITY)?.try_into()?,
            stats: open(map_names::STATS)?.try_into()?,
        })
    }
}
