//! A pod as the scheduler sees it: parsed once when it arrives (requests,
//! ports, tolerations, affinity terms, spread constraints, its controller),
//! so filtering and scoring never go back to the object.

use std::collections::{BTreeSet, hash_map::DefaultHasher};
use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::{self as core, Pod};

use crate::scheduler::resources::{self, CPU, MEMORY, Resources};
use crate::scheduler::selector::{Labels, NodeSelectorTerm, RequiredNodeAffinity, Selector};
use crate::scheduler::taints::Toleration;

/// `namespace/name`.
pub type PodKey = String;

pub fn key(namespace: &str, name: &str) -> PodKey {
    format!("{namespace}/{name}")
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    pub protocol: String,
    pub port: i32,
    /// `0.0.0.0` when the pod leaves it out: every address.
    pub ip: String,
}

pub const ANY_IP: &str = "0.0.0.0";

/// A pod (anti-)affinity term: pods matching `selector` in the namespaces it
/// names (or selects), counted per value of `topology_key` on their nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityTerm {
    pub namespaces: BTreeSet<String>,
    pub namespace_selector: Selector,
    pub selector: Selector,
    pub topology_key: String,
}

impl AffinityTerm {
    fn new(pod_namespace: &str, labels: &Labels, t: &core::PodAffinityTerm) -> Self {
        let mut namespaces: BTreeSet<String> = t.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && t.namespace_selector.is_none() {
            namespaces.insert(pod_namespace.to_owned());
        }
        // The keys' values come from the pod itself (upstream's API server
        // merges them into the selector when the pod is created).
        let values = |keys: &Option<Vec<String>>| -> Labels {
            keys.iter()
                .flatten()
                .filter_map(|k| Some((k.clone(), labels.get(k)?.clone())))
                .collect()
        };
        let selector = Selector::from_label_selector(t.label_selector.as_ref())
            .and_labels(&values(&t.match_label_keys))
            .and_not_labels(&values(&t.mismatch_label_keys));
        AffinityTerm {
            namespaces,
            namespace_selector: Selector::from_label_selector(t.namespace_selector.as_ref()),
            selector,
            topology_key: t.topology_key.clone(),
        }
    }

    /// Whether `pod` is one this term is about; `ns_labels` are the labels
    /// of the pod's namespace (None: not known).
    pub fn matches(&self, pod: &PodInfo, ns_labels: Option<&Labels>) -> bool {
        let in_namespace = self.namespaces.contains(&pod.namespace)
            || match ns_labels {
                Some(l) => self.namespace_selector.matches(l),
                None => self.namespace_selector.is_everything(),
            };
        in_namespace && self.selector.matches(&pod.labels)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedTerm {
    pub weight: i64,
    pub term: AffinityTerm,
}

/// A topology spread constraint with its selector compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    /// DoNotSchedule: a filter; ScheduleAnyway: a score.
    pub hard: bool,
    pub selector: Selector,
    pub min_domains: usize,
    /// Only nodes the pod's node selector and affinity accept are counted
    /// (nodeAffinityPolicy Honor, the default).
    pub honor_affinity: bool,
    /// Only nodes whose taints the pod tolerates are counted
    /// (nodeTaintsPolicy Honor; Ignore is the default).
    pub honor_taints: bool,
}

impl SpreadConstraint {
    fn new(labels: &Labels, c: &core::TopologySpreadConstraint) -> Self {
        let own: Labels = c
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|k| Some((k.clone(), labels.get(k)?.clone())))
            .collect();
        SpreadConstraint {
            max_skew: c.max_skew.into(),
            topology_key: c.topology_key.clone(),
            hard: c.when_unsatisfiable == "DoNotSchedule",
            selector: Selector::from_label_selector(c.label_selector.as_ref()).and_labels(&own),
            min_domains: c.min_domains.map_or(1, |m| m.max(0) as usize),
            honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        }
    }
}

/// The owner reference marked controller: where upstream's
/// `DefaultSelector` finds the pod's ReplicaSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

/// A pod's `PodScheduled` condition, to leave an unchanged one alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduledCondition {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PodInfo {
    pub key: PodKey,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub labels: Labels,
    pub node_name: Option<String>,
    pub scheduler_name: String,
    pub deleting: bool,
    /// Succeeded or Failed: holds nothing on its node any more.
    pub terminal: bool,
    /// Held back by `spec.schedulingGates`.
    pub gated: bool,
    pub priority: i32,
    pub requests: Resources,
    /// CPU and memory with defaults for containers that leave them out.
    pub non_zero_cpu: i64,
    pub non_zero_memory: i64,
    pub host_ports: Vec<HostPort>,
    pub tolerations: Vec<Toleration>,
    pub node_affinity: RequiredNodeAffinity,
    pub preferred_node_affinity: Vec<(i64, NodeSelectorTerm)>,
    /// Whether it has any pod affinity or anti-affinity (even preferred).
    pub has_pod_affinity: bool,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedTerm>,
    pub preferred_anti_affinity: Vec<WeightedTerm>,
    pub spread: Vec<SpreadConstraint>,
    pub controller: Option<ControllerRef>,
    /// Image names of init and app containers, tagged `:latest` when untagged.
    pub images: Vec<String>,
    /// Changes when the spec, labels or annotations do, not with the status:
    /// only such a change can make an unschedulable pod schedulable.
    pub fingerprint: u64,
}

