//! The ReplicaSet controller: keeps spec.replicas pods from the template,
//! adopting matching orphans and releasing pods that stop matching, and
//! reports their counts in the status (upstream's pkg/controller/replicaset).

mod manage;
mod pods;
mod ranking;
mod status;
mod sync;

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::runtime::reflector::Store;
use kube::runtime::watcher::Event;

use super::Settings;
use super::shared::events::Events;
use super::shared::expectations::Expectations;
use super::shared::informer::{Informers, Subscription};
use super::shared::owners;
use super::shared::run::{self, Requests};

pub use pods::phase;

struct Ctx {
    client: Client,
    events: Events,
    pods: Store<Pod>,
    replicasets: Store<ReplicaSet>,
    expectations: Expectations,
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
        pods: pods.clone(),
        replicasets: replicasets.clone(),
        expectations: Expectations::default(),
    });

    let forget = ctx.clone();
    let rs_events = rs_events.inspect_ok(move |event| {
        if let Event::Delete(rs) = &**event {
            forget.expectations.forget(&sync::key(rs));
        }
    });
    let observe = ctx.clone();
    let pod_events =
        pod_events.inspect_ok(move |event| observe.expectations.observe_in(event, &observe.pods));
    let requests: Requests<ReplicaSet> = futures::stream::select(
        run::own_shared_requests(rs_events.boxed()),
        run::requests(pod_events, owners::owners(replicasets.clone())),
    )
    .boxed();
    run::drive("replicaset", replicasets, requests, ctx, |rs, ctx| {
        Box::pin(sync::reconcile(rs, ctx))
    })
    .await
}
