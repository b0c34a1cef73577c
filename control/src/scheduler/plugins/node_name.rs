//! NodeName: a pod that names its node (`spec.nodeName`) fits that node only.

use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::framework::{Filter, Verdict};
use crate::scheduler::plugins::Plugin;

const REASON: &str = "node(s) didn't match the requested node name";

struct NodeName<'a> {
    wanted: &'a str,
}

pub fn filter(pod: &PodInfo) -> Option<Box<dyn Filter + '_>> {
    let wanted = pod.node_name.as_deref()?;
    Some(Box::new(NodeName { wanted }))
}

impl Filter for NodeName<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::NodeName
    }

    fn filter(&self, node: &NodeInfo) -> Verdict {
        if node.name() == self.wanted {
            Ok(())
        } else {
            Err(vec![REASON.into()])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node, pod, rejected};
    use serde_json::json;

    #[test]
    fn only_the_named_node_fits() {
        let cluster = Cluster::new(vec![node("a", json!({})), node("b", json!({}))]);
        let cases = [
            (json!(null), vec![Ok(()), Ok(())]),
            (json!("b"), vec![rejected(REASON), Ok(())]),
            (json!("c"), vec![rejected(REASON), rejected(REASON)]),
        ];
        for (name, want) in cases {
            let p = pod(json!({"metadata": {"name": "p"}, "spec": {
                "containers": [{"name": "c"}], "nodeName": name}}));
            assert_eq!(cluster.filter(&p, |p, _| filter(p)), want, "{name}");
        }
    }
}
