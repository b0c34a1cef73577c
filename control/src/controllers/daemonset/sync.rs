//! One sync of a DaemonSet (upstream's syncDaemonSet): claim its pods and
//! revisions, find the current revision, create and delete pods per node
//! unless earlier writes are still in flight, take the next step of a
//! rolling update, trim the history, write the status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::eligibility::Fit;
use super::{Ctx, history, manage, pods, rolling, status};
use crate::controllers::shared::events::Involved;
use crate::controllers::shared::expectations::TTL;
use crate::controllers::shared::pod_state::{is_ready, ready_since};
use crate::controllers::shared::pod_writes::PodWriter;
use crate::controllers::shared::{claim, time};

pub fn key(ds: &DaemonSet) -> String {
    format!("{}/{}", ds.namespace().unwrap_or_default(), ds.name_any())
}

fn in_namespace<K: Resource>(objects: Vec<Arc<K>>, ns: &str) -> Vec<Arc<K>> {
    objects
        .into_iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(ns))
        .collect()
}

pub async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Ctx>) -> anyhow::Result<Action> {
    // A DaemonSet seen before every pod is would create them all again.
    ctx.pods.wait_until_ready().await?;
    ctx.nodes.wait_until_ready().await?;
    ctx.revisions.wait_until_ready().await?;
    if ds.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let key = key(&ds);
    let ns = ds.namespace().unwrap_or_default();
    let client = &ctx.client;
    let in_sync = ctx.expectations.satisfied(&key);
    let owners: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let owned = claim::claim(
        &*ds,
        &owners,
        in_namespace(ctx.pods.state(), &ns),
        &ds.spec.selector,
        &pod_api,
    )
    .await?;
    let revisions = claim::claim(
        &*ds,
        &owners,
        in_namespace(ctx.revisions.state(), &ns),
        &ds.spec.selector,
        &Api::<ControllerRevision>::namespaced(client.clone(), &ns),
    )
    .await?;
    let history = history::construct(client, &ds, revisions).await?;
    let hash = &history.hash;
    let mut nodes = ctx.nodes.state();
    nodes.sort_by_key(|n| n.name_any());
    let fit = Fit::of(&ds);
    let by_node = pods::by_node(&owned);

    let mut retry = None;
    if in_sync {
        let writer = PodWriter {
            api: pod_api,
            pods: &ctx.pods,
            expectations: &ctx.expectations,
            owner: key.clone(),
            events: &ctx.events,
            involved: Involved::of(&*ds, "daemonset-controller"),
        };
        retry = manage(&ctx, &ds, &writer, &nodes, &fit, &by_node, hash).await?;
    }
    history::cleanup(client, &ds, &history.old, &by_node).await?;
    let st = status::calculate(&ds, &nodes, &fit, &by_node, hash, time::now());
    let waiting = availability_wait(&ds, &by_node);
    status::write(&owners, &ds, st).await?;

    let mut next = [retry, waiting].into_iter().flatten().min();
    if !in_sync {
        // Events settle expectations; this is for one that lapses.
        next = Some(next.map_or(TTL, |n| n.min(TTL)));
    }
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// Creates and deletes pods per node, then (when nothing else is in
/// flight) the rolling update's step; returns when a failed pod may be
/// replaced.
async fn manage(
    ctx: &Ctx,
    ds: &DaemonSet,
    writer: &PodWriter<'_>,
    nodes: &[Arc<Node>],
    fit: &Fit,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
) -> anyhow::Result<Option<Duration>> {
    let uid = ds.uid().unwrap_or_default();
    let now = Instant::now();
    let plan = manage::plan(
        nodes,
        fit,
        by_node,
        hash,
        rolling::allows_surge(ds),
        |node| ctx.failed.replace(&format!("{uid}/{node}"), now),
    );
    apply(ds, writer, &plan.create, &plan.delete, hash).await?;
    if rolling::is_rolling(ds) && ctx.expectations.satisfied(&writer.owner) {
        let eligible: BTreeMap<String, Vec<Arc<Pod>>> = nodes
            .iter()
            .filter(|n| fit.place(n).run)
            .map(|n| {
                let name = n.name_any();
                let pods = by_node.get(&name).cloned().unwrap_or_default();
                (name, pods)
            })
            .collect();
        let step = rolling::step(ds, &eligible, hash, time::now()).map_err(anyhow::Error::msg)?;
        apply(ds, writer, &step.create, &step.delete, hash).await?;
    }
    Ok(plan.retry)
}

async fn apply(
    ds: &DaemonSet,
    writer: &PodWriter<'_>,
    create: &[String],
    delete: &[Arc<Pod>],
    hash: &str,
) -> anyhow::Result<()> {
    let daemonset = &writer.owner;
    // Deletions first: a surge replaces one node's old pod before it
    // starts on the next node, never running more than maxSurge extra.
    if !delete.is_empty() {
        writer.delete(delete).await?;
        info!(%daemonset, deleted = delete.len(), "deleted pods");
    }
    if !create.is_empty() {
        let new = create.iter().map(|n| pods::for_node(ds, n, hash)).collect();
        let created = writer.create(new).await?;
        info!(%daemonset, created, "created pods");
    }
    Ok(())
}

/// A ready pod becomes available minReadySeconds later, with no event to
/// say so: how long until the first does.
fn availability_wait(
    ds: &DaemonSet,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
) -> Option<Duration> {
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    if min_ready <= 0 {
        return None;
    }
    let now = time::now();
    by_node
        .values()
        .flatten()
        .filter(|p| is_ready(p))
        .filter_map(|p| ready_since(p))
        .filter_map(|since| {
            let at = time::plus_seconds(since, i64::from(min_ready) + 1);
            let wait = time::nanos_between(now, at);
            (wait > 0).then(|| Duration::from_nanos(wait as u64))
        })
        .min()
}