impl PodInfo {
    pub fn new(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        let spec = pod.spec.clone().unwrap_or_default();
        let namespace = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let requests = Resources::from_amounts(&resources::pod_requests(&spec, false));
        let non_zero = resources::pod_requests(&spec, true);
        let affinity = spec.affinity.as_ref();
        let pod_affinity = affinity.and_then(|a| a.pod_affinity.as_ref());
        let anti = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<core::PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::new(&namespace, &labels, t))
                .collect()
        };
        let preferred = |terms: Option<&Vec<core::WeightedPodAffinityTerm>>| -> Vec<WeightedTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| WeightedTerm {
                    weight: t.weight.into(),
                    term: AffinityTerm::new(&namespace, &labels, &t.pod_affinity_term),
                })
                .collect()
        };
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref());
        let mut hasher = DefaultHasher::new();
        serde_json::to_string(&spec)
            .unwrap_or_default()
            .hash(&mut hasher);
        labels.hash(&mut hasher);
        meta.annotations.hash(&mut hasher);
        PodInfo {
            key: key(&namespace, &name),
            uid: meta.uid.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            scheduler_name: spec.scheduler_name.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            terminal: matches!(phase, Some("Succeeded" | "Failed")),
            gated: spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty()),
            priority: spec.priority.unwrap_or(0),
            requests,
            non_zero_cpu: non_zero.get(CPU).copied().unwrap_or(0),
            non_zero_memory: non_zero.get(MEMORY).copied().unwrap_or(0),
            host_ports: host_ports(&spec),
            tolerations: spec
                .tolerations
                .iter()
                .flatten()
                .map(Toleration::from)
                .collect(),
            node_affinity: RequiredNodeAffinity::new(&spec),
            preferred_node_affinity: affinity
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|n| {
                    n.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p.weight.into(), NodeSelectorTerm::new(&p.preference)?)))
                .collect(),
            has_pod_affinity: pod_affinity.is_some() || anti.is_some(),
            required_affinity: required(pod_affinity.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti_affinity: required(anti.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: preferred(pod_affinity.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti_affinity: preferred(anti.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            spread: spec
                .topology_spread_constraints
                .iter()
                .flatten()
                .map(|c| SpreadConstraint::new(&labels, c))
                .collect(),
            controller: meta
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.controller == Some(true))
                .map(|o| ControllerRef {
                    api_version: o.api_version.clone(),
                    kind: o.kind.clone(),
                    name: o.name.clone(),
                }),
            images: spec
                .init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
                .map(|c| normalized_image(c.image.as_deref().unwrap_or_default()))
                .collect(),
            fingerprint: hasher.finish(),
            namespace,
            name,
            labels,
        }
    }

    /// The same pod, placed on `node` (what the cache assumes while the
    /// binding is on its way).
    pub fn assigned_to(&self, node: &str) -> Self {
        PodInfo {
            node_name: Some(node.to_owned()),
            ..self.clone()
        }
    }

    pub fn container_count(&self) -> usize {
        self.images.len()
    }
}

/// The pod's `PodScheduled` condition, if it has one.
pub fn scheduled_condition(pod: &Pod) -> Option<ScheduledCondition> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")?;
    Some(ScheduledCondition {
        status: c.status.clone(),
        reason: c.reason.clone().unwrap_or_default(),
        message: c.message.clone().unwrap_or_default(),
        last_transition: c.last_transition_time.as_ref().map(|t| t.0.to_string()),
    })
}

/// Host ports of the app containers and sidecars.
fn host_ports(spec: &core::PodSpec) -> Vec<HostPort> {
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|p| *p > 0)?;
            Some(HostPort {
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port,
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| ANY_IP.into()),
            })
        })
        .collect()
}

/// Node status lists images by their full names; an untagged image in a pod
/// means `:latest`.
pub fn normalized_image(name: &str) -> String {
    if name
        .rfind(':')
        .is_none_or(|c| name.rfind('/').is_some_and(|s| c < s))
    {
        format!("{name}:latest")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_are_tagged_latest_when_untagged() {
        for (name, want) in [
            ("nginx", "nginx:latest"),
            ("nginx:1.25", "nginx:1.25"),
            ("registry:5000/app", "registry:5000/app:latest"),
            ("registry:5000/app:v1", "registry:5000/app:v1"),
        ] {
            assert_eq!(normalized_image(name), want);
        }
    }

    #[test]
    fn a_pod_is_parsed_once() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a", "v": "1"}},
            "spec": {
                "containers": [{"name": "c", "image": "img",
                    "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}],
                    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "a"}}, "matchLabelKeys": ["v"],
                     "topologyKey": "kubernetes.io/hostname"}]}}},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m"}]}
        }))
        .unwrap();
        let p = PodInfo::new(&pod);
        assert_eq!(p.key, "ns/p");
        assert_eq!((p.requests.milli_cpu, p.requests.memory), (250, 64 << 20));
        assert_eq!(
            p.host_ports,
            [HostPort {
                protocol: "TCP".into(),
                port: 8080,
                ip: ANY_IP.into()
            }]
        );
        let term = &p.required_anti_affinity[0];
        assert!(term.namespaces.contains("ns"));
        let mut other = p.clone();
        other.labels.insert("v".into(), "2".into());
        assert!(term.matches(&p, None));
        assert!(!term.matches(&other, None), "matchLabelKeys pins v=1");
        assert_eq!(scheduled_condition(&pod).unwrap().reason, "Unschedulable");
        assert!(p.has_pod_affinity && !p.gated && !p.terminal);
    }
}
