//! Builders for the scheduler's unit tests: pods and nodes from JSON as the
//! API server serves them, a cache holding them, and a plugin run over it.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use crate::scheduler::cache::node_info::{NodeInfo, NodeView};
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::cache::{Cache, Snapshot};
use crate::scheduler::framework::{Filter, Score, Verdict};

/// A pod from JSON; namespace `default` and a uid when left out.
pub fn pod(mut v: Value) -> PodInfo {
    let meta = &mut v["metadata"];
    if meta["namespace"].is_null() {
        meta["namespace"] = json!("default");
    }
    if meta["uid"].is_null() {
        meta["uid"] = json!(format!("uid-{}", meta["name"].as_str().unwrap_or("")));
    }
    if v["spec"].is_null() {
        v["spec"] = json!({"containers": [{"name": "c", "image": "app:1"}]});
    }
    PodInfo::new(&serde_json::from_value::<Pod>(v).unwrap())
}

/// A node from JSON.
pub fn node_from(v: Value) -> NodeView {
    NodeView::new(&serde_json::from_value::<Node>(v).unwrap())
}

/// A node with `allocatable` and nothing else.
pub fn node(name: &str, allocatable: Value) -> NodeView {
    node_from(json!({"metadata": {"name": name}, "status": {"allocatable": allocatable}}))
}

#[derive(Default)]
pub struct Cluster {
    pub cache: Cache,
}

impl Cluster {
    pub fn new(nodes: Vec<NodeView>) -> Self {
        let mut cache = Cache::default();
        for n in nodes {
            cache.set_node(n);
        }
        Cluster { cache }
    }

    /// With `pod` bound to `node`.
    pub fn with_pod(mut self, node: &str, pod: PodInfo) -> Self {
        self.cache.add_pod(Arc::new(pod.assigned_to(node)));
        self
    }

    /// With a Service in `namespace` whose selector is `selector`.
    pub fn with_service(mut self, namespace: &str, name: &str, selector: Value) -> Self {
        let svc = json!({"metadata": {"name": name, "namespace": namespace},
                         "spec": {"selector": selector}});
        self.cache
            .workloads
            .set_service(&serde_json::from_value(svc).unwrap());
        self
    }

    /// With a ReplicaSet in `default` whose selector is `selector`.
    pub fn with_replica_set(mut self, name: &str, selector: Value) -> Self {
        let rs = json!({"metadata": {"name": name, "namespace": "default"},
                        "spec": {"selector": selector, "template": {}}});
        self.cache
            .workloads
            .set_replica_set(&serde_json::from_value(rs).unwrap());
        self
    }

    /// What a filter says of each node, in order; all pass when it stays out.
    pub fn filter<F>(&self, pod: &PodInfo, make: F) -> Vec<Verdict>
    where
        F: for<'a> Fn(&'a PodInfo, &Snapshot<'a>) -> Option<Box<dyn Filter + 'a>>,
    {
        let snap = self.cache.snapshot();
        match make(pod, &snap) {
            None => snap.nodes.iter().map(|_| Ok(())).collect(),
            Some(f) => snap.nodes.iter().map(|n| f.filter(n)).collect(),
        }
    }

    /// A score's normalized values for every node, None when it stays out.
    pub fn score<F>(&self, pod: &PodInfo, make: F) -> Option<Vec<i64>>
    where
        F: for<'a> Fn(&'a PodInfo, &Snapshot<'a>, &[&'a NodeInfo]) -> Option<Box<dyn Score + 'a>>,
    {
        let snap = self.cache.snapshot();
        let nodes = snap.nodes.clone();
        let s = make(pod, &snap, &nodes)?;
        let mut scores: Vec<i64> = nodes.iter().map(|n| s.score(n)).collect();
        s.normalize(&nodes, &mut scores);
        Some(scores)
    }
}

/// A rejection with one reason.
pub fn rejected(reason: &str) -> Verdict {
    Err(vec![reason.to_owned()])
}
