//! What upstream's `DefaultSelector` reads to spread a pod that names no
//! constraints of its own: per namespace, the selectors of the Services and
//! of the ReplicaSets. (StatefulSets and ReplicationControllers are not
//! served, so they own no pods here.)
//!
//! Services are indexed by the first pair of their selector: a pod looks
//! only at the Services one of its own labels could select, so its cost
//! follows its labels, not how many Services the namespace holds.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt as _;

use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::selector::{Labels, Selector};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Service,
    ReplicaSet,
}

#[derive(Default)]
pub struct Workloads {
    namespaces: HashMap<String, Namespace>,
}

#[derive(Default)]
struct Namespace {
    /// Services with a non-empty selector: an empty one (or none) adds
    /// nothing to a pod's selector.
    services: HashMap<String, Labels>,
    /// Key -> value -> the Services whose selector starts with that pair.
    by_first_pair: HashMap<String, HashMap<String, BTreeSet<String>>>,
    replica_sets: HashMap<String, Selector>,
}

impl Namespace {
    fn is_empty(&self) -> bool {
        self.services.is_empty() && self.replica_sets.is_empty()
    }
}

impl Workloads {
    pub fn set_service(&mut self, svc: &Service) {
        let (namespace, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
        self.remove(Kind::Service, &namespace, &name);
        let selector = svc.spec.as_ref().and_then(|s| s.selector.clone());
        let Some((key, value)) = selector.as_ref().and_then(|s| s.first_key_value()) else {
            return;
        };
        let ns = self.namespaces.entry(namespace).or_default();
        ns.by_first_pair
            .entry(key.clone())
            .or_default()
            .entry(value.clone())
            .or_default()
            .insert(name.clone());
        ns.services.insert(name, selector.unwrap_or_default());
    }

    pub fn set_replica_set(&mut self, rs: &ReplicaSet) {
        let selector = Selector::from_label_selector(Some(&rs.spec.selector));
        self.namespaces
            .entry(rs.namespace().unwrap_or_default())
            .or_default()
            .replica_sets
            .insert(rs.name_any(), selector);
    }

    pub fn remove(&mut self, kind: Kind, namespace: &str, name: &str) {
        let Some(ns) = self.namespaces.get_mut(namespace) else {
            return;
        };
        match kind {
            Kind::ReplicaSet => {
                ns.replica_sets.remove(name);
            }
            Kind::Service => {
                let Some(selector) = ns.services.remove(name) else {
                    return;
                };
                // Held Services have a first pair: they are indexed by it.
                if let Some((key, value)) = selector.first_key_value()
                    && let Some(values) = ns.by_first_pair.get_mut(key)
                {
                    if let Some(names) = values.get_mut(value) {
                        names.remove(name);
                        if names.is_empty() {
                            values.remove(value);
                        }
                    }
                    if values.is_empty() {
                        ns.by_first_pair.remove(key);
                    }
                }
            }
        }
        if ns.is_empty() {
            self.namespaces.remove(namespace);
        }
    }

    /// `(namespace, name)` of the objects of `kind` held.
    pub fn keys(&self, kind: Kind) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (namespace, ns) in &self.namespaces {
            let names: Vec<&String> = match kind {
                Kind::Service => ns.services.keys().collect(),
                Kind::ReplicaSet => ns.replica_sets.keys().collect(),
            };
            out.extend(names.into_iter().map(|n| (namespace.clone(), n.clone())));
        }
        out
    }

