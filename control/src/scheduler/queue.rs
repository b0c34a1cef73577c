//! The scheduling queue, as upstream's: pods wait in the active queue
//! (higher priority first, then first come); a pod that fits nowhere waits
//! aside as unschedulable until an event that may help it (see
//! [`Plugins::requeued_by`]) or five minutes pass; a pod coming back
//! before its backoff (1 s doubling to 10 s per failure) is over waits it
//! out first.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::scheduler::cache::pod_info::{PodInfo, PodKey};
use crate::scheduler::events::ClusterEvent;
use crate::scheduler::plugins::Plugins;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long an unschedulable pod waits for a helpful event before it is
/// tried again anyway.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
    /// Held back by scheduling gates until an update lifts them.
    Gated,
    /// Popped and being scheduled.
    InFlight,
}

struct Entry {
    pod: Arc<PodInfo>,
    /// Arrival order among equal priorities.
    seq: u64,
    place: Place,
    failures: u32,
    backoff_until: Option<Instant>,
    rejected_by: Plugins,
}

#[derive(Default)]
pub struct Queue {
    pods: HashMap<PodKey, Entry>,
    active: BTreeSet<(Reverse<i32>, u64, PodKey)>,
    backoff: BTreeSet<(Instant, u64, PodKey)>,
    unschedulable: BTreeSet<(Instant, u64, PodKey)>,
    seq: u64,
}

/// 1 s after the first failure, doubling, at most 10 s.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (INITIAL_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

impl Queue {
    /// A new pending pod, or a new version of one already here. An update
    /// that may change the outcome (its spec, labels or annotations, not
    /// just its status) moves an unschedulable pod back.
    pub fn add(&mut self, pod: Arc<PodInfo>, now: Instant) {
        let key = pod.key.clone();
        let Some(entry) = self.pods.get(&key) else {
            self.seq += 1;
            let place = if pod.gated {
                Place::Gated
            } else {
                Place::Active
            };
            self.pods.insert(
                key.clone(),
                Entry {
                    pod,
                    seq: self.seq,
                    place,
                    failures: 0,
                    backoff_until: None,
                    rejected_by: Plugins::default(),
                },
            );
            self.place(&key, place);
            return;
        };
        let changed = entry.pod.fingerprint != pod.fingerprint;
        let was = entry.place;
        // Out of its set while the old version (its priority) still names it.
        self.unplace(&key);
        let gated = pod.gated;
        self.pods.get_mut(&key).expect("queued").pod = pod;
        let next = match was {
            Place::Unschedulable(_) | Place::Gated if changed && !gated => {
                self.return_place(&key, now)
            }
            other => other,
        };
        self.place(&key, next);
    }

    pub fn delete(&mut self, key: &str) {
        self.unplace(key);
        self.pods.remove(key);
    }

    #[cfg(test)]
    pub fn contains(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// Keys of every pod here.
    pub fn keys(&self) -> Vec<PodKey> {
        self.pods.keys().cloned().collect()
    }

    /// The next pod to schedule; it stays in flight until [`Queue::done`],
    /// [`Queue::unschedulable`] or [`Queue::retry`].
    pub fn pop(&mut self) -> Option<Arc<PodInfo>> {
        let (_, _, key) = self.active.pop_first()?;
        let entry = self.pods.get_mut(&key)?;
        entry.place = Place::InFlight;
        Some(entry.pod.clone())
    }

    /// Scheduled (assumed on a node): no longer queued.
    pub fn done(&mut self, key: &str) {
        self.delete(key);
    }

    /// It fit nowhere: aside until an event `rejected_by` care about.
    pub fn unschedulable(&mut self, key: &str, rejected_by: Plugins, now: Instant) {
        let Some(entry) = self.pods.get_mut(key) else {
            return;
        };
        entry.failures += 1;
        entry.backoff_until = Some(now + backoff(entry.failures));
        entry.rejected_by = rejected_by;
        self.unplace(key);
        self.place(key, Place::Unschedulable(now));
    }

    /// Something failed on the way (its binding): back after its backoff.
    pub fn retry(&mut self, pod: Arc<PodInfo>, now: Instant) {
        let key = pod.key.clone();
        if !self.pods.contains_key(&key) {
            self.add(pod, now);
        }
        let entry = self.pods.get_mut(&key).expect("just added");
        entry.failures += 1;
        let until = now + backoff(entry.failures);
        entry.backoff_until = Some(until);
        self.unplace(&key);
        self.place(&key, Place::Backoff(until));
    }

    /// Moves the unschedulable pods `event` may help.
    pub fn on_event(&mut self, event: ClusterEvent, now: Instant) {
        let helped: Vec<PodKey> = self
            .unschedulable
            .iter()
            .filter(|(_, _, k)| self.pods[k].rejected_by.requeued_by(event))
            .map(|(_, _, k)| k.clone())
            .collect();
        for key in helped {
            self.unplace(&key);
            let place = self.return_place(&key, now);
            self.place(&key, place);
        }
    }

    /// Pods whose backoff is over become active; pods unschedulable for
    /// [`MAX_UNSCHEDULABLE`] are tried again.
    pub fn flush(&mut self, now: Instant) {
        while let Some((until, _, key)) = self.backoff.first().cloned() {
            if until > now {
                break;
            }
            self.unplace(&key);
            self.place(&key, Place::Active);
        }
        while let Some((since, _, key)) = self.unschedulable.first().cloned() {
            if since + MAX_UNSCHEDULABLE > now {
                break;
            }
            self.unplace(&key);
            let place = self.return_place(&key, now);
            self.place(&key, place);
        }
    }

    /// When [`Queue::flush`] next has something to do.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let backoff = self.backoff.first().map(|(t, _, _)| *t);
        let stale = self
            .unschedulable
            .first()
            .map(|(t, _, _)| *t + MAX_UNSCHEDULABLE);
        backoff.into_iter().chain(stale).min()
    }

    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// Where a pod leaving the unschedulable set goes: to wait out its
    /// backoff, or straight to the active queue.
    fn return_place(&self, key: &str, now: Instant) -> Place {
        match self.pods[key].backoff_until {
            Some(until) if until > now => Place::Backoff(until),
            _ => Place::Active,
        }
    }

