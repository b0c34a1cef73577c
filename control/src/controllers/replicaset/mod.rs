//! The ReplicaSet controller: keeps spec.replicas pods from the template,
//! adopting matching orphans and releasing pods that stop matching, and
//! reports their counts in the status (upstream's pkg/controller/replicaset).

mod expectations;
mod manage;
mod pods;
mod ranking;
mod status;
mod sync;

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::{Api, Client, ResourceExt};

use super::Settings;
use super::shared::claim::controller_of;
use super::shared::run::{self, Requests};
use super::shared::selector;
use expectations::Expectations;

pub use pods::phase;

struct Ctx {
    client: Client,
    pods: Store<Pod>,
    replicasets: Store<ReplicaSet>,
    expectations: Expectations,
}

pub fn run(client: Client, _: Settings) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(run_loop(client))
}

async fn run_loop(client: Client) -> anyhow::Result<()> {
    let (replicasets, rs_events) = run::watch(Api::<ReplicaSet>::all(client.clone()));
    let (pods, pod_events) = run::watch(Api::<Pod>::all(client.clone()));
    let ctx = Arc::new(Ctx {
        client,
        pods: pods.clone(),
        replicasets: replicasets.clone(),
        expectations: Expectations::default(),
    });

    let forget = ctx.clone();
    let rs_events = rs_events.inspect_ok(move |event| {
        if let Event::Delete(rs) = event {
            forget.expectations.forget(&sync::key(rs));
        }
    });
    let observe = ctx.clone();
    let pod_events = pod_events.inspect_ok(move |event| {
        observe.expectations.observe(event, |(ns, name)| {
            observe
                .pods
                .get(&ObjectRef::new(name).within(ns))
                .map(|p| (*p).clone())
        })
    });
    let requests: Requests<ReplicaSet> = futures::stream::select(
        run::own_requests(rs_events),
        run::requests(pod_events, pod_owners(replicasets.clone())),
    )
    .boxed();
    run::drive("replicaset", replicasets, requests, ctx, |rs, ctx| {
        Box::pin(sync::reconcile(rs, ctx))
    })
    .await
}

/// The ReplicaSets a pod event concerns: its controller, the controller it
/// had before (it was released or re-owned), or for an orphan every
/// ReplicaSet whose selector covers it (one may adopt it).
fn pod_owners(
    replicasets: Store<ReplicaSet>,
) -> impl FnMut(&Event<Pod>) -> Vec<ObjectRef<ReplicaSet>> + Send + 'static {
    let mut last: HashMap<String, ObjectRef<ReplicaSet>> = HashMap::new();
    move |event| {
        let (pod, deleted) = match event {
            Event::Apply(p) | Event::InitApply(p) => (p, false),
            Event::Delete(p) => (p, true),
            Event::Init | Event::InitDone => return Vec::new(),
        };
        let ns = pod.namespace().unwrap_or_default();
        let uid = pod.uid().unwrap_or_default();
        let owner = controller_of(&pod.metadata)
            .filter(|r| r.kind == "ReplicaSet" && r.api_version == "apps/v1")
            .map(|r| ObjectRef::<ReplicaSet>::new(&r.name).within(&ns));
        let before = if deleted {
            last.remove(&uid)
        } else {
            match &owner {
                Some(o) => last.insert(uid, o.clone()),
                None => last.remove(&uid),
            }
        };
        let mut out: Vec<_> = before
            .into_iter()
            .filter(|b| Some(b) != owner.as_ref())
            .collect();
        match owner {
            Some(o) => out.push(o),
            None if !deleted => out.extend(
                replicasets
                    .state()
                    .iter()
                    .filter(|rs| {
                        rs.namespace().as_deref() == Some(ns.as_str())
                            && selector::matches(&rs.spec.selector, pod.metadata.labels.as_ref())
                    })
                    .map(|rs| ObjectRef::from_obj(&**rs)),
            ),
            None => {}
        }
        out
    }
}
