//! InterPodAffinity: required pod affinity (the node's topology domain
//! must hold a matching pod), required anti-affinity (it must hold none),
//! and the anti-affinity of pods already placed, which keeps out the pods
//! they select. Preferred terms, of the pod and of the placed pods, score
//! each domain by their weights.
//!
//! Matching pods are counted per (topology key, value) once per cycle, by
//! walking the pods only when some term needs it: placed pods are walked
//! through each node's lists of those with (anti-)affinity, as upstream's
//! `PodsWithAffinity` and `PodsWithRequiredAntiAffinity`.

use std::collections::HashMap;

use crate::scheduler::cache::Snapshot;
use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::{AffinityTerm, PodInfo};
use crate::scheduler::framework::{Filter, MAX_NODE_SCORE, Score, Verdict};
use crate::scheduler::plugins::Plugin;
use crate::scheduler::selector::Labels;

const EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
const AFFINITY: &str = "node(s) didn't match pod affinity rules";
const ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// The weight a placed pod's required affinity lends to the score of the
/// pods it selects (upstream's hardPodAffinityWeight).
const HARD_AFFINITY_WEIGHT: i64 = 1;

static NO_LABELS: Labels = Labels::new();

/// Matching pods per topology domain (key, value).
type Counts<'a> = HashMap<(&'a str, &'a str), i64>;

fn count<'a>(counts: &mut Counts<'a>, node: &'a NodeInfo, key: &'a str, by: i64) {
    if let Some(value) = node.labels().get(key) {
        *counts.entry((key, value.as_str())).or_default() += by;
    }
}

fn get(counts: &Counts<'_>, key: &str, value: &str) -> i64 {
    counts.get(&(key, value)).copied().unwrap_or(0)
}

struct AffinityFilter<'a> {
    pod: &'a PodInfo,
    own_namespace: Option<&'a Labels>,
    /// Placed pods whose required anti-affinity selects this pod.
    existing: Counts<'a>,
    /// Placed pods matching all of this pod's required affinity terms.
    affinity: Counts<'a>,
    /// Placed pods matching one of its required anti-affinity terms.
    anti: Counts<'a>,
}

pub fn filter<'a>(pod: &'a PodInfo, snap: &Snapshot<'a>) -> Option<Box<dyn Filter + 'a>> {
    let own_namespace = snap.namespace_labels(&pod.namespace);
    let mut existing = Counts::new();
    for &node in &snap.nodes {
        for placed in &node.with_required_anti_affinity {
            for t in &placed.required_anti_affinity {
                if t.matches(pod, Some(own_namespace.unwrap_or(&NO_LABELS))) {
                    count(&mut existing, node, &t.topology_key, 1);
                }
            }
        }
    }
    if existing.is_empty()
        && pod.required_affinity.is_empty()
        && pod.required_anti_affinity.is_empty()
    {
        return None;
    }
    let mut affinity = Counts::new();
    let mut anti = Counts::new();
    if !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty() {
        for &node in &snap.nodes {
            for placed in &node.pods {
                let ns = snap.namespace_labels(&placed.namespace);
                if matches_all(&pod.required_affinity, placed, ns) {
                    for t in &pod.required_affinity {
                        count(&mut affinity, node, &t.topology_key, 1);
                    }
                }
                for t in &pod.required_anti_affinity {
                    if t.matches(placed, ns) {
                        count(&mut anti, node, &t.topology_key, 1);
                    }
                }
            }
        }
    }
    Some(Box::new(AffinityFilter {
        pod,
        own_namespace,
        existing,
        affinity,
        anti,
    }))
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, ns: Option<&Labels>) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, ns))
}

impl AffinityFilter<'_> {
    fn affinity_holds(&self, node: &NodeInfo) -> bool {
        let mut found = true;
        for t in &self.pod.required_affinity {
            match node.labels().get(&t.topology_key) {
                None => return false,
                Some(v) => found &= get(&self.affinity, &t.topology_key, v) > 0,
            }
        }
        // The first of a group of pods that select one another may go
        // anywhere its topology keys exist.
        found
            || (self.affinity.is_empty()
                && matches_all(&self.pod.required_affinity, self.pod, self.own_namespace))
    }
}

