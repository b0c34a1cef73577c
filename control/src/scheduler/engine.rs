//! The scheduler's state and how it reacts, without I/O: informer events
//! feed the cache and the queue, a cycle turns the next pod into an
//! [`Outcome`] (bind it, or report why it fits nowhere), and binding
//! results come back here. The loop in [`super::run`] does the talking.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use kube::ResourceExt;
use kube::runtime::watcher::Event;

use super::SCHEDULER_NAME;
use super::cache::Cache;
use super::cache::node_info::NodeView;
use super::cache::pod_info::{self, PodInfo};
use super::cache::workloads::{Kind, Workloads};
use super::events::ClusterEvent;
use super::framework::{self, Cursor, Rng};
use super::plugins::Plugins;
use super::queue::Queue;
use super::report::{EventWrite, Recorder};

pub enum Outcome {
    /// Chosen and assumed on `node`: bind it.
    Bind { pod: Arc<PodInfo>, node: String },
    /// Not placed: set its condition and record the event.
    Failed {
        pod: Arc<PodInfo>,
        reason: &'static str,
        message: String,
        /// The plugins that rejected it (none when binding failed).
        rejected_by: Plugins,
        event: EventWrite,
    },
    /// Bound: record the event.
    Scheduled(EventWrite),
}

/// A watch's relist: the objects seen since `Init`, so those missing at
/// `InitDone` are known gone; synced after the first.
#[derive(Default)]
struct Relist {
    seen: Option<HashSet<String>>,
    synced: bool,
}

impl Relist {
    fn saw(&mut self, key: String) {
        if let Some(seen) = &mut self.seen {
            seen.insert(key);
        }
    }

    fn done(&mut self) -> HashSet<String> {
        self.synced = true;
        self.seen.take().unwrap_or_default()
    }
}

pub struct Engine {
    pub cache: Cache,
    pub queue: Queue,
    recorder: Recorder,
    cursor: Cursor,
    rng: Rng,
    nodes: Relist,
    pods: Relist,
    namespaces: Relist,
    services: Relist,
    replica_sets: Relist,
}

impl Engine {
    pub fn new(recorder: Recorder, rng: Rng) -> Self {
        Engine {
            cache: Cache::default(),
            queue: Queue::default(),
            recorder,
            cursor: Cursor::default(),
            rng,
            nodes: Relist::default(),
            pods: Relist::default(),
            namespaces: Relist::default(),
            services: Relist::default(),
            replica_sets: Relist::default(),
        }
    }

    /// Nothing is scheduled before every watch has listed: a pod placed
    /// before the pods already bound are known could overcommit a node.
    fn synced(&self) -> bool {
        [
            &self.nodes,
            &self.pods,
            &self.namespaces,
            &self.services,
            &self.replica_sets,
        ]
        .iter()
        .all(|r| r.synced)
    }

    /// Whether a cycle has a pod to work on.
    pub fn ready(&self) -> bool {
        self.synced() && self.queue.has_active()
    }

    pub fn on_node(&mut self, e: Event<Node>, now: Instant) {
        match e {
            Event::Init => self.nodes.seen = Some(HashSet::new()),
            Event::InitApply(n) | Event::Apply(n) => {
                let view = NodeView::new(&n);
                self.nodes.saw(view.name.clone());
                if let Some(ev) = self.cache.set_node(view) {
                    self.queue.on_event(ev, now);
                }
            }
            Event::Delete(n) => {
                self.remove_node(n.metadata.name.as_deref().unwrap_or_default(), now)
            }
            Event::InitDone => {
                let seen = self.nodes.done();
                for name in self.cache.node_names() {
                    if !seen.contains(&name) {
                        self.remove_node(&name, now);
                    }
                }
            }
        }
    }

    fn remove_node(&mut self, name: &str, now: Instant) {
        if let Some(ev) = self.cache.remove_node(name) {
            self.queue.on_event(ev, now);
        }
    }

    pub fn on_pod(&mut self, e: Event<Pod>, now: Instant) {
        match e {
            Event::Init => self.pods.seen = Some(HashSet::new()),
            Event::InitApply(p) | Event::Apply(p) => {
                let info = Arc::new(PodInfo::new(&p));
                self.pods.saw(info.key.clone());
                self.apply_pod(info, now);
            }
            Event::Delete(p) => {
                let meta = &p.metadata;
                let key = pod_info::key(
                    meta.namespace.as_deref().unwrap_or_default(),
                    meta.name.as_deref().unwrap_or_default(),
                );
                self.remove_pod(&key, now);
            }
            Event::InitDone => {
                let seen = self.pods.done();
                let mut known = self.cache.bound_keys();
                known.extend(self.queue.keys());
                for key in known {
                    if !seen.contains(&key) {
                        self.remove_pod(&key, now);
                    }
                }
            }
        }
    }

