//! PodTopologySpread: pods matching a constraint's selector must stay
//! spread over the values of its topology key (node labels). A
//! DoNotSchedule constraint is a filter: placing the pod must not put a
//! domain more than `maxSkew` above the emptiest one (counted as empty
//! while fewer than `minDomains` domains exist). A ScheduleAnyway
//! constraint is a score favouring the emptier domains.
//!
//! Domains come from the nodes the pod could go to (its node affinity,
//! and its tolerations when the constraint honours taints); nodes without
//! every topology key of the pod's constraints hold no domain.
//!
//! A pod without constraints is scored by the system defaults
//! (`defaults.rs`); those do not need every key on a node: a node without
//! a zone label still counts for spreading by host.

mod defaults;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Deref;

use crate::scheduler::cache::Snapshot;
use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::{PodInfo, SpreadConstraint};
use crate::scheduler::framework::{Filter, MAX_NODE_SCORE, Score, Verdict};
use crate::scheduler::plugins::Plugin;
use crate::scheduler::selector::Selector;
use crate::scheduler::taints;
use defaults::HOSTNAME;

const CONSTRAINTS: &str = "node(s) didn't match pod topology spread constraints";
const MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
fn has_keys<C: Deref<Target = SpreadConstraint>>(node: &NodeInfo, constraints: &[C]) -> bool {
    constraints
        .iter()
        .all(|c| node.labels().contains_key(&c.topology_key))
}

/// Whether `node` counts for `c`: the inclusion policies.
fn eligible(pod: &PodInfo, c: &SpreadConstraint, node: &NodeInfo) -> bool {
    (!c.honor_affinity || pod.node_affinity.matches(node.name(), node.labels()))
        && (!c.honor_taints || taints::untolerated(&node.node.taints, &pod.tolerations).is_none())
}

/// Pods on `node` in `namespace` the selector matches, leaving out pods
/// on their way out. An empty selector counts none.
fn matching(node: &NodeInfo, selector: &Selector, namespace: &str) -> i64 {
    if selector.is_everything() {
        return 0;
    }
    node.pods
        .iter()
        .filter(|p| !p.deleting && p.namespace == namespace && selector.matches(&p.labels))
        .count() as i64
}

struct SpreadFilter<'a> {
    pod: &'a PodInfo,
    constraints: Vec<&'a SpreadConstraint>,
    /// Per constraint: matching pods per domain (topology value).
    counts: Vec<HashMap<&'a str, i64>>,
}

pub fn filter<'a>(pod: &'a PodInfo, snap: &Snapshot<'a>) -> Option<Box<dyn Filter + 'a>> {
    let constraints: Vec<&SpreadConstraint> = pod.spread.iter().filter(|c| c.hard).collect();
    if constraints.is_empty() {
        return None;
    }
    let mut counts = vec![HashMap::new(); constraints.len()];
    for &node in snap.nodes.iter().filter(|n| has_keys(n, &constraints)) {
        for (i, c) in constraints.iter().enumerate() {
            if eligible(pod, c, node) {
                let value = node.labels()[&c.topology_key].as_str();
                *counts[i].entry(value).or_default() += matching(node, &c.selector, &pod.namespace);
            }
        }
    }
    Some(Box::new(SpreadFilter {
        pod,
        constraints,
        counts,
    }))
}

impl Filter for SpreadFilter<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::PodTopologySpread
    }

    fn filter(&self, node: &NodeInfo) -> Verdict {
        for (c, counts) in self.constraints.iter().zip(&self.counts) {
            let Some(value) = node.labels().get(&c.topology_key) else {
                return Err(vec![MISSING_LABEL.into()]);
            };
            let min = if counts.len() < c.min_domains {
                0
            } else {
                counts
                    .values()
                    .copied()
                    .min()
                    .unwrap_or(i64::from(i32::MAX))
            };
            let own = i64::from(c.selector.matches(&self.pod.labels));
            let here = counts.get(value.as_str()).copied().unwrap_or(0);
            if here + own - min > c.max_skew {
                return Err(vec![CONSTRAINTS.into()]);
            }
        }
        Ok(())
    }
}

