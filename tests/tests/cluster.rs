//! The cluster harness: nodes come up on the fabric and register, the demo
//! image serves from pods on every node, and nothing is left behind, neither
//! by dropping a cluster nor by tearing down the recorded state of one whose
//! process is gone.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use skiff_e2e::cluster::{Cluster, Options, Routing, State};
use skiff_e2e::images::{DEMO, DEMO_PORT};

/// Nothing that `state` lists exists any more.
fn assert_gone(state: &State) {
    let netns = String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    for ns in &state.netns {
        assert!(
            !netns
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns)),
            "netns {ns} is left"
        );
    }
    assert!(
        !Path::new("/sys/class/net").join(&state.bridge).exists(),
        "bridge {} is left",
        state.bridge
    );
    for h in skiff_e2e::cgroup::hierarchies() {
        let left = h.join(&state.cgroup);
        assert!(!left.exists(), "cgroup {} is left", left.display());
    }
    assert!(
        !state.pin_root.exists(),
        "{} is left",
        state.pin_root.display()
    );
    for dir in &state.dirs {
        assert!(!dir.exists(), "{} is left", dir.display());
        let procs = skiff_e2e::procs::matching(|cmd| {
            cmd.iter().any(|a| a.contains(&*dir.to_string_lossy()))
        });
        assert!(
            procs.is_empty(),
            "processes of {} are left: {procs:?}",
            dir.display()
        );
    }
}

#[test]
fn nodes_register_on_the_fabric_and_leave_nothing_behind() {
    let cluster = Cluster::start(2, Options::default());
    let kubeconfig = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
    let server = format!("https://{}:", cluster.fabric.gateway());
    assert!(
        kubeconfig.contains(&server),
        "the kubeconfig does not name {server}:\n{kubeconfig}"
    );
    let nodes = cluster.get_json(&["nodes"]).expect("kubectl get nodes");
    for node in &cluster.nodes {
        let object = nodes["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["metadata"]["name"] == node.name.as_str())
            .unwrap_or_else(|| cluster.fail(&format!("{} is not registered", node.name)));
        let internal = object["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["type"] == "InternalIP")
            .and_then(|a| a["address"].as_str());
        assert_eq!(internal, Some(node.ip.as_str()), "{object:#}");
    }
    // The nodes reach each other over the fabric.
    let ping = cluster.node(0).exec_in_netns(&[
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        &cluster.node(1).ip,
    ]);
    if !ping.status.success() {
        cluster.fail(&format!(
            "node-0 cannot ping node-1: {}{}",
            String::from_utf8_lossy(&ping.stdout),
            String::from_utf8_lossy(&ping.stderr)
        ));
    }
    let state = cluster.state.clone();
    drop(cluster);
    assert_gone(&state);
}

#[test]
fn demo_pods_answer_on_every_node() {
    // The requests start in node-0's own stack, which reaches node-1's pods
    // through the routes the agent installs in kernel mode; the eBPF modes
    // forward pods' traffic, which the routing tests cover.
    let cluster = Cluster::start(
        2,
        Options {
            routing: Routing::Kernel,
            ..Options::default()
        },
    );
    // One pod per node, placed by name: this is about the nodes, not the
    // scheduler.
    for node in &cluster.nodes {
        cluster.apply(&format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: demo-{node}, namespace: default, labels: {{app: demo}}}}
spec:
  nodeName: {node}
  containers:
  - name: demo
    image: {DEMO}
    ports: [{{containerPort: {DEMO_PORT}}}]
"#,
            node = node.name
        ));
    }
    let pods = cluster.wait_pods_ready("default", "app=demo", 2, Duration::from_secs(120));
    // From node-0, both pods, the local one and node-1's, answer with their
    // names (the pod's hostname).
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let ip: std::net::IpAddr = pod["status"]["podIP"]
            .as_str()
            .and_then(|ip| ip.parse().ok())
            .unwrap_or_else(|| cluster.fail(&format!("{name} has no pod IP: {pod:#}")));
        let answer = cluster
            .node(0)
            .http_get(SocketAddr::new(ip, DEMO_PORT), "/");
        match answer {
            Some((200, body)) if body.trim() == name => {}
            other => cluster.fail(&format!(
                "{name} at {ip} (on {}) answered node-0 with {other:?}",
                pod["spec"]["nodeName"]
            )),
        }
    }
}

#[test]
fn a_recorded_state_tears_down_a_cluster_whose_process_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.json");
    let cluster = Cluster::start(
        1,
        Options {
            state_file: Some(file.clone()),
            ..Options::default()
        },
    );
    // As if the process had been killed: no drop, everything left running.
    std::mem::forget(cluster);
    let state = State::load(&file).expect("the state file");
    assert!(
        state.registry_path().exists(),
        "the cluster is not in the registry"
    );
    state.teardown();
    assert_gone(&state);
    let _ = std::fs::remove_file(state.registry_path());
}
