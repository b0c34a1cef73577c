//! The DaemonSet controller: one pod per eligible node (node name, node
//! selector and affinity, taints and tolerations), placed by the scheduler
//! through node affinity on the node's name; rolling updates within
//! maxUnavailable or maxSurge; revisions as ControllerRevisions for
//! `kubectl rollout history` and `undo` (upstream's pkg/controller/daemon).

mod eligibility;
mod failed;
mod history;
mod manage;
mod pods;
mod rolling;
mod status;
mod sync;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::{Api, Client, ResourceExt};

use super::Settings;
use super::shared::events::Events;
use super::shared::expectations::Expectations;
use super::shared::informer::{Informers, Subscription};
use super::shared::owners;
use super::shared::run::{self, Requests};

struct Ctx {
    client: Client,
    events: Events,
    pods: Store<Pod>,
    nodes: Store<Node>,
    revisions: Store<ControllerRevision>,
    expectations: Expectations,
    failed: failed::FailedPods,
}

pub fn run(
    client: Client,
    _: Settings,
    informers: &Informers,
) -> BoxFuture<'static, anyhow::Result<()>> {
    let pods = informers.pods.subscribe();
    Box::pin(run_loop(client, pods))
}

async fn run_loop(client: Client, pods: Subscription<Pod>) -> anyhow::Result<()> {
    let (daemonsets, ds_events) = run::watch(Api::<DaemonSet>::all(client.clone()));
    let Subscription {
        store: pods,
        events: pod_events,
    } = pods;
    let (nodes, node_events) = run::watch(Api::<Node>::all(client.clone()));
    let (revisions, cr_events) = run::watch(Api::<ControllerRevision>::all(client.clone()));
    let ctx = Arc::new(Ctx {
        events: Events::spawn(client.clone()),
        client,
        pods: pods.clone(),
        nodes,
        revisions,
        expectations: Expectations::default(),
        failed: failed::FailedPods::default(),
    });

    let forget = ctx.clone();
    let ds_events = ds_events.inspect_ok(move |event| {
        if let Event::Delete(ds) = event {
            forget.expectations.forget(&sync::key(ds));
        }
    });
    let observe = ctx.clone();
    let pod_events =
        pod_events.inspect_ok(move |event| observe.expectations.observe_in(event, &observe.pods));
    let requests: Requests<DaemonSet> = futures::stream::select_all([
        run::own_requests(ds_events),
        run::requests(pod_events, owners::owners(daemonsets.clone())),
        run::requests(cr_events, owners::owners(daemonsets.clone())),
        run::requests(node_events, placement_changes(daemonsets.clone())),
    ])
    .boxed();
    run::drive("daemonset", daemonsets, requests, ctx, |ds, ctx| {
        Box::pin(sync::reconcile(ds, ctx))
    })
    .await
}

/// What decides where daemon pods run: labels, taints, and the node's name.
type Placement = (Option<BTreeMap<String, String>>, Option<Vec<Taint>>);

/// Every DaemonSet, when a node comes, goes, or changes what decides
/// placement (status heartbeats do not); once after a relist.
fn placement_changes(
    daemonsets: Store<DaemonSet>,
) -> impl FnMut(&Event<Node>) -> Vec<ObjectRef<DaemonSet>> + Send + 'static {
    let mut last: HashMap<String, Placement> = HashMap::new();
    move |event| {
        let all = || {
            daemonsets
                .state()
                .iter()
                .map(|d| ObjectRef::from_obj(&**d))
                .collect()
        };
        let placement = |n: &Node| -> Placement {
            (
                n.metadata.labels.clone(),
                n.spec.as_ref().and_then(|s| s.taints.clone()),
            )
        };
        match event {
            Event::Init => {
                last.clear();
                Vec::new()
            }
            Event::InitApply(n) => {
                last.insert(n.name_any(), placement(n));
                Vec::new()
            }
            Event::InitDone => all(),
            Event::Apply(n) => {
                let now = placement(n);
                if last.get(&n.name_any()) == Some(&now) {
                    return Vec::new();
                }
                last.insert(n.name_any(), now);
                all()
            }
            Event::Delete(n) => {
                last.remove(&n.name_any());
                all()
            }
        }
    }
}
