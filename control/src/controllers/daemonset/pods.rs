//! A DaemonSet's pods: the one it makes for a node, the node a pod is for,
//! and which of them run the current revision.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec,
    Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use crate::controllers::shared::claim::controller_ref;
use crate::controllers::shared::pod_state::is_terminal;

/// The revision a pod was made from, as upstream labels it.
pub const HASH_LABEL: &str = "controller-revision-hash";
const GENERATION_LABEL: &str = "pod-template-generation";

/// What every daemon pod tolerates (upstream's
/// AddOrUpdateDaemonPodTolerations): a node going not ready or unreachable
/// never evicts it, and pressure or a cordon never keeps it off; a host
/// network pod also runs before the node's network is up (it may be the
/// network).
fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let exists = |key: &str, effect: &str| Toleration {
        key: Some(format!("node.kubernetes.io/{key}")),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    };
    let mut out = vec![
        exists("not-ready", "NoExecute"),
        exists("unreachable", "NoExecute"),
        exists("disk-pressure", "NoSchedule"),
        exists("memory-pressure", "NoSchedule"),
        exists("pid-pressure", "NoSchedule"),
        exists("unschedulable", "NoSchedule"),
    ];
    if host_network {
        out.push(exists("network-unavailable", "NoSchedule"));
    }
    out
}

/// The template's spec with the daemon tolerations: one the pod already
/// has with the same key, operator, value and effect is replaced (so it
/// never expires), others are added.
pub fn spec_with_tolerations(ds: &DaemonSet) -> PodSpec {
    let mut spec = ds.spec.template.spec.clone().unwrap_or_default();
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    for t in daemon_tolerations(spec.host_network == Some(true)) {
        let same = |o: &Toleration| {
            o.key == t.key && o.operator == t.operator && o.value == t.value && o.effect == t.effect
        };
        match list.iter_mut().find(|o| same(o)) {
            Some(o) => *o = t,
            None => list.push(t),
        }
    }
    spec
}

/// The pod `ds` runs on `node`, of revision `hash`. Its required node
/// affinity is replaced by the node's name, so the scheduler places it
/// there and nowhere else (upstream's
/// ReplaceDaemonSetPodNodeNameNodeAffinity).
pub fn for_node(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let template = &ds.spec.template;
    let meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(HASH_LABEL.into(), hash.into());
    if let Some(g) = ds.meta().generation {
        labels.insert(GENERATION_LABEL.into(), g.to_string());
    }
    let mut spec = spec_with_tolerations(ds);
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.into()]),
        }]),
        ..Default::default()
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", ds.name_any())),
            namespace: ds.namespace(),
            labels: Some(labels),
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref(ds)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The node a pod runs on or, before it is bound, the one its node
/// affinity names (upstream's GetTargetNodeName).
pub fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key == "metadata.name" && r.operator == "In")
        .and_then(|r| r.values.as_ref())
        .filter(|v| v.len() == 1)
        .map(|v| v[0].as_str())
}

/// Made from revision `hash`.
pub fn is_updated(pod: &Pod, hash: &str) -> bool {
    pod.labels().get(HASH_LABEL).map(String::as_str) == Some(hash)
}

/// Pods by the node they are for; pods both deleted and finished are gone
/// for every purpose, pods for no node are left out.
pub fn by_node(pods: &[Arc<Pod>]) -> BTreeMap<String, Vec<Arc<Pod>>> {
    let mut out: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() && is_terminal(pod) {
            continue;
        }
        if let Some(node) = target_node(pod) {
            out.entry(node.to_owned()).or_default().push(pod.clone());
        }
    }
    for pods in out.values_mut() {
        pods.sort_by(|a, b| oldest_first(a, b));
    }
    out
}

/// Scheduled before unscheduled, then oldest first, then by name
/// (upstream's podByCreationTimestampAndPhase).
fn oldest_first(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    let bound = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    bound(b)
        .cmp(&bound(a))
        .then_with(|| {
            let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            created(a).cmp(&created(b))
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(spec: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "d1", "generation": 3},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": spec}}}))
        .unwrap()
    }

    #[test]
    fn a_node_pod_is_pinned_to_its_node_and_tolerates_node_trouble() {
        let ds = ds(
            json!({"containers": [{"name": "c", "image": "i"}], "hostNetwork": true,
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 30},
                            {"key": "dedicated", "operator": "Equal", "value": "infra"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchExpressions": [{"key": "role", "operator": "In", "values": ["edge"]}]}]}}}}),
        );
        let pod = for_node(&ds, "n2", "abc");
        assert_eq!(target_node(&pod), Some("n2"));
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            v["metadata"]["labels"],
            json!({"app": "agent", "controller-revision-hash": "abc", "pod-template-generation": "3"})
        );
        assert_eq!(v["metadata"]["generateName"], "agent-");
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        assert_eq!(
            v["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!({"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]})
        );
        let tolerations = v["spec"]["tolerations"].as_array().unwrap();
        // The user's not-ready toleration no longer expires; theirs stays.
        assert_eq!(
            tolerations[0],
            json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"})
        );
        assert_eq!(tolerations[1]["key"], "dedicated");
        assert_eq!(tolerations.len(), 8);
        assert!(
            tolerations
                .iter()
                .any(|t| t["key"] == "node.kubernetes.io/network-unavailable")
        );
        assert!(is_updated(&pod, "abc") && !is_updated(&pod, "def"));
    }

    #[test]
    fn pods_group_by_node_scheduled_then_oldest_first() {
        let pod = |name: &str,
                   node: Option<&str>,
                   created: &str,
                   extra: serde_json::Value|
         -> Arc<Pod> {
            let mut v = json!({"metadata": {"name": name, "creationTimestamp": created},
                "spec": {"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                    {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}}});
            if let Some(n) = node {
                v["spec"]["nodeName"] = json!(n);
            }
            if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                for (k, x) in e {
                    o.insert(k.clone(), x.clone());
                }
            }
            Arc::new(serde_json::from_value(v).unwrap())
        };
        let pods = vec![
            pod("young", Some("n1"), "2024-01-02T00:00:00Z", json!({})),
            pod("pending", None, "2024-01-01T00:00:00Z", json!({})),
            pod("old", Some("n1"), "2024-01-01T00:00:00Z", json!({})),
            pod(
                "done",
                Some("n1"),
                "2024-01-01T00:00:00Z",
                json!({"status": {"phase": "Failed"}}),
            ),
        ];
        let mut gone = (*pods[3]).clone();
        gone.metadata.deletion_timestamp = gone.metadata.creation_timestamp.clone();
        let mut all = pods.clone();
        all.push(Arc::new(gone));
        let map = by_node(&all);
        let names: Vec<_> = map["n1"].iter().map(|p| p.name_any()).collect();
        assert_eq!(names, ["done", "old", "young", "pending"]);
    }
}
