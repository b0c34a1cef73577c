//! Which nodes a DaemonSet runs on (upstream's NodeShouldRunDaemonPod): a
//! node that matches the pod's node name, node selector and required node
//! affinity, and whose NoSchedule and NoExecute taints the pod tolerates.
//! A pod already there stays as long as it tolerates the NoExecute taints.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, PodSpec};
use kube::ResourceExt;

use crate::scheduler::selector::RequiredNodeAffinity;
use crate::scheduler::taints::{NO_EXECUTE, Taint, Toleration, untolerated};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// A daemon pod should be created there.
    pub run: bool,
    /// A daemon pod there may keep running.
    pub keep: bool,
}

/// What `ds`'s pods must match, compiled once per sync.
pub struct Fit {
    node_name: Option<String>,
    affinity: RequiredNodeAffinity,
    tolerations: Vec<Toleration>,
}

impl Fit {
    /// `spec`: the template's spec with the daemon tolerations.
    pub fn new(spec: &PodSpec) -> Fit {
        Fit {
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            affinity: RequiredNodeAffinity::new(spec),
            tolerations: spec
                .tolerations
                .iter()
                .flatten()
                .map(Toleration::from)
                .collect(),
        }
    }

    pub fn of(ds: &DaemonSet) -> Fit {
        Fit::new(&super::pods::spec_with_tolerations(ds))
    }

    pub fn place(&self, node: &Node) -> Placement {
        let name = node.name_any();
        let never = Placement {
            run: false,
            keep: false,
        };
        if self.node_name.as_ref().is_some_and(|n| *n != name) {
            return never;
        }
        let labels = node.metadata.labels.clone().unwrap_or_default();
        if !self.affinity.matches(&name, &labels) {
            return never;
        }
        let taints: Vec<Taint> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .map(Taint::from)
            .collect();
        if untolerated(&taints, &self.tolerations).is_none() {
            return Placement {
                run: true,
                keep: true,
            };
        }
        let evicting: Vec<Taint> = taints
            .into_iter()
            .filter(|t| t.effect == NO_EXECUTE)
            .collect();
        Placement {
            run: false,
            keep: untolerated(&evicting, &self.tolerations).is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
                                      "spec": {"taints": taints}}))
        .unwrap()
    }

    fn fit(spec: serde_json::Value) -> Fit {
        let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "d"},
            "spec": {"selector": {}, "template": {"spec": spec}}}))
        .unwrap();
        Fit::of(&ds)
    }

    const RUN: Placement = Placement {
        run: true,
        keep: true,
    };
    const KEEP: Placement = Placement {
        run: false,
        keep: true,
    };
    const NEVER: Placement = Placement {
        run: false,
        keep: false,
    };

    #[test]
    fn node_selector_affinity_and_name() {
        let f = fit(json!({"containers": [], "nodeSelector": {"role": "edge"}}));
        assert_eq!(f.place(&node("a", json!({"role": "edge"}), json!([]))), RUN);
        assert_eq!(
            f.place(&node("b", json!({"role": "core"}), json!([]))),
            NEVER
        );
        let f = fit(json!({"containers": [], "nodeName": "a"}));
        assert_eq!(f.place(&node("b", json!({}), json!([]))), NEVER);
        let f = fit(
            json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z1"]}]}]}}}}),
        );
        assert_eq!(f.place(&node("a", json!({"zone": "z1"}), json!([]))), NEVER);
        assert_eq!(f.place(&node("a", json!({"zone": "z2"}), json!([]))), RUN);
    }

    #[test]
    fn taints_keep_new_pods_off_and_no_execute_ones_evict() {
        let f = fit(json!({"containers": []}));
        let no_schedule = json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
        let no_execute = json!([{"key": "dedicated", "value": "db", "effect": "NoExecute"}]);
        assert_eq!(f.place(&node("a", json!({}), no_schedule.clone())), KEEP);
        assert_eq!(f.place(&node("a", json!({}), no_execute)), NEVER);
        // Node trouble and cordons never keep a daemon pod off.
        let trouble = json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                             {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]);
        assert_eq!(f.place(&node("a", json!({}), trouble)), RUN);
        let f = fit(
            json!({"containers": [], "tolerations": [{"key": "dedicated", "operator": "Exists"}]}),
        );
        assert_eq!(f.place(&node("a", json!({}), no_schedule)), RUN);
    }
}