impl Filter for AffinityFilter<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::InterPodAffinity
    }

    fn filter(&self, node: &NodeInfo) -> Verdict {
        if !self.affinity_holds(node) {
            return Err(vec![AFFINITY.into()]);
        }
        let labels = node.labels();
        let anti = self.pod.required_anti_affinity.iter().any(|t| {
            labels
                .get(&t.topology_key)
                .is_some_and(|v| get(&self.anti, &t.topology_key, v) > 0)
        });
        if anti {
            return Err(vec![ANTI_AFFINITY.into()]);
        }
        if labels.iter().any(|(k, v)| get(&self.existing, k, v) > 0) {
            return Err(vec![EXISTING_ANTI_AFFINITY.into()]);
        }
        Ok(())
    }
}

struct AffinityScore<'a> {
    /// Summed weights per topology domain.
    domains: Counts<'a>,
}

pub fn score<'a>(pod: &'a PodInfo, snap: &Snapshot<'a>) -> Option<Box<dyn Score + 'a>> {
    let preferred = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
    let own_namespace = Some(snap.namespace_labels(&pod.namespace).unwrap_or(&NO_LABELS));
    let mut domains = Counts::new();
    for &node in &snap.nodes {
        // Without preferred terms of its own, only placed pods with
        // affinity have something to say.
        let placed = if preferred {
            &node.pods
        } else {
            &node.with_affinity
        };
        for placed in placed {
            if preferred {
                let ns = snap.namespace_labels(&placed.namespace);
                for (terms, sign) in [
                    (&pod.preferred_affinity, 1),
                    (&pod.preferred_anti_affinity, -1),
                ] {
                    for w in terms.iter().filter(|w| w.term.matches(placed, ns)) {
                        count(&mut domains, node, &w.term.topology_key, sign * w.weight);
                    }
                }
            }
            for t in placed
                .required_affinity
                .iter()
                .filter(|t| t.matches(pod, own_namespace))
            {
                count(&mut domains, node, &t.topology_key, HARD_AFFINITY_WEIGHT);
            }
            for (terms, sign) in [
                (&placed.preferred_affinity, 1),
                (&placed.preferred_anti_affinity, -1),
            ] {
                for w in terms.iter().filter(|w| w.term.matches(pod, own_namespace)) {
                    count(&mut domains, node, &w.term.topology_key, sign * w.weight);
                }
            }
        }
    }
    (!domains.is_empty()).then(|| Box::new(AffinityScore { domains }) as Box<dyn Score>)
}

