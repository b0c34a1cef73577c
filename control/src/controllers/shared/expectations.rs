//! Creations and deletions in flight, so that a cache that has not caught
//! up never makes a controller create or delete a pod twice (upstream's
//! ControllerExpectations). While any is pending for an owner (a
//! ReplicaSet, a DaemonSet), it does not create or delete; it only reports
//! status.
//!
//! Each expectation is about one pod: a creation is observed once the
//! cache (or a watch event) has the pod, a deletion once the cache no
//! longer has it, has another pod under its name, or shows it being
//! deleted. Recording checks the cache too, because the watch event may
//! have come before the API call returned. An expectation a relist skipped
//! over (created and deleted while the watch was down) lapses after five
//! minutes, as upstream's do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;

pub const TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Debug)]
enum Wait {
    Create,
    Delete { uid: String },
}

#[derive(Debug)]
struct Pending {
    owner: String,
    wait: Wait,
    since: Instant,
}

/// `namespace/name` of a pod.
pub type PodKey = (String, String);

fn key_of(pod: &Pod) -> PodKey {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

#[derive(Default)]
pub struct Expectations {
    pending: Mutex<HashMap<PodKey, Pending>>,
}

/// Whether what `wait` waits for has happened, given the pod now under its
/// name (None: no pod).
fn observed(wait: &Wait, now: Option<&Pod>) -> bool {
    match wait {
        Wait::Create => now.is_some(),
        Wait::Delete { uid } => now.is_none_or(|p| {
            p.metadata.uid.as_deref() != Some(uid) || p.metadata.deletion_timestamp.is_some()
        }),
    }
}

impl Expectations {
    /// Whether `owner` has nothing in flight (expired expectations are
    /// dropped).
    pub fn satisfied(&self, owner: &str) -> bool {
        let mut pending = self.pending.lock().expect("not poisoned");
        pending.retain(|_, p| p.since.elapsed() < TTL);
        !pending.values().any(|p| p.owner == owner)
    }

    /// Records the expectation, then checks the cache: an event that came
    /// before the insertion found nothing to settle, but the cache already
    /// holds its change; one that comes after finds the entry.
    fn expect(
        &self,
        owner: &str,
        key: PodKey,
        wait: Wait,
        cached: impl Fn(&PodKey) -> Option<Pod>,
    ) {
        self.pending.lock().expect("not poisoned").insert(
            key.clone(),
            Pending {
                owner: owner.to_owned(),
                wait,
                since: Instant::now(),
            },
        );
        let now = cached(&key);
        self.settle(&key, now.as_ref());
    }

    /// `owner` created the pod `key`; `cached` looks pods up in the cache.
    pub fn created(&self, owner: &str, key: PodKey, cached: impl Fn(&PodKey) -> Option<Pod>) {
        self.expect(owner, key, Wait::Create, cached);
    }

    /// `owner` deleted `pod`.
    pub fn deleted(&self, owner: &str, pod: &Pod, cached: impl Fn(&PodKey) -> Option<Pod>) {
        let wait = Wait::Delete {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        };
        self.expect(owner, key_of(pod), wait, cached);
    }

    fn settle(&self, key: &PodKey, now: Option<&Pod>) {
        let mut pending = self.pending.lock().expect("not poisoned");
        if pending.get(key).is_some_and(|p| observed(&p.wait, now)) {
            pending.remove(key);
        }
    }

    /// A watch event, after the cache applied it. After a relist every
    /// expectation is checked against the new cache.
    pub fn observe(&self, event: &Event<Pod>, cached: impl Fn(&PodKey) -> Option<Pod>) {
        match event {
            Event::Apply(pod) | Event::InitApply(pod) => self.settle(&key_of(pod), Some(pod)),
            Event::Delete(pod) => {
                let key = key_of(pod);
                let mut pending = self.pending.lock().expect("not poisoned");
                // It existed, so a creation happened; and it is gone.
                if pending.get(&key).is_some_and(|p| match &p.wait {
                    Wait::Create => true,
                    Wait::Delete { uid } => pod.metadata.uid.as_deref() == Some(uid),
                }) {
                    pending.remove(&key);
                }
            }
            Event::InitDone => {
                let keys: Vec<PodKey> = {
                    let pending = self.pending.lock().expect("not poisoned");
                    pending.keys().cloned().collect()
                };
                for key in keys {
                    let now = cached(&key);
                    self.settle(&key, now.as_ref());
                }
            }
            Event::Init => {}
        }
    }

    /// A watch event, with `pods` the cache it was applied to.
    pub fn observe_in(&self, event: &Event<Pod>, pods: &Store<Pod>) {
        self.observe(event, |(ns, name)| {
            pods.get(&ObjectRef::new(name).within(ns))
                .map(|p| (*p).clone())
        })
    }

    /// The owner is gone: nothing of it is awaited any more.
    pub fn forget(&self, owner: &str) {
        self.pending
            .lock()
            .expect("not poisoned")
            .retain(|_, p| p.owner != owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, uid: &str, deleting: bool) -> Pod {
        let mut v = json!({"metadata": {"namespace": "ns", "name": name, "uid": uid}});
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap()
    }

    fn key(name: &str) -> PodKey {
        ("ns".into(), name.into())
    }

    #[test]
    fn a_creation_waits_for_the_pod() {
        let e = Expectations::default();
        e.created("ns/rs", key("a"), |_| None);
        assert!(!e.satisfied("ns/rs"));
        assert!(e.satisfied("ns/other"));
        e.observe(&Event::Apply(pod("b", "2", false)), |_| None);
        assert!(!e.satisfied("ns/rs"));
        e.observe(&Event::Apply(pod("a", "1", false)), |_| None);
        assert!(e.satisfied("ns/rs"));
        // Already in the cache when the call returned: nothing to wait for.
        e.created("ns/rs", key("c"), |_| Some(pod("c", "3", false)));
        assert!(e.satisfied("ns/rs"));
        // Created and deleted: its deletion proves it existed.
        e.created("ns/rs", key("d"), |_| None);
        e.observe(&Event::Delete(pod("d", "4", false)), |_| None);
        assert!(e.satisfied("ns/rs"));
    }

    #[test]
    fn a_deletion_waits_until_the_pod_goes_or_is_marked() {
        let e = Expectations::default();
        let a = pod("a", "1", false);
        e.deleted("ns/rs", &a, |_| Some(a.clone()));
        assert!(!e.satisfied("ns/rs"));
        // A stale copy settles nothing.
        e.observe(&Event::Apply(a.clone()), |_| None);
        assert!(!e.satisfied("ns/rs"));
        e.observe(&Event::Apply(pod("a", "1", true)), |_| None);
        assert!(e.satisfied("ns/rs"));
        e.deleted("ns/rs", &a, |_| Some(a.clone()));
        e.observe(&Event::Delete(a.clone()), |_| None);
        assert!(e.satisfied("ns/rs"));
        // A new pod under the old name means the old one went.
        e.deleted("ns/rs", &a, |_| Some(a.clone()));
        e.observe(&Event::Apply(pod("a", "9", false)), |_| None);
        assert!(e.satisfied("ns/rs"));
    }

    #[test]
    fn a_relist_settles_against_the_new_cache() {
        let e = Expectations::default();
        let a = pod("a", "1", false);
        e.deleted("ns/rs", &a, |_| Some(a.clone()));
        e.created("ns/rs", key("b"), |_| None);
        e.observe(&Event::Init, |_| None);
        e.observe(&Event::InitDone, |k| {
            (k.1 == "b").then(|| pod("b", "2", false))
        });
        assert!(e.satisfied("ns/rs"));
        e.created("ns/rs", key("c"), |_| None);
        e.forget("ns/rs");
        assert!(e.satisfied("ns/rs"));
    }
}