    fn apply_pod(&mut self, pod: Arc<PodInfo>, now: Instant) {
        if pod.terminal {
            return self.remove_pod(&pod.key, now);
        }
        if pod.node_name.is_some() {
            self.queue.delete(&pod.key);
            self.recorder.forget(&pod.key);
            if let Some(ev) = self.cache.add_pod(pod) {
                self.queue.on_event(ev, now);
            }
        } else if pod.scheduler_name == SCHEDULER_NAME && !pod.deleting {
            // An assumed pod is being bound: its binding decides.
            if !self.cache.is_assumed(&pod.key) {
                self.queue.add(pod, now);
            }
        } else {
            self.queue.delete(&pod.key);
        }
    }

    fn remove_pod(&mut self, key: &str, now: Instant) {
        self.queue.delete(key);
        self.recorder.forget(key);
        if self.cache.remove_pod(key).is_some() {
            self.queue.on_event(ClusterEvent::AssignedPodDelete, now);
        }
    }

    pub fn on_namespace(&mut self, e: Event<Namespace>, now: Instant) {
        let changed = match e {
            Event::Init => {
                self.namespaces.seen = Some(HashSet::new());
                false
            }
            Event::InitApply(ns) | Event::Apply(ns) => {
                let name = ns.metadata.name.clone().unwrap_or_default();
                self.namespaces.saw(name.clone());
                self.cache
                    .set_namespace(&name, ns.metadata.labels.unwrap_or_default())
            }
            Event::Delete(ns) => self
                .cache
                .remove_namespace(ns.metadata.name.as_deref().unwrap_or_default()),
            Event::InitDone => {
                let seen = self.namespaces.done();
                let mut changed = false;
                for name in self.cache.namespace_names() {
                    if !seen.contains(&name) {
                        changed |= self.cache.remove_namespace(&name);
                    }
                }
                changed
            }
        };
        if changed {
            self.queue.on_event(ClusterEvent::NamespaceChange, now);
        }
    }

    /// Only their selectors matter (default spreading scores with them), and
    /// no rejection depends on them: nothing moves in the queue.
    pub fn on_service(&mut self, e: Event<Service>) {
        self.on_workload(Kind::Service, e, Workloads::set_service);
    }

    pub fn on_replica_set(&mut self, e: Event<ReplicaSet>) {
        self.on_workload(Kind::ReplicaSet, e, Workloads::set_replica_set);
    }

    fn on_workload<K: kube::Resource>(
        &mut self,
        kind: Kind,
        e: Event<K>,
        set: fn(&mut Workloads, &K),
    ) {
        let relist = match kind {
            Kind::Service => &mut self.services,
            Kind::ReplicaSet => &mut self.replica_sets,
        };
        let workloads = &mut self.cache.workloads;
        match e {
            Event::Init => relist.seen = Some(HashSet::new()),
            Event::InitApply(o) | Event::Apply(o) => {
                relist.saw(pod_info::key(
                    &o.namespace().unwrap_or_default(),
                    &o.name_any(),
                ));
                set(workloads, &o);
            }
            Event::Delete(o) => {
                workloads.remove(kind, &o.namespace().unwrap_or_default(), &o.name_any())
            }
            Event::InitDone => {
                let seen = relist.done();
                for (namespace, name) in workloads.keys(kind) {
                    if !seen.contains(&pod_info::key(&namespace, &name)) {
                        workloads.remove(kind, &namespace, &name);
                    }
                }
            }
        }
    }

    /// One scheduling cycle for the next pod in the queue.
    pub fn schedule_one(&mut self, now: Instant) -> Option<Outcome> {
        if !self.synced() {
            return None;
        }
        let pod = self.queue.pop()?;
        if self.cache.is_placed(&pod.key) {
            self.queue.done(&pod.key);
            return None;
        }
        let chosen = framework::schedule(
            &pod,
            &self.cache.snapshot(),
            &mut self.cursor,
            &mut self.rng,
        );
        match chosen {
            Ok(node) => {
                self.queue.done(&pod.key);
                let placed = Arc::new(pod.assigned_to(&node));
                self.cache.assume(placed.clone());
                Some(Outcome::Bind { pod: placed, node })
            }
            Err(fit) => {
                self.queue.unschedulable(&pod.key, fit.plugins(), now);
                let message = fit.to_string();
                let event = self.recorder.event(
                    &pod,
                    "Warning",
                    "FailedScheduling",
                    "Scheduling",
                    &message,
                );
                Some(Outcome::Failed {
                    pod,
                    reason: "Unschedulable",
                    message,
                    rejected_by: fit.plugins(),
                    event,
                })
            }
        }
    }

