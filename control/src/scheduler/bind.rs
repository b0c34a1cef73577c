//! Binding: `POST pods/<name>/binding`, naming the pod's uid so a pod
//! recreated under the same name is not bound by mistake.

use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;

use k8s_openapi::api::core::v1::Pod;

use crate::scheduler::cache::pod_info::PodInfo;

pub async fn bind(client: Client, pod: &PodInfo, node: &str) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client, &pod.namespace);
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    api.create_subresource::<_, serde_json::Value>(
        "binding",
        &pod.name,
        &PostParams::default(),
        &binding,
    )
    .await?;
    Ok(())
}
