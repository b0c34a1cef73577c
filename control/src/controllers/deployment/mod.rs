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

use std::collections::HashMap;
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
use super::shared::run::{self, Requests};
use super::shared::selector;

struct Ctx {
    client: Client,
    replicasets: Store<ReplicaSet>,
    pods: Store<Pod>,
}

pub fn run(client: Client, _: Settings) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(run_loop(client))
}

async fn run_loop(client: Client) -> anyhow::Result<()> {
    let (deployments, d_events) = run::watch(Api::<Deployment>::all(client.clone()));
    let (replicasets, rs_events) = run::watch(Api::<ReplicaSet>::all(client.clone()));
    let (pods, pod_events) = run::watch(Api::<Pod>::all(client.clone()));
    let ctx = Arc::new(Ctx {
        client,
        replicasets: replicasets.clone(),
        pods,
    });
    let requests: Requests<Deployment> = futures::stream::select_all([
        run::own_requests(d_events),
        run::requests(rs_events, rs_owners(deployments.clone())),
        run::requests(pod_events, recreate_waits(deployments.clone(), replicasets)),
    ])
    .boxed();
    run::drive("deployment", deployments, requests, ctx, |d, ctx| {
        Box::pin(sync::reconcile(d, ctx))
    })
    .await
}

fn deployment_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<ObjectRef<Deployment>> {
    controller_of(meta)
        .filter(|r| r.kind == "Deployment" && r.api_version == "apps/v1")
        .map(|r| ObjectRef::new(&r.name).within(meta.namespace.as_deref().unwrap_or_default()))
}

/// The Deployments a ReplicaSet event concerns: its controller, the one it
/// had before, or for an orphan every Deployment whose selector covers it.
fn rs_owners(
    deployments: Store<Deployment>,
) -> impl FnMut(&Event<ReplicaSet>) -> Vec<ObjectRef<Deployment>> + Send + 'static {
    let mut last: HashMap<String, ObjectRef<Deployment>> = HashMap::new();
    move |event| {
        let (rs, deleted) = match event {
            Event::Apply(rs) | Event::InitApply(rs) => (rs, false),
            Event::Delete(rs) => (rs, true),
            Event::Init | Event::InitDone => return Vec::new(),
        };
        let uid = rs.uid().unwrap_or_default();
        let owner = deployment_of(&rs.metadata);
        let before = match (&owner, deleted) {
            (Some(o), false) => last.insert(uid, o.clone()),
            _ => last.remove(&uid),
        };
        let mut out: Vec<_> = before
            .into_iter()
            .filter(|b| Some(b) != owner.as_ref())
            .collect();
        match owner {
            Some(o) => out.push(o),
            None if !deleted => out.extend(
                deployments
                    .state()
                    .iter()
                    .filter(|d| {
                        d.namespace() == rs.namespace()
                            && selector::matches(&d.spec.selector, rs.metadata.labels.as_ref())
                    })
                    .map(|d| ObjectRef::from_obj(&**d)),
            ),
            None => {}
        }
        out
    }
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
            .and_then(|rs| deployment_of(&rs.metadata))
            .filter(|d| {
                deployments
                    .get(d)
                    .is_some_and(|d| !fenceposts::is_rolling(&d))
            })
            .into_iter()
            .collect()
    }
}