    fn place(&mut self, key: &str, place: Place) {
        let entry = self.pods.get_mut(key).expect("queued");
        entry.place = place;
        let k = key.to_owned();
        match place {
            Place::Active => {
                self.active
                    .insert((Reverse(entry.pod.priority), entry.seq, k));
            }
            Place::Backoff(t) => {
                self.backoff.insert((t, entry.seq, k));
            }
            Place::Unschedulable(t) => {
                self.unschedulable.insert((t, entry.seq, k));
            }
            Place::Gated | Place::InFlight => {}
        }
    }

    fn unplace(&mut self, key: &str) {
        let Some(entry) = self.pods.get(key) else {
            return;
        };
        let k = key.to_owned();
        match entry.place {
            Place::Active => {
                self.active
                    .remove(&(Reverse(entry.pod.priority), entry.seq, k));
            }
            Place::Backoff(t) => {
                self.backoff.remove(&(t, entry.seq, k));
            }
            Place::Unschedulable(t) => {
                self.unschedulable.remove(&(t, entry.seq, k));
            }
            Place::Gated | Place::InFlight => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::events::NodeChange;
    use crate::scheduler::plugins::Plugin;
    use crate::scheduler::testing::pod;
    use serde_json::json;

    fn p(name: &str, priority: i32) -> Arc<PodInfo> {
        Arc::new(pod(json!({"metadata": {"name": name},
            "spec": {"containers": [{"name": "c"}], "priority": priority}})))
    }

    fn fit() -> Plugins {
        let mut p = Plugins::default();
        p.insert(Plugin::NodeResourcesFit);
        p
    }

    #[test]
    fn backoff_doubles_from_one_to_ten_seconds() {
        let secs: Vec<u64> = (1..=6).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn higher_priority_first_then_first_come() {
        let now = Instant::now();
        let mut q = Queue::default();
        q.add(p("low", 0), now);
        q.add(p("high", 10), now);
        q.add(p("low2", 0), now);
        let order: Vec<String> = std::iter::from_fn(|| q.pop())
            .map(|p| p.name.clone())
            .collect();
        assert_eq!(order, ["high", "low", "low2"]);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_helpful_event_then_their_backoff() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.add(p("a", 0), t0);
        let a = q.pop().unwrap();
        q.unschedulable(&a.key, fit(), t0);
        assert!(q.pop().is_none());
        assert_eq!(q.next_wakeup(), Some(t0 + MAX_UNSCHEDULABLE));

        // A heartbeat does not help; a bigger node does, after the backoff.
        q.on_event(ClusterEvent::NodeUpdate(NodeChange::default()), t0);
        assert!(!q.has_active() && q.backoff.is_empty());
        q.on_event(ClusterEvent::NodeAdd, t0 + Duration::from_millis(500));
        assert!(q.pop().is_none(), "still backing off");
        assert_eq!(q.next_wakeup(), Some(t0 + Duration::from_secs(1)));
        q.flush(t0 + Duration::from_secs(1));
        let a = q.pop().unwrap();

        // The second failure backs off 2 s; an event after that moves it at once.
        q.unschedulable(&a.key, fit(), t0 + Duration::from_secs(1));
        q.on_event(ClusterEvent::AssignedPodDelete, t0 + Duration::from_secs(4));
        assert_eq!(q.pop().unwrap().name, "a");
    }

    #[test]
    fn stale_unschedulable_pods_are_retried_and_updates_move_them() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.add(p("a", 0), t0);
        let a = q.pop().unwrap();
        q.unschedulable(&a.key, fit(), t0);
        q.flush(t0 + MAX_UNSCHEDULABLE);
        assert_eq!(q.pop().unwrap().name, "a");

        q.unschedulable(&a.key, fit(), t0);
        // A status-only update changes nothing; a spec change moves it.
        q.add(a.clone(), t0 + Duration::from_secs(30));
        assert!(!q.has_active());
        q.add(p("a", 5), t0 + Duration::from_secs(30));
        assert_eq!(q.pop().unwrap().priority, 5);
        q.delete("default/a");
        assert!(!q.contains("default/a") && q.next_wakeup().is_none());
    }

    #[test]
    fn gated_pods_wait_until_their_gates_are_lifted() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        let gated = pod(
            json!({"metadata": {"name": "g"}, "spec": {"containers": [{"name": "c"}],
            "schedulingGates": [{"name": "example.com/wait"}]}}),
        );
        q.add(Arc::new(gated), t0);
        assert!(q.pop().is_none());
        q.add(p("g", 0), t0);
        assert_eq!(q.pop().unwrap().name, "g");
    }
}
