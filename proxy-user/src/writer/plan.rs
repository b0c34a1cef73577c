//! The diff between what the maps hold and what is desired, as an ordered list
//! of map operations. Pure, so the ordering guarantee is tested directly:
//! 1. backends that are new or changed,
//! 2. service slots 1..n, then slot 0 (the frontend and its count),
//! 3. removals: shrunk slots, vanished frontends, unused backends.
//!
//! At every step a reader sees either the old or the new service, never a slot
//! 0 whose count covers a slot or backend not yet written.

use std::collections::BTreeMap;

use anyhow::bail;
use proxy_ebpf::{
    BACKEND_FLAG_TERMINATING, Backend, SVC_FLAG_AFFINITY, SVC_FLAG_LOCAL,
    SVC_FLAG_TERMINATING_FALLBACK, ServiceKey, ServiceValue,
};

use super::ids::IdPool;
use crate::desired::{DesiredState, Frontend, ServiceEntry};
use crate::maps::{addr_from_ip, frontend_key, proto_to_abi};

/// What is programmed for one frontend: mirrors the maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgrammedService {
    pub front: ServiceValue,
    /// Slot `i + 1` holds `backends[i]`.
    pub backends: Vec<(u32, Backend)>,
}

pub type Programmed = BTreeMap<Frontend, ProgrammedService>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    PutBackend(u32, Backend),
    PutSlot(ServiceKey, ServiceValue),
    DeleteSlot(ServiceKey),
    DeleteBackend(u32),
    /// A service id starts (again) from zero counters.
    ResetStats(u16),
    /// Affinity entries of services that are gone (one scan for all).
    PurgeAffinity(Vec<u16>),
}

pub struct Ids {
    pub services: IdPool,
    pub backends: IdPool,
}

impl Ids {
    /// `service_ids`: how many service ids the counter map has room for.
    pub fn new(service_ids: u32) -> Self {
        Self {
            services: IdPool::new(service_ids.clamp(2, proxy_ebpf::MAX_SERVICE_IDS) - 1),
            backends: IdPool::new(u32::MAX - 1),
        }
    }
}

impl Default for Ids {
    fn default() -> Self {
        Self::new(proxy_ebpf::MAX_SERVICE_IDS)
    }
}

fn abi_backend(f: &Frontend, b: &crate::desired::Backend, service: u16) -> Backend {
    Backend {
        rev_nat_id: service,
        _pad: 0,
        addr: addr_from_ip(b.ip),
        port: b.port.to_be(),
        proto: proto_to_abi(f.protocol),
        flags: if b.terminating {
            BACKEND_FLAG_TERMINATING
        } else {
            0
        },
    }
}

fn front_value(id: u16, entry: &ServiceEntry) -> ServiceValue {
    let mut flags = 0;
    if entry.affinity_timeout.is_some() {
        flags |= SVC_FLAG_AFFINITY;
    }
    if entry.local_only {
        flags |= SVC_FLAG_LOCAL;
    }
    if entry.backends.iter().any(|b| b.terminating) {
        flags |= SVC_FLAG_TERMINATING_FALLBACK;
    }
    ServiceValue {
        backend_id: 0,
        count: entry.backends.len() as u16,
        rev_nat_id: id,
        flags,
        _pad: 0,
        affinity_timeout: entry.affinity_timeout.unwrap_or(0),
    }
}

fn slot_value(id: u16, backend_id: u32) -> ServiceValue {
    ServiceValue {
        backend_id,
        rev_nat_id: id,
        ..Default::default()
    }
}