    /// A binding came back. A failed one frees the node and sends the pod
    /// back to the queue, after its backoff.
    pub fn bound(
        &mut self,
        pod: &PodInfo,
        node: &str,
        result: Result<(), String>,
        now: Instant,
    ) -> Option<Outcome> {
        match result {
            Ok(()) => {
                let message = format!(
                    "Successfully assigned {}/{} to {node}",
                    pod.namespace, pod.name
                );
                let event = self
                    .recorder
                    .event(pod, "Normal", "Scheduled", "Binding", &message);
                self.recorder.forget(&pod.key);
                Some(Outcome::Scheduled(event))
            }
            Err(e) => {
                let assumed = self.cache.forget(&pod.key, &pod.uid)?;
                self.queue.on_event(ClusterEvent::AssignedPodDelete, now);
                let unassigned = Arc::new(PodInfo {
                    node_name: None,
                    ..(*assumed).clone()
                });
                self.queue.retry(unassigned.clone(), now);
                let message = format!("running Bind plugin \"DefaultBinder\": {e}");
                let event = self.recorder.event(
                    &unassigned,
                    "Warning",
                    "FailedScheduling",
                    "Scheduling",
                    &message,
                );
                Some(Outcome::Failed {
                    pod: unassigned,
                    reason: "SchedulerError",
                    message,
                    rejected_by: Plugins::default(),
                    event,
                })
            }
        }
    }

    pub fn flush(&mut self, now: Instant) {
        self.queue.flush(now);
    }

