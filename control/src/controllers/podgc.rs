//! Pods bound to a node that no longer exists are deleted (at once: no
//! kubelet is left to confirm a graceful stop), once the node has been
//! missing for the quarantine time, as upstream's pod GC waits for a node
//! that may only be slow to register.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt as _};
use tracing::{info, warn};

use super::Settings;

async fn sweep(
    client: &Client,
    quarantine: Duration,
    missing: &mut HashMap<String, Instant>,
) -> kube::Result<()> {
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
        let since = *missing.entry(node.to_owned()).or_insert_with(Instant::now);
        if since.elapsed() < quarantine {
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
    let mut missing = HashMap::new();
    loop {
        if let Err(e) = sweep(&client, settings.podgc_quarantine, &mut missing).await {
            warn!(error = %e, "pod garbage collection: retrying");
        }
        tokio::time::sleep(settings.podgc_period).await;
    }
}

/// Upstream sweeps every 20 s, after a node has been missing for 40 s.
pub const PERIOD: Duration = Duration::from_secs(20);
pub const QUARANTINE: Duration = Duration::from_secs(40);