impl Score for AffinityScore<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::InterPodAffinity
    }

    fn score(&self, node: &NodeInfo) -> i64 {
        node.labels()
            .iter()
            .map(|(k, v)| get(&self.domains, k, v))
            .sum()
    }

    /// Scaled between the lowest and the highest score.
    fn normalize(&self, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        let (min, max) = (
            scores.iter().copied().min().unwrap_or(0),
            scores.iter().copied().max().unwrap_or(0),
        );
        for s in scores {
            *s = if max > min {
                (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / (max - min) as f64)) as i64
            } else {
                0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node_from, pod, rejected};
    use serde_json::json;

    const HOST: &str = "kubernetes.io/hostname";
    const ZONE: &str = "topology.kubernetes.io/zone";

    fn cluster() -> Cluster {
        let n = |name: &str, zone: &str| {
            node_from(json!({"metadata": {"name": name, "labels": {HOST: name, ZONE: zone}}}))
        };
        Cluster::new(vec![n("a", "z1"), n("b", "z1"), n("c", "z2")])
    }

    fn labelled(name: &str, app: &str, affinity: serde_json::Value) -> PodInfo {
        pod(json!({"metadata": {"name": name, "labels": {"app": app}},
                   "spec": {"containers": [{"name": "c"}], "affinity": affinity}}))
    }

    fn term(app: &str, key: &str) -> serde_json::Value {
        json!({"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key})
    }

    fn required(kind: &str, terms: serde_json::Value) -> serde_json::Value {
        json!({kind: {"requiredDuringSchedulingIgnoredDuringExecution": terms}})
    }

    #[test]
    fn anti_affinity_spreads_three_replicas_over_three_nodes() {
        let replica = |i: usize| {
            labelled(
                &format!("web-{i}"),
                "web",
                required("podAntiAffinity", json!([term("web", HOST)])),
            )
        };
        let mut c = cluster();
        for i in 0..3 {
            let verdicts = c.filter(&replica(i), filter);
            let free: Vec<usize> = (0..3).filter(|n| verdicts[*n].is_ok()).collect();
            assert_eq!(free.len(), 3 - i, "replica {i}: {verdicts:?}");
            let name = ["a", "b", "c"][free[0]];
            c = c.with_pod(name, replica(i));
        }
        let fourth = c.filter(&replica(3), filter);
        assert_eq!(fourth, vec![rejected(ANTI_AFFINITY); 3]);
    }

    #[test]
    fn required_terms_by_topology() {
        let c = cluster()
            .with_pod("a", labelled("db", "db", json!(null)))
            .with_pod(
                "c",
                labelled(
                    "guard",
                    "guard",
                    required("podAntiAffinity", json!([term("web", ZONE)])),
                ),
            );
        let no = |r: &str| rejected(r);
        let cases = [
            // No terms, and no placed pod selects it: the plugin stays out.
            (
                labelled("p", "other", json!(null)),
                vec![Ok(()), Ok(()), Ok(())],
            ),
            // Near the db: its zone.
            (
                labelled("p", "x", required("podAffinity", json!([term("db", ZONE)]))),
                vec![Ok(()), Ok(()), no(AFFINITY)],
            ),
            (
                labelled("p", "x", required("podAffinity", json!([term("db", HOST)]))),
                vec![Ok(()), no(AFFINITY), no(AFFINITY)],
            ),
            // Away from the db's zone.
            (
                labelled(
                    "p",
                    "x",
                    required("podAntiAffinity", json!([term("db", ZONE)])),
                ),
                vec![no(ANTI_AFFINITY), no(ANTI_AFFINITY), Ok(())],
            ),
            // The guard's anti-affinity keeps web pods out of zone z2.
            (
                labelled("p", "web", json!(null)),
                vec![Ok(()), Ok(()), no(EXISTING_ANTI_AFFINITY)],
            ),
            // Affinity to pods that do not exist: only the first of a group
            // selecting itself gets in.
            (
                labelled(
                    "p",
                    "x",
                    required("podAffinity", json!([term("cache", HOST)])),
                ),
                vec![no(AFFINITY), no(AFFINITY), no(AFFINITY)],
            ),
            (
                labelled(
                    "p",
                    "cache",
                    required("podAffinity", json!([term("cache", HOST)])),
                ),
                vec![Ok(()), Ok(()), Ok(())],
            ),
        ];
        for (p, want) in cases {
            assert_eq!(c.filter(&p, filter), want, "{}", p.name);
        }
    }

    #[test]
    fn terms_select_by_namespace() {
        let other =
            pod(json!({"metadata": {"name": "db", "namespace": "prod", "labels": {"app": "db"}}}));
        let c = cluster().with_pod("a", other);
        let with_ns = |ns: serde_json::Value| {
            let mut t = term("db", HOST);
            t["namespaces"] = ns;
            labelled("p", "x", required("podAntiAffinity", json!([t])))
        };
        assert_eq!(
            c.filter(&with_ns(json!(null)), filter),
            vec![Ok(()); 3],
            "own namespace only"
        );
        assert_eq!(
            c.filter(&with_ns(json!(["prod"])), filter),
            vec![rejected(ANTI_AFFINITY), Ok(()), Ok(())]
        );
        let mut t = term("db", HOST);
        t["namespaceSelector"] = json!({});
        let any_ns = labelled("p", "x", required("podAntiAffinity", json!([t])));
        assert_eq!(
            c.filter(&any_ns, filter),
            vec![rejected(ANTI_AFFINITY), Ok(()), Ok(())]
        );
    }

    #[test]
    fn preferred_terms_score_domains() {
        let c = cluster()
            .with_pod("a", labelled("db", "db", json!(null)))
            .with_pod("c", labelled("noisy", "noisy", json!(null)));
        let weighted = |kind: &str, w: i32, app: &str, key: &str| {
            json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": w, "podAffinityTerm": term(app, key)}]}})
        };
        let cases = [
            (labelled("p", "x", json!(null)), None),
            (
                labelled("p", "x", weighted("podAffinity", 10, "db", ZONE)),
                Some(vec![100, 100, 0]),
            ),
            (
                labelled("p", "x", weighted("podAffinity", 10, "db", HOST)),
                Some(vec![100, 0, 0]),
            ),
            (
                labelled("p", "x", weighted("podAntiAffinity", 10, "noisy", HOST)),
                Some(vec![100, 100, 0]),
            ),
        ];
        for (p, want) in cases {
            assert_eq!(c.score(&p, |p, s, _| score(p, s)), want);
        }
        // A placed pod's required affinity draws the pods it selects.
        let c = cluster().with_pod(
            "b",
            labelled(
                "sticky",
                "sticky",
                required("podAffinity", json!([term("web", HOST)])),
            ),
        );
        assert_eq!(
            c.score(&labelled("p", "web", json!(null)), |p, s, _| score(p, s)),
            Some(vec![0, 100, 0])
        );
    }
}
