//! One scheduling cycle, as upstream's `schedulePod`: filter the nodes
//! (stopping once enough fit), score the ones that fit, pick the best
//! (ties at random). A pod that fits nowhere gets a [`FitError`] whose
//! message counts the nodes per reason, as upstream words it.

use std::collections::BTreeMap;
use std::fmt;

use tracing::trace;

use crate::scheduler::cache::Snapshot;
use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::plugins::{self, Plugin, Plugins};

pub const MAX_NODE_SCORE: i64 = 100;

/// Why a node does not fit, as upstream words it; several reasons when one
/// plugin finds several (`Insufficient cpu`, `Insufficient memory`).
pub type Verdict = Result<(), Vec<String>>;

/// A filter prepared for one pod (upstream's PreFilter happened when it
/// was made): answers for one node at a time.
pub trait Filter {
    fn plugin(&self) -> Plugin;
    fn filter(&self, node: &NodeInfo) -> Verdict;
}

/// A score prepared for one pod and the nodes that fit (PreScore).
pub trait Score {
    fn plugin(&self) -> Plugin;
    fn score(&self, node: &NodeInfo) -> i64;
    /// Brings the raw scores of `nodes` to 0..=[`MAX_NODE_SCORE`].
    fn normalize(&self, _nodes: &[&NodeInfo], _scores: &mut [i64]) {}
}

/// Why a pod fits no node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FitError {
    NoNodes,
    /// How many nodes there are, how many fail for each reason, and which
    /// plugins rejected some (events that can help them move the pod back).
    Unfit {
        nodes: usize,
        reasons: BTreeMap<String, usize>,
        plugins: Plugins,
    },
}

impl FitError {
    pub fn plugins(&self) -> Plugins {
        match self {
            FitError::NoNodes => Plugins::default(),
            FitError::Unfit { plugins, .. } => *plugins,
        }
    }
}

impl fmt::Display for FitError {
    /// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had
    /// untolerated taint {node-role.kubernetes.io/control-plane: }.`: the
    /// counted reasons sorted as strings, as upstream sorts them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::NoNodes => f.write_str("no nodes available to schedule pods"),
            FitError::Unfit { nodes, reasons, .. } => {
                let mut counted: Vec<String> =
                    reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
                counted.sort();
                write!(f, "0/{nodes} nodes are available: {}.", counted.join(", "))
            }
        }
    }
}

