//! One sync of a ReplicaSet (upstream's syncReplicaSet): claim pods, manage
//! replicas unless creations or deletions are still in flight, write the
//! status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::{Ctx, manage, pods, status};
use crate::controllers::shared::expectations::TTL;
use crate::controllers::shared::{claim, run, time};

pub fn key(rs: &ReplicaSet) -> String {
    format!("{}/{}", rs.namespace().unwrap_or_default(), rs.name_any())
}

pub async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Ctx>) -> anyhow::Result<Action> {
    // A ReplicaSet seen before every pod is would create them all again.
    ctx.pods.wait_until_ready().await?;
    let key = key(&rs);
    let ns = rs.namespace().unwrap_or_default();
    let in_sync = ctx.expectations.satisfied(&key);
    let spec = &rs.spec;
    let active: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()) && pods::is_active(p))
        .collect();
    let owned = claim::claim(
        &*rs,
        &Api::namespaced(ctx.client.clone(), &ns),
        active,
        &spec.selector,
        &Api::namespaced(ctx.client.clone(), &ns),
    )
    .await?;

    let managed = if in_sync && rs.meta().deletion_timestamp.is_none() {
        manage::replicas(&ctx, &rs, &owned).await
    } else {
        Ok(())
    };
    let error = managed.as_ref().err().map(run::describe);
    let status = status::calculate(&rs, &owned, error.as_deref(), time::now());
    let written = write_status(&ctx, &rs, status).await?;
    managed?;

    let replicas = spec.replicas.unwrap_or(1);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let st = written.status.unwrap_or_default();
    // Ready but not yet available: look again once minReadySeconds pass.
    if min_ready > 0
        && st.ready_replicas.unwrap_or(0) == replicas
        && st.available_replicas.unwrap_or(0) != replicas
    {
        return Ok(Action::requeue(Duration::from_secs(min_ready as u64)));
    }
    if !in_sync {
        // Events settle expectations; this is for one that lapses.
        return Ok(Action::requeue(TTL));
    }
    Ok(Action::await_change())
}

/// Writes `status` unless it is what the ReplicaSet shows for its current
/// generation. The resourceVersion guards the write; on a conflict the
/// latest object is read once and the status written over it.
async fn write_status(
    ctx: &Ctx,
    rs: &ReplicaSet,
    mut status: ReplicaSetStatus,
) -> anyhow::Result<ReplicaSet> {
    let generation = rs.meta().generation;
    let current = rs.status.clone().unwrap_or_default();
    status.observed_generation = current.observed_generation;
    if status == current && generation == current.observed_generation {
        return Ok(rs.clone());
    }
    status.observed_generation = generation;
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let mut next = rs.clone();
    next.status = Some(status.clone());
    let pp = PostParams::default();
    match api.replace_status(&rs.name_any(), &pp, &next).await {
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let mut latest = api.get(&rs.name_any()).await?;
            latest.status = Some(status);
            Ok(api.replace_status(&rs.name_any(), &pp, &latest).await?)
        }
        result => Ok(result?),
    }
}
