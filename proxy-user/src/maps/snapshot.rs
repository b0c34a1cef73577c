//! A consistent-enough read of every map, grouped the way a person reads it:
//! services with their backends. The agent adopts pinned maps from it on
//! start, and the debug CLI prints it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::Context as _;
use proxy_ebpf::{
    BACKEND_FLAG_TERMINATING, SVC_FLAG_AFFINITY, SVC_FLAG_LOCAL, SVC_FLAG_TERMINATING_FALLBACK,
    ServiceKey, ServiceValue,
};
use serde::Serialize;

use super::{LbMaps, ip_from_addr, proto_from_abi};
use crate::desired::{Frontend, Protocol};

#[derive(Clone, Debug, Serialize)]
pub struct BackendView {
    pub id: u32,
    pub ip: IpAddr,
    pub port: u16,
    pub protocol: Option<Protocol>,
    pub terminating: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceView {
    pub frontend: Frontend,
    pub id: u16,
    pub flags: Vec<&'static str>,
    #[serde(skip)]
    pub raw_flags: u16,
    pub affinity_timeout: Option<u32>,
    /// Slot `i + 1` holds `backend_ids[i]`.
    pub backend_ids: Vec<u32>,
    pub backends: Vec<BackendView>,
    /// Slots found beyond the count, or pointing at missing backends.
    pub stray_slots: Vec<u16>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AffinityView {
    pub netns_cookie: u64,
    pub service_id: u16,
    pub backend_id: u32,
    pub last_used_ns: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct StatsView {
    pub service_id: u16,
    pub balanced: u64,
    pub refused: u64,
    pub affinity_hits: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub services: Vec<ServiceView>,
    pub backends: BTreeMap<u32, BackendView>,
    /// Slot entries whose frontend (slot 0) is missing.
    #[serde(skip)]
    pub orphan_slots: Vec<ServiceKey>,
}

pub fn flag_names(flags: u16) -> Vec<&'static str> {
    let mut out = Vec::new();
    if flags & SVC_FLAG_AFFINITY != 0 {
        out.push("affinity");
    }
    if flags & SVC_FLAG_LOCAL != 0 {
        out.push("local");
    }
    if flags & SVC_FLAG_TERMINATING_FALLBACK != 0 {
        out.push("terminating-fallback");
    }
    out
}

impl LbMaps {
    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut backends = BTreeMap::new();
        for entry in self.backends.iter() {
            let (id, b) = entry.context("reading the backend map")?;
            backends.insert(
                id,
                BackendView {
                    id,
                    ip: ip_from_addr(&b.addr),
                    port: u16::from_be(b.port),
                    protocol: proto_from_abi(b.proto),
                    terminating: b.flags & BACKEND_FLAG_TERMINATING != 0,
                },
            );
        }

        let mut fronts: BTreeMap<ServiceKey, ServiceValue> = BTreeMap::new();
        let mut slots: BTreeMap<ServiceKey, BTreeMap<u16, ServiceValue>> = BTreeMap::new();
        for entry in self.services.iter() {
            let (key, value) = entry.context("reading the service map")?;
            let front = ServiceKey { slot: 0, ..key };
            if key.slot == 0 {
                fronts.insert(front, value);
            } else {
                slots.entry(front).or_default().insert(key.slot, value);
            }
        }

        let mut services = Vec::new();
        for (key, value) in &fronts {
            let Some(protocol) = proto_from_abi(key.proto) else {
                continue;
            };
            let frontend = Frontend {
                ip: ip_from_addr(&key.addr),
                port: u16::from_be(key.port),
                protocol,
            };
            let mut own = slots.remove(key).unwrap_or_default();
            let mut backend_ids = Vec::new();
            let mut view_backends = Vec::new();
            let mut stray_slots = Vec::new();
            for slot in 1..=value.count {
                match own.remove(&slot) {
                    Some(v) => {
                        backend_ids.push(v.backend_id);
                        match backends.get(&v.backend_id) {
                            Some(b) => view_backends.push(b.clone()),
                            None => stray_slots.push(slot),
                        }
                    }
                    None => stray_slots.push(slot),
                }
            }
            stray_slots.extend(own.keys());
            services.push(ServiceView {
                frontend,
                id: value.rev_nat_id,
                flags: flag_names(value.flags),
                raw_flags: value.flags,
                affinity_timeout: (value.flags & SVC_FLAG_AFFINITY != 0)
                    .then_some(value.affinity_timeout),
                backend_ids,
                backends: view_backends,
                stray_slots,
            });
        }
        let orphan_slots = slots
            .into_iter()
            .flat_map(|(front, s)| s.into_keys().map(move |slot| ServiceKey { slot, ..front }))
            .collect();
        Ok(Snapshot {
            services,
            backends,
            orphan_slots,
        })
    }

    pub fn affinity_entries(&self) -> anyhow::Result<Vec<AffinityView>> {
        let mut out = Vec::new();
        for entry in self.affinity.iter() {
            let (k, v) = entry.context("reading the affinity map")?;
            out.push(AffinityView {
                netns_cookie: k.netns_cookie,
                service_id: k.rev_nat_id,
                backend_id: v.backend_id,
                last_used_ns: v.last_used_ns,
            });
        }
        Ok(out)
    }

    /// Counters summed over CPUs, for the given service ids.
    pub fn stats_for(&self, ids: impl IntoIterator<Item = u16>) -> anyhow::Result<Vec<StatsView>> {
        let mut out = Vec::new();
        for id in ids {
            let per_cpu = self
                .stats
                .get(&(id as u32), 0)
                .context("reading the stats map")?;
            let mut s = StatsView {
                service_id: id,
                ..Default::default()
            };
            for v in per_cpu.iter() {
                s.balanced += v.balanced;
                s.refused += v.refused;
                s.affinity_hits += v.affinity_hits;
            }
            out.push(s);
        }
        Ok(out)
    }
}
