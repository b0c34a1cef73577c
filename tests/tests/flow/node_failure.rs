//! A node whose kubelet dies goes NotReady (its Lease stops), and its pods
//! are replaced on the other nodes once the toleration runs out.

use std::collections::BTreeSet;
use std::time::Duration;

use skiff_e2e::cluster::{Cluster, Options};

use super::*;

#[test]
fn a_dead_kubelets_pods_are_rescheduled_after_the_toleration() {
    let _one = serial();
    let mut c = Cluster::start(
        3,
        Options {
            control_args: [
                "--node-monitor-grace-period=8",
                "--default-not-ready-toleration-seconds=4",
                "--default-unreachable-toleration-seconds=4",
            ]
            .map(String::from)
            .to_vec(),
            kubelet_args: vec!["--lease-renew-interval=2".into()],
            ..Options::default()
        },
    );
    c.apply(&demo_app("web", 3, ""));
    let pods = c.wait_pods_ready("default", "app=web", 3, READY);
    // A node holding a replica, other than node-0.
    let doomed_index = (1..c.nodes.len())
        .find(|i| pods.iter().any(|p| node_of(p) == c.node(*i).name))
        .unwrap_or_else(|| c.fail("every replica is on node-0"));
    let doomed = c.node(doomed_index).name.clone();
    let on_doomed: BTreeSet<String> = pods
        .iter()
        .filter(|p| node_of(p) == doomed)
        .map(name)
        .collect();

    c.nodes[doomed_index].stop_kubelet();
    c.wait_until(
        &format!("{doomed} NotReady"),
        Duration::from_secs(60),
        |c| {
            let node = c.get_json(&["node", &doomed])?;
            (!skiff_e2e::cluster::condition(&node, "Ready")).then_some(())
        },
    );
    let replaced = c.wait_until(
        "3 ready replicas off the dead node",
        Duration::from_secs(90),
        |c| {
            let ready: Vec<serde_json::Value> = live_pods(c, "app=web")
                .into_iter()
                .filter(|p| skiff_e2e::cluster::condition(p, "Ready") && node_of(p) != doomed)
                .collect();
            (ready.len() == 3).then_some(ready)
        },
    );
    for pod in &replaced {
        assert!(!on_doomed.contains(&name(pod)));
    }
    // The dead node's pods are out of the Service.
    let endpoints = ready_endpoints(&c, "web");
    assert!(
        endpoints.iter().all(|e| !on_doomed.contains(e)),
        "{endpoints:?}"
    );
}