    pub fn next_wakeup(&self) -> Option<Instant> {
        self.queue.next_wakeup()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn engine() -> Engine {
        let mut e = Engine::new(Recorder::new("test"), Rng::seeded(3));
        let now = Instant::now();
        e.on_node(Event::Init, now);
        e.on_node(Event::InitDone, now);
        e.on_pod(Event::Init, now);
        e.on_pod(Event::InitDone, now);
        e.on_namespace(Event::Init, now);
        e.on_namespace(Event::InitDone, now);
        e.on_service(Event::Init);
        e.on_service(Event::InitDone);
        e.on_replica_set(Event::Init);
        e.on_replica_set(Event::InitDone);
        e
    }

    fn node(name: &str, cpu: &str) -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}),
        )
        .unwrap()
    }

    fn pod(name: &str, cpu: &str) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": name, "namespace": "default", "uid": name},
            "spec": {"schedulerName": "default-scheduler", "containers": [
                {"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}),
        )
        .unwrap()
    }

    fn drain(e: &mut Engine, now: Instant) -> (Vec<(String, String)>, Vec<String>) {
        let (mut bound, mut failed) = (vec![], vec![]);
        while e.ready() {
            match e.schedule_one(now) {
                Some(Outcome::Bind { pod, node }) => bound.push((pod.name.clone(), node)),
                Some(Outcome::Failed { pod, message, .. }) => {
                    failed.push(format!("{}: {message}", pod.name))
                }
                _ => {}
            }
        }
        (bound, failed)
    }

    #[test]
    fn a_burst_of_pods_never_overcommits_a_node() {
        let now = Instant::now();
        let mut e = engine();
        e.on_node(Event::Apply(node("a", "4")), now);
        e.on_node(Event::Apply(node("b", "4")), now);
        for i in 0..10 {
            e.on_pod(Event::Apply(pod(&format!("p{i}"), "1")), now);
        }
        let (bound, failed) = drain(&mut e, now);
        assert_eq!(bound.len(), 8, "{bound:?}");
        for n in ["a", "b"] {
            assert_eq!(bound.iter().filter(|(_, node)| node == n).count(), 4);
        }
        assert_eq!(failed.len(), 2);
        assert!(
            failed[0].ends_with(": 0/2 nodes are available: 2 Insufficient cpu."),
            "{failed:?}"
        );
    }

    #[test]
    fn unschedulable_pods_come_back_when_a_node_is_added_or_a_binding_fails() {
        let t0 = Instant::now();
        let mut e = engine();
        e.on_node(Event::Apply(node("small", "1")), t0);
        e.on_pod(Event::Apply(pod("big", "2")), t0);
        let (_, failed) = drain(&mut e, t0);
        assert_eq!(
            failed,
            ["big: 0/1 nodes are available: 1 Insufficient cpu."]
        );

        // A heartbeat of the small node changes nothing.
        e.on_node(Event::Apply(node("small", "1")), t0);
        assert!(!e.ready());
        let later = t0 + std::time::Duration::from_secs(2);
        e.on_node(Event::Apply(node("large", "8")), later);
        let (bound, _) = drain(&mut e, later);
        assert_eq!(bound, [("big".to_string(), "large".to_string())]);

        // The binding fails: the node is free again and the pod comes back
        // after its backoff.
        let Some(Outcome::Failed { reason, .. }) = e.bound(
            &PodInfo::new(&pod("big", "2")),
            "large",
            Err("conflict".into()),
            later,
        ) else {
            panic!("a failed binding is reported");
        };
        assert_eq!(reason, "SchedulerError");
        assert!(!e.cache.is_placed("default/big") && !e.ready());
        e.flush(later + std::time::Duration::from_secs(10));
        let (bound, _) = drain(&mut e, later);
        assert_eq!(bound, [("big".to_string(), "large".to_string())]);

        // Bound for real: the informer's copy replaces the assumed one.
        let mut bound_pod = pod("big", "2");
        bound_pod.spec.as_mut().unwrap().node_name = Some("large".into());
        e.on_pod(Event::Apply(bound_pod), later);
        assert!(e.cache.is_placed("default/big") && !e.cache.is_assumed("default/big"));
    }

    #[test]
    fn a_late_failed_binding_leaves_a_recreated_pod_alone() {
        let now = Instant::now();
        let mut e = engine();
        e.on_node(Event::Apply(node("a", "4")), now);
        e.on_pod(Event::Apply(pod("p", "1")), now);
        assert_eq!(drain(&mut e, now).0.len(), 1);
        let first = PodInfo::new(&pod("p", "1"));
        e.on_pod(Event::Delete(pod("p", "1")), now);
        let mut again = pod("p", "1");
        again.metadata.uid = Some("second".into());
        e.on_pod(Event::Apply(again), now);
        assert_eq!(drain(&mut e, now).0.len(), 1);
        assert!(e.bound(&first, "a", Err("gone".into()), now).is_none());
        assert!(
            e.cache.is_assumed("default/p"),
            "the second pod stays assumed"
        );
    }

    #[test]
    fn pods_of_other_schedulers_and_deleted_pods_are_left_alone() {
        let now = Instant::now();
        let mut e = engine();
        e.on_node(Event::Apply(node("a", "4")), now);
        let mut other = pod("other", "1");
        other.spec.as_mut().unwrap().scheduler_name = Some("my-scheduler".into());
        e.on_pod(Event::Apply(other), now);
        let mut going = pod("going", "1");
        going.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        e.on_pod(Event::Apply(going), now);
        assert!(!e.ready());
        // A pod missing from a relist is gone.
        e.on_pod(Event::Apply(pod("p", "1")), now);
        e.on_pod(Event::Init, now);
        e.on_pod(Event::InitDone, now);
        assert!(!e.ready());
    }

    #[test]
    fn replicas_of_a_replica_set_spread_over_the_nodes() {
        let now = Instant::now();
        let mut e = engine();
        for n in ["a", "b", "c"] {
            e.on_node(Event::Apply(node(n, "16")), now);
        }
        let rs = json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}});
        e.on_replica_set(Event::Apply(serde_json::from_value(rs).unwrap()));
        for i in 0..9 {
            // Requests small enough that resource scores tie once a node
            // holds one: only spreading evens them out.
            let p = json!({"metadata": {"name": format!("web-{i}"), "namespace": "default",
                "uid": format!("web-{i}"), "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web", "uid": "rs", "controller": true}]},
                "spec": {"schedulerName": "default-scheduler", "containers": [{"name": "c",
                    "resources": {"requests": {"cpu": "10m", "memory": "1Mi"}}}]}});
            e.on_pod(Event::Apply(serde_json::from_value(p).unwrap()), now);
        }
        let (bound, _) = drain(&mut e, now);
        for n in ["a", "b", "c"] {
            assert_eq!(
                bound.iter().filter(|(_, node)| node == n).count(),
                3,
                "{bound:?}"
            );
        }
    }

    #[test]
    fn nothing_is_scheduled_before_the_watches_have_listed() {
        let now = Instant::now();
        let mut e = Engine::new(Recorder::new("test"), Rng::seeded(1));
        e.on_node(Event::Apply(node("a", "4")), now);
        e.on_pod(Event::Apply(pod("p", "1")), now);
        assert!(!e.ready());
        assert!(e.schedule_one(now).is_none());

        // Default spreading needs the Services and ReplicaSets listed too.
        let mut e = Engine::new(Recorder::new("test"), Rng::seeded(1));
        e.on_node(Event::Init, now);
        e.on_node(Event::InitDone, now);
        e.on_pod(Event::Init, now);
        e.on_pod(Event::InitDone, now);
        e.on_namespace(Event::Init, now);
        e.on_namespace(Event::InitDone, now);
        e.on_service(Event::Init);
        e.on_service(Event::InitDone);
        assert!(!e.synced());
        e.on_replica_set(Event::Init);
        e.on_replica_set(Event::InitDone);
        assert!(e.synced());
    }
}
