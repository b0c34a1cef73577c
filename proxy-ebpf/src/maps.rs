//! The maps, pinned by name so the agent can restart without losing them and the
//! debug CLI can read them.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray},
};
use proxy_ebpf::*;

#[map(name = "SKIFF_SERVICES")]
pub static SERVICES: HashMap<ServiceKey, ServiceValue> =
    HashMap::pinned(MAX_SERVICE_ENTRIES, BPF_F_NO_PREALLOC);

#[map(name = "SKIFF_BACKENDS")]
pub static BACKENDS: HashMap<u32, Backend> = HashMap::pinned(MAX_BACKENDS, BPF_F_NO_PREALLOC);

#[map(name = "SKIFF_REV_SOCK")]
pub static REV_SOCK: LruHashMap<RevSockKey, RevSockValue> = LruHashMap::pinned(MAX_REV_SOCK, 0);

#[map(name = "SKIFF_AFFINITY")]
pub static AFFINITY: LruHashMap<AffinityKey, AffinityValue> = LruHashMap::pinned(MAX_AFFINITY, 0);

#[map(name = "SKIFF_STATS")]
pub static STATS: PerCpuArray<ServiceStats> = PerCpuArray::pinned(MAX_SERVICE_IDS, 0);
