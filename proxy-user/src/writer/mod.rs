//! The one writer of the load-balancing maps. It keeps a mirror of what is
//! programmed, applies each new desired state as an ordered diff (see `plan`),
//! and on start adopts whatever an earlier agent pinned instead of flushing it,
//! so established connections and their affinity survive a restart.

mod ids;
mod plan;

use anyhow::Context as _;
use aya::maps::{MapError, PerCpuValues};
use proxy_ebpf::{Backend, ServiceKey, ServiceStats};

use crate::desired::DesiredState;
use crate::maps::{LbMaps, frontend_key};
pub use plan::{Op, Programmed, ProgrammedService, plan};

pub struct Writer {
    maps: LbMaps,
    programmed: Programmed,
    ids: plan::Ids,
}

/// What one apply did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ApplyReport {
    pub ops: usize,
    pub frontends: usize,
    pub backends: usize,
}

/// What adoption found in the pinned maps.
#[derive(Debug, Default, Clone, Copy)]
pub struct AdoptReport {
    pub frontends: usize,
    pub backends: usize,
    /// Unreachable entries (left by a crash mid-write) that were removed.
    pub removed_strays: usize,
}

/// Stands in, at id 0, for a slot whose entry a crash left unwritten.
const MISSING_BACKEND: Backend = Backend {
    addr: [0; 4],
    port: 0,
    proto: 0,
    flags: 0,
    rev_nat_id: 0,
    _pad: 0,
};

fn ignore_missing(r: Result<(), MapError>) -> Result<(), MapError> {
    match r {
        Err(MapError::KeyNotFound) => Ok(()),
        other => other,
    }
}

impl Writer {
    /// Takes over the maps as they are: their entries become the current state
    /// that the first apply diffs against.
    pub fn adopt(maps: LbMaps) -> anyhow::Result<(Self, AdoptReport)> {
        let mut w = Self {
            maps,
            programmed: Programmed::new(),
            ids: plan::Ids::default(),
        };
        let report = w.reload()?;
        Ok((w, report))
    }

    fn reload(&mut self) -> anyhow::Result<AdoptReport> {
        let snap = self.maps.snapshot()?;
        // The counter map, indexed by service id, bounds the service ids.
        let mut ids = plan::Ids::new(self.maps.stats.len());
        let mut programmed = Programmed::new();
        let mut strays: Vec<ServiceKey> = snap.orphan_slots.clone();
        let mut used_backends = std::collections::BTreeSet::new();
        for svc in &snap.services {
            let key0 = frontend_key(&svc.frontend, 0);
            let front = self
                .maps
                .services
                .get(&key0, 0)
                .context("reading a frontend")?;
            // Slots keep their positions: a missing slot or backend (a crash
            // mid-write) becomes id 0, which no desired backend matches, so
            // the first apply rewrites exactly that slot.
            let mut backends = Vec::with_capacity(front.count as usize);
            for slot in 1..=front.count {
                let entry = self
                    .maps
                    .services
                    .get(&frontend_key(&svc.frontend, slot), 0)
                    .ok()
                    .and_then(|v| {
                        Some((v.backend_id, self.maps.backends.get(&v.backend_id, 0).ok()?))
                    });
                backends.push(entry.unwrap_or((0, MISSING_BACKEND)));
            }
            if !svc.stray_slots.is_empty() {
                // A frontend whose count covers missing entries is rewritten by
                // the first apply; drop slots beyond the count now.
                strays.extend(
                    svc.stray_slots
                        .iter()
                        .filter(|s| **s > front.count)
                        .map(|s| frontend_key(&svc.frontend, *s)),
                );
            }
            ids.services.mark_used(front.rev_nat_id as u32);
            for (id, _) in backends.iter().filter(|(id, _)| *id != 0) {
                ids.backends.mark_used(*id);
                used_backends.insert(*id);
            }
            programmed.insert(svc.frontend, ProgrammedService { front, backends });
        }
        let stray_backends: Vec<u32> = snap
            .backends
            .keys()
            .filter(|id| !used_backends.contains(id))
            .copied()
            .collect();
        for key in &strays {
            ignore_missing(self.maps.services.remove(key))?;
        }
        for id in &stray_backends {
            ignore_missing(self.maps.backends.remove(id))?;
        }
        let report = AdoptReport {
            frontends: programmed.len(),
            backends: used_backends.len(),
            removed_strays: strays.len() + stray_backends.len(),
        };
        self.programmed = programmed;
        self.ids = ids;
        Ok(report)
    }

    /// Programs `desired`. On a failed write the mirror is re-read from the
    /// maps, so the next apply diffs against what the kernel really holds.
    pub fn apply(&mut self, desired: &DesiredState) -> anyhow::Result<ApplyReport> {
        let (ops, next) = match plan(&self.programmed, desired, &mut self.ids) {
            Ok(planned) => planned,
            Err(e) => {
                // The plan may have taken or freed ids before it failed.
                self.reload()
                    .context("re-reading the maps after a failed plan")?;
                return Err(e);
            }
        };
        let n = ops.len();
        if let Err(e) = self.execute(&ops) {
            self.reload()
                .context("re-reading the maps after a failed write")?;
            return Err(e);
        }
        self.programmed = next;
        Ok(ApplyReport {
            ops: n,
            frontends: self.programmed.len(),
            backends: self.ids.backends.in_use(),
        })
    }

    fn execute(&mut self, ops: &[Op]) -> anyhow::Result<()> {
        for op in ops {
            match op {
                Op::PutBackend(id, b) => self
                    .maps
                    .backends
                    .insert(id, b, 0)
                    .with_context(|| format!("writing backend {id}"))?,
                Op::PutSlot(k, v) => self
                    .maps
                    .services
                    .insert(k, v, 0)
                    .with_context(|| format!("writing service slot {k:?}"))?,
                Op::DeleteSlot(k) => ignore_missing(self.maps.services.remove(k))
                    .context("removing a service slot")?,
                Op::DeleteBackend(id) => {
                    ignore_missing(self.maps.backends.remove(id)).context("removing a backend")?
                }
                Op::ResetStats(id) => {
                    let zero = PerCpuValues::try_from(vec![
                        ServiceStats::default();
                        aya::util::nr_cpus()
                            .map_err(|(_, e)| e)?
                    ])?;
                    self.maps
                        .stats
                        .set(*id as u32, zero, 0)
                        .context("resetting counters")?;
                }
                Op::PurgeAffinity(ids) => {
                    let stale: Vec<_> = self
                        .maps
                        .affinity
                        .keys()
                        .filter_map(Result::ok)
                        .filter(|k| ids.contains(&k.rev_nat_id))
                        .collect();
                    for k in stale {
                        ignore_missing(self.maps.affinity.remove(&k))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Entries in the service map (frontends plus slots) and the backend map.
    pub fn entry_counts(&self) -> (usize, usize) {
        let slots: usize = self.programmed.values().map(|s| 1 + s.backends.len()).sum();
        (slots, self.ids.backends.in_use())
    }
}
