//! The maps, pinned by name so the agent can restart without losing them and the
//! debug CLI can read them.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray},
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

#[map(name = "SKIFF_ENDPOINTS")]
pub static ENDPOINTS: HashMap<Addr, Endpoint> = HashMap::pinned(MAX_ENDPOINTS, BPF_F_NO_PREALLOC);

#[map(name = "SKIFF_ROUTES")]
pub static ROUTES: LpmTrie<Addr, RouteValue> = LpmTrie::pinned(MAX_ROUTES, BPF_F_NO_PREALLOC);

#[map(name = "SKIFF_NET_CONFIG")]
pub static NET_CONFIG: Array<NetConfig> = Array::pinned(1, 0);

#[map(name = "SKIFF_NET_STATS")]
pub static NET_STATS: PerCpuArray<u64> = PerCpuArray::pinned(net_stat::COUNT, 0);
