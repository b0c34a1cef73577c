//! The Deployment controller: a ReplicaSet per pod template, rolled from
//! old to new by the RollingUpdate or Recreate strategy, with revisions
//! for rollbacks and a status `kubectl rollout status` follows (upstream's
//! pkg/controller/deployment). Pods are the ReplicaSet controller's.

mod counts;
mod fenceposts;
mod proportional;
mod revision;
mod rolling;
mod status;
mod sync;
mod template;
mod writes;

use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::{Api, Client, ResourceExt};

use super::Settings;
use super::shared::claim::controller_of;
use super::shared::events::Events;
use super::shared::informer::{Informers, Subscription};
use super::shared::owners;
use super::shared::run::{self, Requests};

struct Ctx {
    client: Client,
    events: Events,
    replicasets: Store<ReplicaSet>,
    pods: Store<Pod>,
}

pub fn run(
    client: Client,
    _: Settings,
    informers: &Informers,
) -> BoxFuture<'static, anyhow::Result<()>> {
    let replicasets = informers.replicasets.subscribe();
    let pods = informers.pods.subscribe();
    Box::pin(run_loop(client, replicasets, pods))
}

async fn run_loop(
    client: Client,
    replicasets: Subscription<ReplicaSet>,
    pods: Subscription<Pod>,
) -> anyhow::Result<()> {
    let (deployments, d_events) = run::watch(Api::<Deployment>::all(client.clone()));
    let Subscription {
        store: replicasets,
        events: rs_events,
    } = replicasets;
    let Subscription {
        store: pods,
        events: pod_events,
    } = pods;
    let ctx = Arc::new(Ctx {
        events: Events::spawn(client.clone()),
        client,
        replicasets: replicasets.clone(),
        pods,
    });
    let requests: Requests<Deployment> = futures::stream::select_all([
        run::own_requests(d_events),
        run::requests(rs_events, owners::owners(deployments.clone())),
        run::requests(pod_events, recreate_waits(deployments.clone(), replicasets)),
    ])
    .boxed();
    run::drive("deployment", deployments, requests, ctx, |d, ctx| {
        Box::pin(sync::reconcile(d, ctx))
    })
    .await
}

/// A deleted pod may be the last old one a Recreate waits for.
fn recreate_waits(
    deployments: Store<Deployment>,
    replicasets: Store<ReplicaSet>,
) -> impl FnMut(&Event<Pod>) -> Vec<ObjectRef<Deployment>> + Send + 'static {
    move |event| {
        let Event::Delete(pod) = event else {
            return Vec::new();
        };
        let Some(rs) = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet") else {
            return Vec::new();
        };
        let ns = pod.namespace().unwrap_or_default();
        replicasets
            .get(&ObjectRef::new(&rs.name).within(&ns))
            .and_then(|rs| owners::controller::<Deployment>(&rs.metadata))
            .filter(|d| {
                deployments
                    .get(d)
                    .is_some_and(|d| !fenceposts::is_rolling(&d))
            })
            .into_iter()
            .collect()
    }
}
