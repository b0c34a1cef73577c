//! ImageLocality: favours nodes that already have the pod's images (from
//! `status.images`), weighted by size and by how widely each image has
//! spread, so one node holding a big image does not draw every pod.

use crate::scheduler::cache::Snapshot;
use crate::scheduler::cache::node_info::NodeInfo;
use crate::scheduler::cache::pod_info::PodInfo;
use crate::scheduler::framework::{MAX_NODE_SCORE, Score};
use crate::scheduler::plugins::Plugin;

const MB: i64 = 1024 * 1024;
/// Below this, images count as absent (upstream's thresholds).
const MIN_THRESHOLD: i64 = 23 * MB;
/// Above this per container, more image makes no difference.
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

struct ImageLocality<'a> {
    pod: &'a PodInfo,
    /// For each of the pod's images, the share of nodes having it.
    spread: Vec<f64>,
}

pub fn score<'a>(pod: &'a PodInfo, snap: &Snapshot<'a>) -> Option<Box<dyn Score + 'a>> {
    let all = snap.nodes.len().max(1) as f64;
    let spread = pod
        .images
        .iter()
        .map(|i| snap.nodes_with_image(i) as f64 / all)
        .collect();
    Some(Box::new(ImageLocality { pod, spread }))
}

impl Score for ImageLocality<'_> {
    fn plugin(&self) -> Plugin {
        Plugin::ImageLocality
    }

    fn score(&self, node: &NodeInfo) -> i64 {
        let sum: i64 = self
            .pod
            .images
            .iter()
            .zip(&self.spread)
            .filter_map(|(image, spread)| {
                Some((*node.node.images.get(image)? as f64 * spread) as i64)
            })
            .sum();
        let max = MAX_CONTAINER_THRESHOLD * self.pod.container_count().max(1) as i64;
        let sum = sum.clamp(MIN_THRESHOLD, max);
        MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{Cluster, node_from, pod};
    use serde_json::json;

    #[test]
    fn nodes_with_the_images_score_by_size_and_spread() {
        let with_images = |name: &str, images: serde_json::Value| {
            node_from(json!({"metadata": {"name": name}, "status": {"images": images}}))
        };
        let big = json!({"names": ["registry.example/big:1"], "sizeBytes": 600 * MB});
        let small = json!({"names": ["small:1"], "sizeBytes": 200 * MB});
        let cluster = Cluster::new(vec![
            with_images("both", json!([big.clone(), small.clone()])),
            with_images("big", json!([big])),
            with_images("small", json!([small])),
            with_images("none", json!([])),
        ]);
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a", "image": "registry.example/big:1"}, {"name": "b", "image": "small:1"}]}}));
        // big: 600 MB on 2 of 4 nodes counts 300 MB; small: 200 MB on 2 of 4, 100 MB.
        let max = 2 * MAX_CONTAINER_THRESHOLD;
        let scaled = |sum: i64| {
            MAX_NODE_SCORE * (sum.max(MIN_THRESHOLD) - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
        };
        let want = vec![scaled(400 * MB), scaled(300 * MB), scaled(100 * MB), 0];
        assert_eq!(cluster.score(&p, |p, s, _| score(p, s)).unwrap(), want);
        assert!(want[0] > want[1] && want[1] > want[2] && want[2] > 0);
    }
}