struct SpreadScore<'a> {
    pod: &'a PodInfo,
    constraints: Vec<Cow<'a, SpreadConstraint>>,
    /// Nodes that lack a topology key: scored 0.
    ignored: HashSet<&'a str>,
    /// Per constraint: matching pods per domain among the candidate nodes'
    /// domains (hostname domains are counted per node when scoring).
    counts: Vec<HashMap<&'a str, i64>>,
    /// Per constraint: ln(domains + 2), so small topologies weigh more.
    weights: Vec<f64>,
}

pub fn score<'a>(
    pod: &'a PodInfo,
    snap: &Snapshot<'a>,
    nodes: &[&'a NodeInfo],
) -> Option<Box<dyn Score + 'a>> {
    // The defaults, for a pod naming no constraints at all, do not require
    // every key: a node lacking one still adds a domain "" to that key's
    // weight (upstream's label lookup gives ""), and is scored for the rest.
    let (constraints, require_all): (Vec<Cow<SpreadConstraint>>, bool) = if pod.spread.is_empty() {
        let defaults = defaults::constraints(pod, snap);
        (defaults.into_iter().map(Cow::Owned).collect(), false)
    } else {
        let soft = pod.spread.iter().filter(|c| !c.hard);
        (soft.map(Cow::Borrowed).collect(), true)
    };
    if constraints.is_empty() {
        return None;
    }
    let value = |node: &'a NodeInfo, key: &str| node.labels().get(key).map_or("", String::as_str);
    let mut ignored = HashSet::new();
    let mut counts: Vec<HashMap<&str, i64>> = vec![HashMap::new(); constraints.len()];
    for &node in nodes {
        if require_all && !has_keys(node, &constraints) {
            ignored.insert(node.name());
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if c.topology_key != HOSTNAME {
                counts[i].entry(value(node, &c.topology_key)).or_insert(0);
            }
        }
    }
    let weights = constraints
        .iter()
        .zip(&counts)
        .map(|(c, domains)| {
            let size = if c.topology_key == HOSTNAME {
                nodes.len() - ignored.len()
            } else {
                domains.len()
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    let counted = snap
        .nodes
        .iter()
        .filter(|n| !require_all || has_keys(n, &constraints));
    for &node in counted {
        for (i, c) in constraints.iter().enumerate() {
            if !eligible(pod, c, node) {
                continue;
            }
            if let Some(n) = counts[i].get_mut(value(node, &c.topology_key)) {
                *n += matching(node, &c.selector, &pod.namespace);
            }
        }
    }
    Some(Box::new(SpreadScore {
        pod,
        constraints,
        ignored,
        counts,
        weights,
    }))
}

impl Score for SpreadScore<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::PodTopologySpread
    }

    /// Matching pods in the node's domains, weighted; fewer is better.
    fn score(&self, node: &NodeInfo) -> i64 {
        if self.ignored.contains(node.name()) {
            return 0;
        }
        let mut score = 0.0;
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = node.labels().get(&c.topology_key) else {
                continue;
            };
            let n = if c.topology_key == HOSTNAME {
                matching(node, &c.selector, &self.pod.namespace)
            } else {
                self.counts[i].get(value.as_str()).copied().unwrap_or(0)
            };
            score += n as f64 * self.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    /// Reversed between the lowest and the highest; ignored nodes get 0.
    fn normalize(&self, nodes: &[&NodeInfo], scores: &mut [i64]) {
        let counted = || {
            nodes
                .iter()
                .zip(scores.iter())
                .filter(|(n, _)| !self.ignored.contains(n.name()))
                .map(|(_, s)| *s)
        };
        let min = counted().min().unwrap_or(0);
        let max = counted().max().unwrap_or(0).max(0);
        for (node, s) in nodes.iter().zip(scores.iter_mut()) {
            *s = if self.ignored.contains(node.name()) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node_from, pod, rejected};
    use serde_json::json;

    const ZONE: &str = "topology.kubernetes.io/zone";

    /// a, b in zone z1; c in z2; d has no zone label.
    fn cluster() -> Cluster {
        let n = |name: &str, zone: Option<&str>| {
            let mut labels = json!({HOSTNAME: name});
            if let Some(z) = zone {
                labels[ZONE] = json!(z);
            }
            node_from(json!({"metadata": {"name": name, "labels": labels}}))
        };
        Cluster::new(vec![
            n("a", Some("z1")),
            n("b", Some("z1")),
            n("c", Some("z2")),
            n("d", None),
        ])
    }

    fn web(name: &str, constraints: serde_json::Value) -> PodInfo {
        pod(json!({"metadata": {"name": name, "labels": {"app": "web"}},
                   "spec": {"containers": [{"name": "c"}], "topologySpreadConstraints": constraints}}))
    }

    fn constraint(key: &str, skew: i32, when: &str) -> serde_json::Value {
        json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
               "labelSelector": {"matchLabels": {"app": "web"}}})
    }

    #[test]
    fn do_not_schedule_keeps_domains_within_max_skew() {
        let c = cluster()
            .with_pod("a", web("w1", json!(null)))
            .with_pod("b", web("w2", json!(null)));
        let skew = || rejected(CONSTRAINTS);
        let missing = || rejected(MISSING_LABEL);
        let cases = [
            // z1 holds 2, z2 none: only z2 keeps the skew at most 1.
            (
                json!([constraint(ZONE, 1, "DoNotSchedule")]),
                vec![skew(), skew(), Ok(()), missing()],
            ),
            (
                json!([constraint(ZONE, 2, "DoNotSchedule")]),
                vec![skew(), skew(), Ok(()), missing()],
            ),
            (
                json!([constraint(ZONE, 3, "DoNotSchedule")]),
                vec![Ok(()), Ok(()), Ok(()), missing()],
            ),
            // Per host: a and b hold one each, c and d none.
            (
                json!([constraint(HOSTNAME, 1, "DoNotSchedule")]),
                vec![skew(), skew(), Ok(()), Ok(())],
            ),
            // ScheduleAnyway never filters.
            (
                json!([constraint(ZONE, 1, "ScheduleAnyway")]),
                vec![Ok(()); 4],
            ),
        ];
        for (constraints, want) in cases {
            assert_eq!(
                c.filter(&web("p", constraints.clone()), filter),
                want,
                "{constraints}"
            );
        }
    }

    #[test]
    fn min_domains_counts_missing_domains_as_empty() {
        let c = cluster()
            .with_pod("a", web("w1", json!(null)))
            .with_pod("c", web("w2", json!(null)));
        let mut three = constraint(ZONE, 1, "DoNotSchedule");
        // Balanced over two zones: fine, unless three zones are wanted.
        assert_eq!(
            c.filter(&web("p", json!([three.clone()])), filter)[..3],
            [Ok(()), Ok(()), Ok(())]
        );
        three["minDomains"] = json!(3);
        assert_eq!(
            c.filter(&web("p", json!([three])), filter)[..3],
            [
                rejected(CONSTRAINTS),
                rejected(CONSTRAINTS),
                rejected(CONSTRAINTS)
            ]
        );
    }

    #[test]
    fn node_affinity_narrows_the_domains() {
        let c = cluster().with_pod("a", web("w1", json!(null)));
        let mut p = web("p", json!([constraint(ZONE, 1, "DoNotSchedule")]));
        // Only zone z1 is allowed, so z2's emptiness does not count.
        p.node_affinity = pod(
            json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c"}],
            "nodeSelector": {ZONE: "z1"}}}),
        )
        .node_affinity;
        assert_eq!(c.filter(&p, filter)[..2], [Ok(()), Ok(())]);
    }

    #[test]
    fn schedule_anyway_favours_emptier_domains() {
        let c = cluster()
            .with_pod("a", web("w1", json!(null)))
            .with_pod("a", web("w2", json!(null)))
            .with_pod("b", web("w3", json!(null)));
        let by_host = web("p", json!([constraint(HOSTNAME, 1, "ScheduleAnyway")]));
        // Hosts hold 2, 1, 0, 0 of 4 domains; weight ln(6).
        let w = 6f64.ln();
        let raw = [(2.0 * w).round() as i64, w.round() as i64, 0, 0];
        let max = raw[0];
        let want: Vec<i64> = raw
            .iter()
            // The lowest is 0: (max + min - s) / max.
            .map(|s| MAX_NODE_SCORE * (max - s) / max)
            .collect();
        assert_eq!(c.score(&by_host, score).unwrap(), want);
        // By zone, d has no zone: ignored, scored 0.
        let by_zone = web("p", json!([constraint(ZONE, 1, "ScheduleAnyway")]));
        assert_eq!(c.score(&by_zone, score).unwrap(), vec![0, 0, 100, 0]);
        assert!(c.score(&web("p", json!(null)), score).is_none());
    }

    /// A pod of app `web` naming no constraints, owned by `owner` when given.
    fn replica(name: &str, namespace: &str, owner: Option<&str>) -> PodInfo {
        let refs = owner.map(|o| {
            json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o,
                    "uid": "rs", "controller": true}])
        });
        pod(json!({"metadata": {"name": name, "namespace": namespace,
                   "labels": {"app": "web"}, "ownerReferences": refs}}))
    }

    /// a holds two web pods, b one.
    fn busy() -> Cluster {
        cluster()
            .with_pod("a", web("w1", json!(null)))
            .with_pod("a", web("w2", json!(null)))
            .with_pod("b", web("w3", json!(null)))
    }

    #[test]
    fn defaults_select_by_services_and_the_owning_replica_set() {
        let app_web = json!({"app": "web"});
        let by_rs = json!({"matchLabels": {"app": "web"}});
        // Hosts hold 2, 1, 0, 0 (weight ln 6, skew 3); zones z1 3, z2 0
        // and d's none (weight ln 5 for three domains, skew 5). d has no
        // zone: by host alone. Raw 14, 13, 6, 2.
        let spread = Some(vec![14, 21, 71, 100]);
        let cases = [
            (
                "a Service",
                busy().with_service("default", "s", app_web.clone()),
                None,
                spread.clone(),
            ),
            (
                "the owning ReplicaSet",
                busy().with_replica_set("rs", by_rs.clone()),
                Some("rs"),
                spread,
            ),
            ("nothing selects it", busy(), Some("rs"), None),
            (
                "another namespace's Service",
                busy().with_service("other", "s", app_web.clone()),
                None,
                None,
            ),
            (
                "a Service for other pods",
                busy().with_service("default", "s", json!({"app": "db"})),
                None,
                None,
            ),
            (
                "another ReplicaSet",
                busy().with_replica_set("rs", by_rs),
                Some("other"),
                None,
            ),
        ];
        for (what, c, owner, want) in cases {
            assert_eq!(
                c.score(&replica("p", "default", owner), score),
                want,
                "{what}"
            );
        }
        // A pod with constraints of its own gets no defaults.
        let c = busy().with_service("default", "s", app_web);
        let own = web("p", json!([constraint(ZONE, 1, "DoNotSchedule")]));
        assert!(c.score(&own, score).is_none());
    }

    #[test]
    fn defaults_still_spread_over_nodes_without_a_zone() {
        // The same constraints named by the pod need both keys: d, without
        // a zone, is left out (0). Defaults score it by host alone.
        let c = busy().with_service("default", "s", json!({"app": "web"}));
        let own = json!([
            constraint(HOSTNAME, 3, "ScheduleAnyway"),
            constraint(ZONE, 5, "ScheduleAnyway")
        ]);
        assert_eq!(
            c.score(&web("p", own), score).unwrap(),
            vec![46, 53, 100, 0]
        );
        assert_eq!(
            c.score(&replica("p", "default", None), score).unwrap(),
            vec![14, 21, 71, 100]
        );

        // No node has a zone: hosts alone, 2, 1, 0 web pods.
        let host =
            |name: &str| node_from(json!({"metadata": {"name": name, "labels": {HOSTNAME: name}}}));
        let c = Cluster::new(vec![host("a"), host("b"), host("c")])
            .with_pod("a", web("w1", json!(null)))
            .with_pod("a", web("w2", json!(null)))
            .with_pod("b", web("w3", json!(null)))
            .with_service("default", "s", json!({"app": "web"}));
        // Weight ln 5: raw round(2 w + 2) = 5, round(w + 2) = 4, 2.
        assert_eq!(
            c.score(&replica("p", "default", None), score).unwrap(),
            vec![40, 60, 100]
        );
    }

    #[test]
    fn defaults_prefer_nodes_with_fewer_matching_pods() {
        // Only web pods of its namespace count: db pods on b and a web pod
        // of another namespace on c do not.
        let db = |name: &str| pod(json!({"metadata": {"name": name, "labels": {"app": "db"}}}));
        let c = cluster()
            .with_pod("a", web("w1", json!(null)))
            .with_pod("b", db("d1"))
            .with_pod("b", db("d2"))
            .with_pod("c", replica("w2", "other", None))
            .with_service("default", "s", json!({"app": "web"}));
        // Raw: a 9 (its host and zone), b 8 (its zone), c 6, d 2.
        assert_eq!(
            c.score(&replica("p", "default", None), score).unwrap(),
            vec![22, 33, 55, 100]
        );
    }
}
