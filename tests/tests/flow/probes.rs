//! Probes end to end: a failing readiness probe takes its pod out of the
//! Service (and back when it passes); a failing liveness probe restarts the
//! container; a readiness gate holds a pod unready until its condition is
//! set.

use std::time::Duration;

use skiff_e2e::cluster::{Cluster, Options};

use super::*;

const PROBES: &str = r#"        readinessProbe:
          exec: {command: ["sh", "-c", "[ ! -e /tmp/unready ]"]}
          periodSeconds: 1
          failureThreshold: 1
        livenessProbe:
          exec: {command: ["sh", "-c", "[ ! -e /tmp/dead ]"]}
          periodSeconds: 1
          failureThreshold: 2
"#;

fn restarts(c: &Cluster, pod: &str) -> i64 {
    c.get_json(&["pod", pod])
        .and_then(|p| p["status"]["containerStatuses"][0]["restartCount"].as_i64())
        .unwrap_or(-1)
}

#[test]
fn readiness_takes_a_pod_out_of_its_service_and_liveness_restarts_it() {
    let _one = serial();
    let c = Cluster::start(2, Options::default());
    c.apply(&demo_app("probed", 2, PROBES));
    c.apply(&client_pod("client", &c.node(0).name));
    let pods = c.wait_pods_ready("default", "app=probed", 2, READY);
    c.wait_pods_ready("default", "role=client", 1, READY);
    c.wait_until("2 ready endpoints", READY, |c| {
        (ready_endpoints(c, "probed").len() == 2).then_some(())
    });
    let (sick, healthy) = (name(&pods[0]), name(&pods[1]));
    let url = format!("{}:80", cluster_ip(&c, "probed"));

    exec(&c, &sick, ": > /tmp/unready");
    c.wait_until(&format!("{sick} not Ready"), Duration::from_secs(30), |c| {
        let pod = c.get_json(&["pod", &sick])?;
        (!skiff_e2e::cluster::condition(&pod, "Ready")).then_some(())
    });
    c.wait_until(
        &format!("{sick} out of the endpoints"),
        Duration::from_secs(30),
        |c| (ready_endpoints(c, "probed") == [healthy.clone()]).then_some(()),
    );
    c.wait_until(
        "requests to reach only the ready pod",
        Duration::from_secs(30),
        |c| {
            fetch(c, "client", &url, 10)
                .iter()
                .all(|a| a == &healthy)
                .then_some(())
        },
    );
    let answers = fetch(&c, "client", &url, 20);
    if answers.iter().any(|a| a != &healthy) {
        c.fail(&format!("with {sick} unready, requests got {answers:?}"));
    }
    // Passing again brings it back.
    exec(&c, &sick, "rm /tmp/unready");
    c.wait_until(
        &format!("{sick} back in the endpoints"),
        Duration::from_secs(30),
        |c| (ready_endpoints(c, "probed").len() == 2).then_some(()),
    );

    // Liveness: the container is killed and started again (a fresh
    // filesystem, so the marker is gone and it stays up).
    assert_eq!(restarts(&c, &sick), 0);
    exec(&c, &sick, ": > /tmp/dead");
    c.wait_until(&format!("{sick} restarted"), Duration::from_secs(60), |c| {
        (restarts(c, &sick) == 1).then_some(())
    });
    c.wait_pods_ready("default", "app=probed", 2, READY);
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={sick}"),
    ]);
    assert!(
        events.contains("Unhealthy") && events.contains("Killing"),
        "{events}"
    );
    let previous = c.kubectl_ok(&["logs", &sick, "--previous"]);
    assert!(
        previous.contains("netprobe serving"),
        "logs --previous: {previous}"
    );
    assert_eq!(restarts(&c, &healthy), 0);

    // A readiness gate: running and its containers ready, the pod stays
    // unready until someone else sets the condition it names, which the
    // kubelet's own status writes then keep.
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: gated, namespace: default}}
spec:
  readinessGates: [{{conditionType: example.com/load-balancer}}]
  containers: [{{name: main, image: {}, command: [netprobe, serve, "8080"]}}]
"#,
        skiff_e2e::images::DEMO
    ));
    let gated = |c: &Cluster| c.get_json(&["pod", "gated"]);
    let held = c.wait_until("gated running, containers ready", READY, |c| {
        let p = gated(c)?;
        skiff_e2e::cluster::condition(&p, "ContainersReady").then_some(p)
    });
    assert!(!skiff_e2e::cluster::condition(&held, "Ready"), "{held}");
    let reason = (held["status"]["conditions"].as_array().unwrap().iter())
        .find(|c| c["type"] == "Ready")
        .map(|c| c["reason"].clone());
    assert_eq!(reason, Some("ReadinessGatesNotReady".into()), "{held}");
    c.kubectl_ok(&[
        "patch",
        "pod",
        "gated",
        "--subresource=status",
        "-p",
        r#"{"status":{"conditions":[{"type":"example.com/load-balancer","status":"True"}]}}"#,
    ]);
    c.wait_until("gated Ready once its gate is set", READY, |c| {
        skiff_e2e::cluster::condition(&gated(c)?, "Ready").then_some(())
    });
    // Past a few of the kubelet's passes, the condition is still there.
    std::thread::sleep(Duration::from_secs(3));
    let after = gated(&c).unwrap();
    assert!(
        skiff_e2e::cluster::condition(&after, "example.com/load-balancer")
            && skiff_e2e::cluster::condition(&after, "Ready"),
        "{after}"
    );
}
