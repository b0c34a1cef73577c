//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes no new
//! pods, except those tolerating its `node.kubernetes.io/unschedulable`
//! NoSchedule taint (DaemonSet pods do).

use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::framework::{Filter, Verdict};
use crate::scheduler::plugins::Plugin;
use crate::scheduler::taints::{self, NO_SCHEDULE, Taint};

const TAINT_KEY: &str = "node.kubernetes.io/unschedulable";
const REASON: &str = "node(s) were unschedulable";

struct NodeUnschedulable<'a> {
    pod: &'a PodInfo,
}

pub fn filter(pod: &PodInfo) -> Option<Box<dyn Filter + '_>> {
    Some(Box::new(NodeUnschedulable { pod }))
}

impl Filter for NodeUnschedulable<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::NodeUnschedulable
    }

    fn filter(&self, node: &NodeInfo) -> Verdict {
        let taint = Taint {
            key: TAINT_KEY.into(),
            value: String::new(),
            effect: NO_SCHEDULE.into(),
        };
        if !node.node.unschedulable || taints::tolerated(&self.pod.tolerations, &taint) {
            Ok(())
        } else {
            Err(vec![REASON.into()])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node_from, pod, rejected};
    use serde_json::json;

    #[test]
    fn cordoned_nodes_take_only_pods_that_tolerate_it() {
        let cluster = Cluster::new(vec![
            node_from(json!({"metadata": {"name": "open"}})),
            node_from(json!({"metadata": {"name": "cordoned"}, "spec": {"unschedulable": true}})),
        ]);
        let cases = [
            (json!(null), vec![Ok(()), rejected(REASON)]),
            (
                json!([{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]),
                vec![Ok(()), Ok(())],
            ),
            (
                json!([{"key": TAINT_KEY, "operator": "Exists", "effect": "NoExecute"}]),
                vec![Ok(()), rejected(REASON)],
            ),
        ];
        for (tolerations, want) in cases {
            let p = pod(json!({"metadata": {"name": "p"}, "spec": {
                "containers": [{"name": "c"}], "tolerations": tolerations}}));
            assert_eq!(cluster.filter(&p, |p, _| filter(p)), want, "{tolerations}");
        }
    }
}
