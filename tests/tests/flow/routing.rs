//! Pod to pod across nodes by pod IP, in both eBPF routing modes: direct
//! (nodes share the fabric) and VXLAN.

use skiff_e2e::cluster::{Cluster, Options, Routing};
use skiff_e2e::images::DEMO_PORT;

use super::*;

fn across_nodes(routing: Routing) {
    let _one = serial();
    let c = Cluster::start(
        2,
        Options {
            routing,
            ..Options::default()
        },
    );
    for node in &c.nodes {
        c.apply(&client_pod(&format!("pod-{}", node.name), &node.name));
    }
    let pods = c.wait_pods_ready("default", "role=client", 2, READY);
    let (a, b) = (name(&pods[0]), name(&pods[1]));
    assert_ne!(node_of(&pods[0]), node_of(&pods[1]));
    let ip = |p: &serde_json::Value| p["status"]["podIP"].as_str().unwrap_or_default().to_owned();
    let counter = match routing {
        Routing::Vxlan => "vxlan",
        _ => "direct",
    };
    let sent = |i: usize| {
        proxy_user::maps::NetMaps::open_pinned(&c.node(i).pin_dir)
            .and_then(|m| m.stats())
            .map(|s| s[counter])
            .unwrap_or_else(|e| c.fail(&format!("reading node-{i}'s counters: {e:#}")))
    };
    let before = (sent(0), sent(1));
    // Each pod serves its name; each asks the other by its IP.
    for (from, to, to_ip) in [(&a, &b, ip(&pods[1])), (&b, &a, ip(&pods[0]))] {
        let answers = fetch(&c, from, &format!("{to_ip}:{DEMO_PORT}"), 5);
        if answers.iter().any(|x| x != to) {
            c.fail(&format!(
                "{from} asked {to} at {to_ip} ({routing:?}) and got {answers:?}"
            ));
        }
    }
    // The packets left each node through the programs, not the kernel's
    // forwarding: each agent's counter of this mode moved.
    let after = (sent(0), sent(1));
    if after.0 <= before.0 || after.1 <= before.1 {
        c.fail(&format!(
            "the {counter} counters did not move: before {before:?}, after {after:?}"
        ));
    }
    let routes = c.node(0).dbg(&["routes"]);
    let text = String::from_utf8_lossy(&routes.stdout);
    assert!(
        text.contains(&c.node(1).ip),
        "node-0's routes do not name node-1:\n{text}"
    );
}

#[test]
fn pods_reach_each_other_across_nodes_with_direct_routing() {
    across_nodes(Routing::Direct);
}

#[test]
fn pods_reach_each_other_across_nodes_over_vxlan() {
    across_nodes(Routing::Vxlan);
}