/// Plans the operations that take the maps from `current` to `desired`, and
/// returns the programmed state after them.
pub fn plan(
    current: &Programmed,
    desired: &DesiredState,
    ids: &mut Ids,
) -> anyhow::Result<(Vec<Op>, Programmed)> {
    let (mut backends, mut slots, mut removals) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = Programmed::new();
    let mut purge = Vec::new();

    for (f, entry) in &desired.services {
        if entry.backends.len() > u16::MAX as usize {
            bail!(
                "service {} has {} endpoints; at most 65535 are supported",
                entry.name,
                entry.backends.len()
            );
        }
        let old = current.get(f);
        let id = match old {
            Some(o) => o.front.rev_nat_id,
            None => {
                let Some(id) = ids.services.alloc() else {
                    bail!(
                        "no free service id: at most {} service ports are supported",
                        ids.services.in_use()
                    );
                };
                backends.push(Op::ResetStats(id as u16));
                id as u16
            }
        };
        let mut programmed = Vec::with_capacity(entry.backends.len());
        for b in &entry.backends {
            let want = abi_backend(f, b, id);
            let kept = old.and_then(|o| {
                o.backends
                    .iter()
                    .find(|(_, have)| have.addr == want.addr && have.port == want.port)
            });
            let bid = match kept {
                Some((bid, have)) => {
                    if *have != want {
                        backends.push(Op::PutBackend(*bid, want));
                    }
                    *bid
                }
                None => {
                    let Some(bid) = ids.backends.alloc() else {
                        bail!("no free backend id")
                    };
                    backends.push(Op::PutBackend(bid, want));
                    bid
                }
            };
            programmed.push((bid, want));
        }

        let old_slots: &[(u32, Backend)] = old.map(|o| o.backends.as_slice()).unwrap_or(&[]);
        for (i, (bid, _)) in programmed.iter().enumerate() {
            if old_slots.get(i).map(|(b, _)| b) != Some(bid) {
                slots.push(Op::PutSlot(
                    frontend_key(f, i as u16 + 1),
                    slot_value(id, *bid),
                ));
            }
        }
        let front = front_value(id, entry);
        if old.map(|o| o.front) != Some(front) {
            slots.push(Op::PutSlot(frontend_key(f, 0), front));
        }
        for i in programmed.len()..old_slots.len() {
            removals.push(Op::DeleteSlot(frontend_key(f, i as u16 + 1)));
        }
        for (bid, _) in old_slots {
            if !programmed.iter().any(|(b, _)| b == bid) {
                removals.push(Op::DeleteBackend(*bid));
                ids.backends.free(*bid);
            }
        }
        next.insert(
            *f,
            ProgrammedService {
                front,
                backends: programmed,
            },
        );
    }

    for (f, old) in current {
        if desired.services.contains_key(f) {
            continue;
        }
        removals.push(Op::DeleteSlot(frontend_key(f, 0)));
        for i in 0..old.backends.len() {
            removals.push(Op::DeleteSlot(frontend_key(f, i as u16 + 1)));
        }
        for (bid, _) in &old.backends {
            removals.push(Op::DeleteBackend(*bid));
            ids.backends.free(*bid);
        }
        if old.front.flags & SVC_FLAG_AFFINITY != 0 {
            purge.push(old.front.rev_nat_id);
        }
        ids.services.free(old.front.rev_nat_id as u32);
    }

    if !purge.is_empty() {
        removals.push(Op::PurgeAffinity(purge));
    }
    backends.extend(slots);
    backends.extend(removals);
    Ok((backends, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{Backend as DBackend, Protocol, ServiceEntry};

    fn front(ip: &str, port: u16) -> Frontend {
        Frontend {
            ip: ip.parse().unwrap(),
            port,
            protocol: Protocol::Tcp,
        }
    }

    fn entry(backends: &[(&str, u16, bool)]) -> ServiceEntry {
        ServiceEntry {
            name: "ns/svc".into(),
            backends: backends
                .iter()
                .map(|(ip, port, t)| DBackend {
                    ip: ip.parse().unwrap(),
                    port: *port,
                    terminating: *t,
                })
                .collect(),
            affinity_timeout: None,
            local_only: false,
        }
    }

    fn desired(items: Vec<(Frontend, ServiceEntry)>) -> DesiredState {
        DesiredState {
            services: items.into_iter().collect(),
        }
    }

    /// Replays ops on a model of the maps and checks, after every op, that every
    /// frontend's count covers only written slots that point at written backends.
    fn replay_checking(
        ops: &[Op],
        maps: &mut (BTreeMap<ServiceKey, ServiceValue>, BTreeMap<u32, Backend>),
    ) {
        for op in ops {
            match op {
                Op::PutBackend(id, b) => {
                    maps.1.insert(*id, *b);
                }
                Op::PutSlot(k, v) => {
                    maps.0.insert(*k, *v);
                }
                Op::DeleteSlot(k) => {
                    maps.0.remove(k);
                }
                Op::DeleteBackend(id) => {
                    maps.1.remove(id);
                }
                Op::ResetStats(_) | Op::PurgeAffinity(_) => {}
            }
            for (k, v) in maps.0.iter().filter(|(k, _)| k.slot == 0) {
                for slot in 1..=v.count {
                    let s = maps.0.get(&ServiceKey { slot, ..*k });
                    let s = s.unwrap_or_else(|| panic!("after {op:?}: slot {slot} missing"));
                    assert!(
                        maps.1.contains_key(&s.backend_id),
                        "after {op:?}: backend {} missing",
                        s.backend_id
                    );
                }
            }
        }
    }

    #[test]
    fn every_intermediate_state_is_whole() {
        let a = front("10.96.0.1", 80);
        let b = front("10.96.0.2", 53);
        let steps = vec![
            desired(vec![(
                a,
                entry(&[("10.0.0.1", 8080, false), ("10.0.0.2", 8080, false)]),
            )]),
            // Grow, add a service.
            desired(vec![
                (
                    a,
                    entry(&[
                        ("10.0.0.1", 8080, false),
                        ("10.0.0.2", 8080, false),
                        ("10.0.0.3", 8080, false),
                    ]),
                ),
                (b, entry(&[("10.0.1.1", 53, false)])),
            ]),
            // Shrink from the middle, flip one to terminating.
            desired(vec![
                (a, entry(&[("10.0.0.3", 8080, false)])),
                (b, entry(&[("10.0.1.1", 53, true)])),
            ]),
            // Empty: refuse.
            desired(vec![(a, entry(&[])), (b, entry(&[("10.0.1.1", 53, true)]))]),
            // Remove everything.
            desired(vec![]),
        ];
        let mut ids = Ids::default();
        let mut current = Programmed::new();
        let mut maps = Default::default();
        for step in &steps {
            let (ops, next) = plan(&current, step, &mut ids).unwrap();
            replay_checking(&ops, &mut maps);
            current = next;
        }
        assert!(
            maps.0.is_empty() && maps.1.is_empty(),
            "all entries removed at the end"
        );
        assert_eq!(ids.services.in_use(), 0);
        assert_eq!(ids.backends.in_use(), 0);
    }

    #[test]
    fn unchanged_state_plans_nothing() {
        let d = desired(vec![(
            front("10.96.0.1", 80),
            entry(&[("10.0.0.1", 80, false)]),
        )]);
        let mut ids = Ids::default();
        let (ops, cur) = plan(&Programmed::new(), &d, &mut ids).unwrap();
        assert_eq!(
            ops.len(),
            4,
            "stats reset, backend, slot 1, slot 0: {ops:?}"
        );
        let (ops, _) = plan(&cur, &d, &mut ids).unwrap();
        assert!(ops.is_empty(), "{ops:?}");
    }

    #[test]
    fn backend_ids_are_kept_across_syncs() {
        let f = front("10.96.0.1", 80);
        let mut ids = Ids::default();
        let (_, cur) = plan(
            &Programmed::new(),
            &desired(vec![(
                f,
                entry(&[("10.0.0.1", 80, false), ("10.0.0.2", 80, false)]),
            )]),
            &mut ids,
        )
        .unwrap();
        let id2 = cur[&f].backends[1].0;
        let (ops, cur) = plan(
            &cur,
            &desired(vec![(f, entry(&[("10.0.0.2", 80, false)]))]),
            &mut ids,
        )
        .unwrap();
        assert_eq!(cur[&f].backends[0].0, id2);
        assert!(
            ops.iter().all(|op| !matches!(op, Op::PutBackend(..))),
            "{ops:?}"
        );
    }

    #[test]
    fn order_is_backends_then_slots_then_removals() {
        let f = front("10.96.0.1", 80);
        let mut ids = Ids::default();
        let (_, cur) = plan(
            &Programmed::new(),
            &desired(vec![(
                f,
                entry(&[("10.0.0.1", 80, false), ("10.0.0.2", 80, false)]),
            )]),
            &mut ids,
        )
        .unwrap();
        let (ops, _) = plan(
            &cur,
            &desired(vec![(f, entry(&[("10.0.0.3", 80, false)]))]),
            &mut ids,
        )
        .unwrap();
        let rank = |op: &Op| match op {
            Op::PutBackend(..) | Op::ResetStats(_) => 0,
            Op::PutSlot(k, _) if k.slot != 0 => 1,
            Op::PutSlot(..) => 2,
            _ => 3,
        };
        let ranks: Vec<_> = ops.iter().map(rank).collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ops:?}");
    }
}