    /// Upstream's `DefaultSelector`: the selectors of the Services that
    /// select the pod, merged, and that of the ReplicaSet controlling it.
    /// Selects everything when there is none (no default constraints then).
    pub fn default_selector(&self, pod: &PodInfo) -> Selector {
        let everything = Selector::All(Vec::new());
        let Some(ns) = self.namespaces.get(&pod.namespace) else {
            return everything;
        };
        let mut merged = Labels::new();
        for (key, value) in &pod.labels {
            let names = ns.by_first_pair.get(key).and_then(|v| v.get(value));
            for name in names.into_iter().flatten() {
                let selector = &ns.services[name];
                if selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v)) {
                    // They all match the pod's labels: no pair conflicts.
                    merged.extend(selector.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        let selector = everything.and_labels(&merged);
        let owner = pod
            .controller
            .as_ref()
            .filter(|c| c.api_version == "apps/v1" && c.kind == "ReplicaSet");
        match owner.and_then(|c| ns.replica_sets.get(&c.name)) {
            Some(rs) => selector.and_requirements_of(rs),
            None => selector,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::pod;
    use serde_json::{Value, json};

    fn service(namespace: &str, name: &str, selector: Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector}}))
        .unwrap()
    }

    fn replica_set(name: &str, selector: Value) -> ReplicaSet {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": selector, "template": {}}}))
        .unwrap()
    }

    fn owned_by(kind: &str, name: &str, labels: Value) -> PodInfo {
        pod(
            json!({"metadata": {"name": "p", "labels": labels, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": true}]}}),
        )
    }

    fn labels(v: Value) -> Labels {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn services_and_the_owning_replica_set_make_the_selector() {
        let mut w = Workloads::default();
        w.set_service(&service("default", "front", json!({"app": "web"})));
        w.set_service(&service("default", "tier", json!({"tier": "front"})));
        w.set_service(&service("default", "db", json!({"app": "db"})));
        w.set_service(&service(
            "other",
            "all-web",
            json!({"app": "web", "env": "prod"}),
        ));
        w.set_replica_set(&replica_set(
            "web-1",
            json!({"matchExpressions": [{"key": "pod-template-hash", "operator": "Exists"}]}),
        ));
        let p = owned_by(
            "ReplicaSet",
            "web-1",
            json!({"app": "web", "tier": "front"}),
        );
        let s = w.default_selector(&p);
        let want = json!({"app": "web", "tier": "front", "pod-template-hash": "x"});
        assert!(s.matches(&labels(want)));
        // Each Service's pair and the ReplicaSet's expression are required.
        for missing in [
            json!({"tier": "front", "pod-template-hash": "x"}),
            json!({"app": "web", "pod-template-hash": "x"}),
            json!({"app": "web", "tier": "front"}),
        ] {
            assert!(!s.matches(&labels(missing.clone())), "{missing}");
        }

        // Not its controller kind, or a ReplicaSet not known: Services only.
        let by_deploy = w.default_selector(&owned_by("Deployment", "web-1", json!({"app": "web"})));
        assert!(by_deploy.matches(&labels(json!({"app": "web"}))));
        assert!(!by_deploy.matches(&labels(json!({"app": "db"}))));
        let unknown = owned_by("ReplicaSet", "gone", json!({"app": "api"}));
        assert!(w.default_selector(&unknown).is_everything());

        // Removed Services no longer count.
        w.remove(Kind::Service, "default", "front");
        w.remove(Kind::Service, "default", "tier");
        let bare =
            pod(json!({"metadata": {"name": "q", "labels": {"app": "web", "tier": "front"}}}));
        assert!(w.default_selector(&bare).is_everything());
        assert_eq!(w.keys(Kind::Service).len(), 2);
        assert_eq!(
            w.keys(Kind::ReplicaSet),
            [("default".into(), "web-1".into())]
        );
    }

    #[test]
    fn services_without_a_selector_add_nothing() {
        let mut w = Workloads::default();
        w.set_service(&service("default", "headless", Value::Null));
        w.set_service(&service("default", "empty", json!({})));
        let p = pod(json!({"metadata": {"name": "p", "labels": {"app": "web"}}}));
        assert!(w.default_selector(&p).is_everything());
        // A Service whose selector changes is indexed by the new one.
        w.set_service(&service("default", "empty", json!({"app": "web"})));
        assert!(!w.default_selector(&p).is_everything());
        w.set_service(&service("default", "empty", json!({"app": "db"})));
        assert!(w.default_selector(&p).is_everything());
    }
}
