//! A Deployment and a Service applied with kubectl: pods spread over three
//! nodes, Running and Ready, listed in EndpointSlices, reached through the
//! ClusterIP from a pod on node-0 (its own node's backend and the others');
//! a deleted replica is replaced and gets no new connection; scaling to 5 and
//! back to 1; `kubectl logs` and `exec`; and deleting everything leaves no
//! pod, sandbox, veth, address or map entry behind.

use std::collections::BTreeSet;
use std::time::Duration;

use skiff_e2e::cluster::{Cluster, Options};

use super::*;

#[test]
fn a_deployment_answers_through_its_cluster_ip_and_follows_deletes_and_scaling() {
    let _one = serial();
    let c = Cluster::start(3, Options::default());
    c.apply(&demo_app("web", 3, ""));
    c.apply(&client_pod("client", &c.node(0).name));

    let pods = c.wait_pods_ready("default", "app=web", 3, READY);
    let nodes: BTreeSet<String> = pods.iter().map(node_of).collect();
    if nodes.len() != 3 {
        c.fail(&format!("3 replicas on 3 empty nodes landed on {nodes:?}"));
    }
    let names: BTreeSet<String> = pods.iter().map(name).collect();
    c.wait_pods_ready("default", "role=client", 1, READY);
    c.wait_until("3 ready endpoints of web", READY, |c| {
        (ready_endpoints(c, "web").len() == 3).then_some(())
    });
    assert_eq!(
        ready_endpoints(&c, "web"),
        names.iter().cloned().collect::<Vec<_>>()
    );

    // Through the ClusterIP, from node-0: every backend, local and remote.
    let url = format!("{}:80", cluster_ip(&c, "web"));
    let answers = fetch(&c, "client", &url, 40);
    let seen: BTreeSet<String> = answers.iter().cloned().collect();
    if seen != names {
        c.fail(&format!(
            "40 requests to {url} were answered by {answers:?}, expected all of {names:?}"
        ));
    }

    // kubectl logs and exec reach the container through the API server and
    // the pod's kubelet.
    let first = names.iter().next().unwrap().clone();
    let log = c.kubectl_ok(&["logs", &first]);
    assert!(
        log.contains(&format!("netprobe serving {first}")),
        "kubectl logs {first}: {log}"
    );
    assert_eq!(exec(&c, &first, "hostname").trim(), first);
    let echoed = c.kubectl_ok(&["exec", &first, "--", "sh", "-c", "echo $((6*7)) && exit 0"]);
    assert_eq!(echoed.trim(), "42");
    let failed = c.kubectl(&["exec", &first, "--", "sh", "-c", "exit 3"]);
    assert_eq!(
        failed.status.code(),
        Some(3),
        "kubectl exits with the command's code"
    );
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("exit code 3"),
        "{failed:?}"
    );

    port_forward(&c, &first);

    deleted_replica_gets_no_new_connection(&c, &url, &names);
    scaling(&c, &url);
    everything_deleted_leaves_nothing(&c);
}

fn deleted_replica_gets_no_new_connection(c: &Cluster, url: &str, names: &BTreeSet<String>) {
    // A replica on another node than the client's.
    let victim = live_pods(c, "app=web")
        .into_iter()
        .find(|p| node_of(p) != c.node(0).name)
        .map(|p| name(&p))
        .unwrap_or_else(|| c.fail("no replica off node-0"));
    c.kubectl_ok(&["delete", "pod", &victim, "--wait=false"]);
    c.wait_until(&format!("{victim} out of the endpoints"), READY, |c| {
        (!ready_endpoints(c, "web").contains(&victim)).then_some(())
    });
    // The agent on node-0 follows the slices: once a round of requests
    // avoids the victim, none after it may reach it.
    c.wait_until(
        "node-0's agent to drop the deleted replica",
        Duration::from_secs(30),
        |c| (!fetch(c, "client", url, 10).contains(&victim)).then_some(()),
    );
    let replacement = c.wait_until("a replacement replica", READY, |c| {
        let ready: Vec<String> = live_pods(c, "app=web")
            .iter()
            .filter(|p| skiff_e2e::cluster::condition(p, "Ready"))
            .map(name)
            .collect();
        (ready.len() == 3 && !ready.contains(&victim)).then_some(ready)
    });
    assert!(
        replacement.iter().any(|n| !names.contains(n)),
        "{replacement:?}"
    );
    let after = fetch(c, "client", url, 30);
    if after.iter().any(|a| a == &victim || a == "ERR") {
        c.fail(&format!(
            "after {victim} was deleted, requests got {after:?}"
        ));
    }
    c.wait_until(&format!("{victim} to be gone"), READY, |c| {
        c.get_json(&["pod", &victim]).is_none().then_some(())
    });
}