/// A small random source for breaking ties (xorshift, seeded per process).
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Rng::seeded(seed)
    }

    pub fn seeded(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// Uniform enough in 0..n (n > 0) for picking among equals.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

impl Default for Rng {
    fn default() -> Self {
        Rng::new()
    }
}

/// How many fitting nodes are enough before scoring (upstream's
/// `numFeasibleNodesToFind` with the adaptive percentage): all of them up
/// to 100 nodes, then a share shrinking from 50% to 5%, never fewer than 100.
pub fn nodes_to_find(all: usize) -> usize {
    const MIN: usize = 100;
    if all < MIN {
        return all;
    }
    let percentage = 50usize.saturating_sub(all / 125).max(5);
    (all * percentage / 100).max(MIN)
}

/// Where the next cycle starts looking, so filtering stops early without
/// always favouring the first nodes.
#[derive(Default)]
pub struct Cursor(usize);

/// Picks a node for `pod`, or says why none fits.
pub fn schedule(
    pod: &PodInfo,
    snap: &Snapshot<'_>,
    cursor: &mut Cursor,
    rng: &mut Rng,
) -> Result<String, FitError> {
    let all = snap.nodes.len();
    if all == 0 {
        return Err(FitError::NoNodes);
    }
    let filters = plugins::filters(pod, snap);
    let want = nodes_to_find(all);
    let mut feasible: Vec<&NodeInfo> = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut rejected_by = Plugins::default();
    let mut processed = 0;
    for i in 0..all {
        let node = snap.nodes[(cursor.0 + i) % all];
        processed += 1;
        // The first plugin that rejects a node speaks for it.
        match filters
            .iter()
            .find_map(|f| f.filter(node).err().map(|r| (f.plugin(), r)))
        {
            None => feasible.push(node),
            Some((plugin, why)) => {
                rejected_by.insert(plugin);
                for r in why {
                    *reasons.entry(r).or_default() += 1;
                }
            }
        }
        if feasible.len() == want {
            break;
        }
    }
    cursor.0 = (cursor.0 + processed) % all;
    match feasible.len() {
        0 => Err(FitError::Unfit {
            nodes: all,
            reasons,
            plugins: rejected_by,
        }),
        1 => Ok(feasible[0].name().to_owned()),
        _ => {
            let totals = total_scores(pod, snap, &feasible);
            Ok(feasible[select(&totals, rng)].name().to_owned())
        }
    }
}

/// Each node's weighted sum of normalized plugin scores.
pub fn total_scores(pod: &PodInfo, snap: &Snapshot<'_>, nodes: &[&NodeInfo]) -> Vec<i64> {
    let mut totals = vec![0; nodes.len()];
    for (weight, scorer) in plugins::scores(pod, snap, nodes) {
        let mut scores: Vec<i64> = nodes.iter().map(|n| scorer.score(n)).collect();
        scorer.normalize(nodes, &mut scores);
        trace!(pod = %pod.key, plugin = scorer.plugin().name(), weight, ?scores, "scores");
        for (t, s) in totals.iter_mut().zip(scores) {
            *t += weight * s;
        }
    }
    totals
}

/// The index of a highest total, uniformly among equals (reservoir
/// sampling, as upstream's `selectHost`).
pub fn select(totals: &[i64], rng: &mut Rng) -> usize {
    let mut best = 0;
    let mut ties = 0;
    for (i, t) in totals.iter().enumerate() {
        if *t > totals[best] {
            best = i;
            ties = 1;
        } else if *t == totals[best] {
            ties += 1;
            if rng.below(ties) == 0 {
                best = i;
            }
        }
    }
    best
}

/// Upstream's `DefaultNormalizeScore`: scaled so the highest is
/// [`MAX_NODE_SCORE`]; `reverse` turns the scale round (fewer is better).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.fill(MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores {
        let scaled = MAX_NODE_SCORE * *s / max;
        *s = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node_from, pod};
    use serde_json::json;

    fn cpu_node(name: &str, cpu: &str, taint: Option<&str>) -> serde_json::Value {
        let taints = taint.map(|k| json!([{"key": k, "effect": "NoSchedule"}]));
        json!({"metadata": {"name": name},
               "spec": {"taints": taints},
               "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}})
    }

    fn cpu_pod(cpu: &str) -> PodInfo {
        pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
    }

    #[test]
    fn the_unschedulable_message_counts_reasons_sorted_as_upstream() {
        let cp = "node-role.kubernetes.io/control-plane";
        let cases = [
            (
                vec![
                    cpu_node("a", "1", None),
                    cpu_node("b", "8", Some(cp)),
                    cpu_node("c", "8", Some(cp)),
                ],
                "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.",
            ),
            (
                vec![
                    cpu_node("a", "1", None),
                    cpu_node("b", "1", None),
                    cpu_node("c", "8", Some(cp)),
                ],
                "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.",
            ),
            (
                vec![
                    json!({"metadata": {"name": "a"}, "spec": {"unschedulable": true},
                            "status": {"allocatable": {"cpu": "8", "pods": "110"}}}),
                    json!({"metadata": {"name": "b"},
                            "status": {"allocatable": {"cpu": "1", "memory": "1Mi", "pods": "0"}}}),
                ],
                "0/2 nodes are available: 1 Insufficient cpu, 1 Too many pods, 1 node(s) were unschedulable.",
            ),
        ];
        for (nodes, want) in cases {
            let cluster = Cluster::new(nodes.into_iter().map(node_from).collect());
            let err = schedule(
                &cpu_pod("2"),
                &cluster.cache.snapshot(),
                &mut Cursor::default(),
                &mut Rng::seeded(1),
            )
            .unwrap_err();
            assert_eq!(err.to_string(), want);
        }
        assert_eq!(
            schedule(
                &cpu_pod("1"),
                &Cluster::new(vec![]).cache.snapshot(),
                &mut Cursor::default(),
                &mut Rng::seeded(1)
            )
            .unwrap_err()
            .to_string(),
            "no nodes available to schedule pods"
        );
    }

    #[test]
    fn the_best_scored_node_wins_and_ties_are_shared() {
        // The emptier node scores higher (least allocated, balanced).
        let cluster = Cluster::new(vec![
            node_from(cpu_node("a", "4", None)),
            node_from(cpu_node("b", "4", None)),
        ])
        .with_pod("a", cpu_pod("3"));
        let snap = cluster.cache.snapshot();
        for seed in 1..20 {
            let got = schedule(
                &cpu_pod("1"),
                &snap,
                &mut Cursor::default(),
                &mut Rng::seeded(seed),
            );
            assert_eq!(got.unwrap(), "b");
        }
        let mut rng = Rng::seeded(7);
        let mut seen = [0; 3];
        for _ in 0..300 {
            seen[select(&[5, 9, 9, 1][..], &mut rng).min(2)] += 1;
        }
        assert_eq!(seen[0], 0);
        assert!(seen[1] > 100 && seen[2] > 100, "{seen:?}");
    }

    #[test]
    fn large_clusters_score_a_share_of_their_nodes() {
        assert_eq!(nodes_to_find(50), 50);
        assert_eq!(nodes_to_find(100), 100);
        assert_eq!(nodes_to_find(1000), 420);
        assert_eq!(nodes_to_find(5000), 500);
        assert_eq!(nodes_to_find(10_000), 500);
        assert_eq!(nodes_to_find(150), 100);
    }

    #[test]
    fn default_normalize_scales_to_the_highest() {
        let mut s = [0, 2, 4];
        default_normalize(&mut s, false);
        assert_eq!(s, [0, 50, 100]);
        let mut s = [0, 2, 4];
        default_normalize(&mut s, true);
        assert_eq!(s, [100, 50, 0]);
        let mut s = [0, 0];
        default_normalize(&mut s, true);
        assert_eq!(s, [100, 100]);
    }
}
