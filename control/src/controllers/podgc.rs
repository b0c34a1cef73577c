//! Pods bound to a node that no longer exists are deleted (at once: no
//! kubelet is left to confirm a graceful stop).

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt as _};
use tracing::{info, warn};

use super::Settings;

async fn sweep(client: &Client) -> kube::Result<()> {
    let nodes: HashSet<String> = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    for pod in pods.items {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        if nodes.contains(node) {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        match api
            .delete(&pod.name_any(), &DeleteParams::default().grace_period(0))
            .await
        {
            Ok(_) => {
                info!(pod = %format!("{ns}/{}", pod.name_any()), %node, "deleted a pod of a deleted node")
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub async fn run(client: Client, settings: Settings) -> anyhow::Result<()> {
    loop {
        if let Err(e) = sweep(&client).await {
            warn!(error = %e, "pod garbage collection: retrying");
        }
        tokio::time::sleep(settings.podgc_period).await;
    }
}

/// Upstream sweeps every 20 s.
pub const PERIOD: Duration = Duration::from_secs(20);
