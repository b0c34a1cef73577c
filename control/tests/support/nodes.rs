//! Nodes as kubemark's hollow nodes register them: the Node with its
//! labels, taints, capacity and a Ready condition, then its first status
//! update. No kubelet runs behind them.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// Registers `name` with `labels` (besides the well-known ones), `taints`
/// and `cpu` cores.
pub async fn register(client: &kube::Client, name: &str, labels: Value, taints: Value, cpu: &str) {
    let status = json!({
        "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": name}],
        "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "6.1",
            "osImage": "hollow", "containerRuntimeVersion": "fake://1", "kubeletVersion": "v1.32.0",
            "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
    });
    let mut all = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                         "kubernetes.io/arch": "amd64"});
    for (k, v) in labels.as_object().into_iter().flatten() {
        all[k] = v.clone();
    }
    let node = json!({
        "metadata": {"name": name, "labels": all},
        "spec": {"taints": taints},
        "status": status,
    });
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(node).unwrap(),
        )
        .await
        .unwrap();
    nodes
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
}