fn scaling(c: &Cluster, url: &str) {
    c.kubectl_ok(&["scale", "deployment", "web", "--replicas=5"]);
    c.wait_until("5 ready endpoints", READY, |c| {
        (ready_endpoints(c, "web").len() == 5).then_some(())
    });
    let five: BTreeSet<String> = ready_endpoints(c, "web").into_iter().collect();
    c.wait_until("all 5 replicas to answer", Duration::from_secs(60), |c| {
        let seen: BTreeSet<String> = fetch(c, "client", url, 50).into_iter().collect();
        (seen == five).then_some(())
    });

    c.kubectl_ok(&["scale", "deployment", "web", "--replicas=1"]);
    let last = c.wait_until("1 replica left", READY, |c| {
        let live = live_pods(c, "app=web");
        let ready = ready_endpoints(c, "web");
        (live.len() == 1 && ready.len() == 1).then(|| ready[0].clone())
    });
    c.wait_until(
        "every request to reach the last replica",
        Duration::from_secs(30),
        |c| {
            fetch(c, "client", url, 10)
                .iter()
                .all(|a| a == &last)
                .then_some(())
        },
    );
}

fn everything_deleted_leaves_nothing(c: &Cluster) {
    c.kubectl_ok(&["delete", "deployment", "web"]);
    c.kubectl_ok(&["delete", "service", "web"]);
    c.kubectl_ok(&["delete", "pod", "client", "--wait=false"]);
    c.wait_until("no pods", READY, |c| {
        let list = c.get_json(&["pods", "-A"])?;
        list["items"].as_array()?.is_empty().then_some(())
    });
    for node in &c.nodes {
        c.wait_until(
            &format!("{} to have nothing left", node.name),
            Duration::from_secs(30),
            |_| leftovers(node).is_empty().then_some(()),
        );
    }
}

/// What a node still holds of pods: containers and sandboxes, host-side
/// veths, address allocations, endpoint map entries.
fn leftovers(node: &skiff_e2e::cluster::Node) -> Vec<String> {
    let mut left = Vec::new();
    let containers = node.containerd.ctr(&["containers", "ls", "-q"]);
    let ids = String::from_utf8_lossy(&containers.stdout)
        .trim()
        .to_owned();
    if !ids.is_empty() {
        left.push(format!("containers: {ids}"));
    }
    let links = node.exec_in_netns(&["ip", "-o", "link", "show"]);
    for l in String::from_utf8_lossy(&links.stdout).lines() {
        let name = l.split(':').nth(1).unwrap_or_default().trim();
        if name.starts_with("sk") && !name.starts_with("skiff") {
            left.push(format!("veth {name}"));
        }
    }
    let allocations = node.cni_state_dir.join("skiff");
    if let Ok(entries) = std::fs::read_dir(&allocations) {
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if file.parse::<std::net::IpAddr>().is_ok() {
                left.push(format!("address {file}"));
            }
        }
    }
    for h in skiff_e2e::cgroup::hierarchies() {
        if let Ok(entries) = std::fs::read_dir(h.join(&node.cgroup_root)) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("pod") {
                    left.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
    }
    let endpoints = node.dbg(&["endpoints", "-o", "json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&endpoints.stdout).unwrap_or_default();
    if parsed.as_array().is_some_and(|a| !a.is_empty()) {
        left.push(format!("endpoints {parsed}"));
    }
    left
}

/// `kubectl port-forward` to a pod: a local port answered by the pod.
fn port_forward(c: &Cluster, pod: &str) {
    let port = skiff_e2e::agent::free_port();
    let mut forward = skiff_e2e::cluster::kubectl_command(&c.kubeconfig())
        .args([
            "port-forward",
            &format!("pod/{pod}"),
            &format!("{port}:{}", skiff_e2e::images::DEMO_PORT),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let answer = c.wait_until(
        "kubectl port-forward to answer",
        Duration::from_secs(20),
        |_| skiff_e2e::agent::http_get(port, "/"),
    );
    let _ = forward.kill();
    let _ = forward.wait();
    assert_eq!(
        answer,
        (200, format!("{pod}\n")),
        "through kubectl port-forward"
    );
}
