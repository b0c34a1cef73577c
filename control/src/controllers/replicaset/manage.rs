//! Creating and deleting pods to reach spec.replicas (upstream's
//! manageReplicas): at most a burst per sync, deletions ranked.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::{Ctx, pods, ranking};
use crate::controllers::shared::claim::controller_of;
use crate::controllers::shared::events::Involved;
use crate::controllers::shared::pod_writes::{BURST, PodWriter};
use crate::controllers::shared::{selector, time};

/// Brings the number of `active` owned pods to spec.replicas.
pub async fn replicas(ctx: &Ctx, rs: &ReplicaSet, active: &[Arc<Pod>]) -> anyhow::Result<()> {
    let want = rs.spec.replicas.unwrap_or(1).max(0) as usize;
    let ns = rs.namespace().unwrap_or_default();
    let key = format!("{ns}/{}", rs.name_any());
    let writer = PodWriter {
        api: Api::namespaced(ctx.client.clone(), &ns),
        pods: &ctx.pods,
        expectations: &ctx.expectations,
        owner: key.clone(),
        events: &ctx.events,
        involved: Involved::of(rs, "replicaset-controller"),
    };
    if active.len() < want {
        let pods = vec![pods::from_template(rs); want - active.len()];
        let created = writer.create(pods).await.inspect_err(|e| {
            info!(replicaset = %key, "{e:#}");
        })?;
        info!(replicaset = %key, created, "created pods");
    } else if active.len() > want {
        let count = (active.len() - want).min(BURST);
        let victims = ranking::to_delete(active.to_vec(), &related(ctx, rs), count, time::now());
        writer.delete(&victims).await?;
        info!(replicaset = %key, deleted = count, "deleted pods");
    }
    Ok(())
}

/// The pods of every ReplicaSet with the same controller as `rs` (the
/// other revisions of its Deployment): scaling down prefers nodes where
/// they crowd. A ReplicaSet without a controller has none.
fn related(ctx: &Ctx, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
    let Some(owner) = controller_of(rs.meta()) else {
        return Vec::new();
    };
    let ns = rs.namespace();
    let siblings: Vec<_> = ctx
        .replicasets
        .state()
        .into_iter()
        .filter(|r| {
            r.namespace() == ns && controller_of(r.meta()).is_some_and(|o| o.uid == owner.uid)
        })
        .collect();
    ctx.pods
        .state()
        .into_iter()
        .filter(|p| {
            p.namespace() == ns
                && siblings
                    .iter()
                    .any(|r| selector::matches(&r.spec.selector, p.metadata.labels.as_ref()))
        })
        .collect()
}
