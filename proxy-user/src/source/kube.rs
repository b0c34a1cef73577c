//! Services and EndpointSlices from an API server, through kube-rs reflectors,
//! with a kubeconfig or the in-cluster configuration.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt as _, reflector, watcher};
use kube::{Api, Client};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::{NodeSender, Objects, Snapshots, latest, nodes};

/// How long a first change waits for the ones that come with it (a Service
/// and its EndpointSlice, written one after the other).
const SETTLE: Duration = Duration::from_millis(10);

/// With `nodes`, Nodes are watched too, for pod routing.
pub async fn spawn_kube(
    client: Client,
    min_sync_period: Duration,
    nodes: Option<NodeSender>,
) -> anyhow::Result<Snapshots> {
    let (tx, rx) = latest();
    let changed = Arc::new(Notify::new());
    if let Some(node_tx) = nodes {
        spawn_nodes(client.clone(), node_tx);
    }

    let (services, svc_writer) = reflector::store::<Service>();
    let (slices, slice_writer) = reflector::store::<EndpointSlice>();
    spawn_reflector(
        Api::<Service>::all(client.clone()),
        svc_writer,
        changed.clone(),
    );
    spawn_reflector(
        Api::<EndpointSlice>::all(client),
        slice_writer,
        changed.clone(),
    );

    tokio::spawn(async move {
        if services.wait_until_ready().await.is_err() || slices.wait_until_ready().await.is_err() {
            return;
        }
        info!("initial list of Services and EndpointSlices complete");
        loop {
            // A wake-up stored while this task waited out SETTLE or
            // min_sync_period is for a change the stores hold already (a
            // reflector applies an event before passing it on): the snapshot
            // below carries it. Left, it would repeat this sync
            // min_sync_period later and hold back the next change as long.
            let _ = changed.notified().now_or_never();
            let objects = Objects {
                services: services.state(),
                slices: slices.state(),
            };
            if !tx.put(objects) {
                return;
            }
            let synced = tokio::time::Instant::now();
            changed.notified().await;
            // After a quiet spell a change goes out almost at once (what
            // arrives with it in SETTLE joins it); during a burst, syncs are
            // at least min_sync_period apart, as kube-proxy's are.
            let settled = tokio::time::Instant::now() + SETTLE;
            tokio::time::sleep_until(settled.max(synced + min_sync_period)).await;
        }
    });
    Ok(rx)
}

fn spawn_nodes(client: Client, tx: NodeSender) {
    let (store, writer) = reflector::store::<Node>();
    let changed = Arc::new(Notify::new());
    spawn_reflector(Api::<Node>::all(client), writer, changed.clone());
    tokio::spawn(async move {
        if store.wait_until_ready().await.is_err() {
            return;
        }
        info!("initial list of Nodes complete");
        loop {
            let _ = changed.notified().now_or_never();
            let all = store.state();
            nodes::publish(&tx, all.iter().map(|n| n.as_ref()));
            if tx.is_closed() {
                return;
            }
            changed.notified().await;
        }
    });
}

fn spawn_reflector<K>(api: Api<K>, writer: reflector::store::Writer<K>, changed: Arc<Notify>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + 'static,
{
    tokio::spawn(async move {
        // The store keeps what the rules read; managedFields and the
        // last-applied annotation are dropped on arrival to keep it small.
        let stream = watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(|obj| {
                let meta = obj.meta_mut();
                meta.managed_fields = None;
                if let Some(a) = meta.annotations.as_mut() {
                    a.remove("kubectl.kubernetes.io/last-applied-configuration");
                }
            })
            .reflect(writer);
        futures::pin_mut!(stream);
        // Every change, not only applied objects: a deletion must sync too.
        while let Some(event) = stream.next().await {
            match event {
                Ok(
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone,
                ) => changed.notify_one(),
                Ok(_) => {}
                Err(e) => warn!(error = %e, kind = K::kind(&()).as_ref(), "watch error; retrying"),
            }
        }
    });
}
