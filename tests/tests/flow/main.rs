//! The whole flow on real components: kubectl against the control plane,
//! three nodes each with containerd, the kubelet and the agent, pods of the
//! demo image answering through ClusterIPs and pod IPs, and the loops
//! repairing what breaks. One cluster at a time: each is nine processes
//! plus a shim per pod on two cores.

mod kubelet;
mod node_failure;
mod probes;
mod routing;
mod service;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use skiff_e2e::cluster::Cluster;
use skiff_e2e::images::{DEMO, DEMO_PORT};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const READY: Duration = Duration::from_secs(120);

/// A Deployment of the demo server and a ClusterIP Service in front of it.
/// CPU requests make the scheduler's least-allocated score spread replicas.
fn demo_app(name: &str, replicas: u32, extra_container: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: demo
        image: {DEMO}
        ports: [{{name: http, containerPort: {DEMO_PORT}}}]
        resources: {{requests: {{cpu: 100m, memory: 16Mi}}}}
{extra_container}---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: http}}]
"#
    )
}

/// A pod to send requests from, pinned to a node.
fn client_pod(name: &str, node: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default, labels: {{role: client}}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: {DEMO}
"#
    )
}

/// Pods matching `selector` that are not being deleted.
fn live_pods(c: &Cluster, selector: &str) -> Vec<Value> {
    let list = c
        .get_json(&["pods", "-n", "default", "-l", selector])
        .unwrap_or_else(|| c.fail("kubectl get pods failed"));
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

fn name(pod: &Value) -> String {
    pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn node_of(pod: &Value) -> String {
    pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Runs `script` with `sh -c` in the pod's container (kubectl exec).
fn exec(c: &Cluster, pod: &str, script: &str) -> String {
    c.kubectl_ok(&["exec", pod, "--", "sh", "-c", script])
}

/// `count` HTTP requests from inside `pod` to `addr` (`ip:port`), each on
/// a new connection (netprobe, in the demo image): the answering pods'
/// names, or `ERR` where one failed.
fn fetch(c: &Cluster, pod: &str, addr: &str, count: u32) -> Vec<String> {
    let out = c.kubectl_ok(&[
        "exec",
        pod,
        "--",
        "netprobe",
        "http",
        addr,
        &count.to_string(),
    ]);
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| match (v["ok"].as_bool(), v["backend"].as_str()) {
            (Some(true), Some(b)) => b.to_owned(),
            _ => "ERR".to_owned(),
        })
        .collect()
}

/// The Service's cluster IP.
fn cluster_ip(c: &Cluster, service: &str) -> String {
    let svc = c
        .get_json(&["service", service, "-n", "default"])
        .unwrap_or_else(|| c.fail(&format!("no Service {service}")));
    svc["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The ready endpoints' pod names in the Service's EndpointSlices.
fn ready_endpoints(c: &Cluster, service: &str) -> Vec<String> {
    let slices = c
        .get_json(&[
            "endpointslices",
            "-n",
            "default",
            "-l",
            &format!("kubernetes.io/service-name={service}"),
        ])
        .unwrap_or_else(|| c.fail("kubectl get endpointslices failed"));
    let mut names: Vec<String> = slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["conditions"]["ready"] == true)
        .filter_map(|e| e["targetRef"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}
