//! The endpointslice loop: for every Service with a selector, EndpointSlices
//! listing the pods it selects (upstream's endpointslice controller), and
//! the `Endpoints` object older clients read (its endpoints controller).
//!
//! - `desired.rs`: the endpoints, from the Service and its pods (pure).
//! - `plan.rs`: the fewest slice writes that get there (pure).
//! - `mirror.rs`: the Endpoints object (pure).
//! - `reconcile.rs`: one Service's sync through the API.
//! - `triggers.rs`: the watches, and which Services each change concerns.
//! - `tracker.rs`: this loop's writes its cache has not shown yet.
//!
//! A kube-runtime `Controller` over Services runs the syncs, one at a time
//! per Service. Pods, Nodes, managed EndpointSlices and Endpoints are each
//! watched once: the watch fills the cache the syncs read and names the
//! Services to sync.

pub mod desired;
pub mod mirror;
pub mod plan;
mod reconcile;
mod tracker;
mod triggers;

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, stream};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::warn;

use super::Settings;
use reconcile::Ctx;
use tracker::Tracker;

/// Services synced at once, as kube-controller-manager's default.
const WORKERS: u16 = 5;

pub fn start(client: Client, settings: Settings) -> BoxFuture<'static, anyhow::Result<()>> {
    run(client, settings).boxed()
}

async fn run(client: Client, settings: Settings) -> anyhow::Result<()> {
    let every = watcher::Config::default;
    let (services, service_cache) = reflector::store::<Service>();
    // Its own watch of Services is ours (below), which reports deletions:
    // a deleted Service's sync finds it gone, and its objects are removed.
    let controller = Controller::for_stream(stream::pending(), services.clone())
        .with_config(controller::Config::default().concurrency(WORKERS));
    let (pods, pod_cache) = reflector::store::<Pod>();
    let (nodes, node_cache) = reflector::store::<Node>();
    let (slices, slice_cache) = reflector::store::<EndpointSlice>();
    let (endpoints, endpoints_cache) = reflector::store::<Endpoints>();
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let (listed, listed_rx) = watch::channel(false);
    // Side tasks: the wait for the caches, removals of deleted Services'
    // objects. Dropped (aborted) with the loop.
    let mut tasks = JoinSet::new();
    tasks.spawn(reconcile::listed(
        pods.clone(),
        nodes.clone(),
        slices.clone(),
        endpoints.clone(),
        listed,
    ));
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        services: services.clone(),
        pods: pods.clone(),
        nodes,
        slices,
        endpoints,
        tracker: tracker.clone(),
        listed: listed_rx,
        max_endpoints_per_slice: settings.max_endpoints_per_slice,
        failures: Mutex::default(),
    });
    let managed = every().labels(&format!("{}={}", desired::MANAGED_BY, desired::CONTROLLER));
    let mut syncs = controller
        .reconcile_on(triggers::follow(
            watcher(Api::<Service>::all(client.clone()), every()).default_backoff(),
            service_cache,
            triggers::services(),
        ))
        .reconcile_on(triggers::follow(
            watcher(Api::<Pod>::all(client.clone()), every()).default_backoff(),
            pod_cache,
            triggers::pods(services.clone()),
        ))
        .reconcile_on(triggers::follow(
            watcher(Api::<Node>::all(client.clone()), every()).default_backoff(),
            node_cache,
            triggers::nodes(pods, services.clone()),
        ))
        .reconcile_on(triggers::follow(
            watcher(Api::<EndpointSlice>::all(client.clone()), managed).default_backoff(),
            slice_cache,
            triggers::slices(tracker),
        ))
        .reconcile_on(triggers::follow(
            watcher(Api::<Endpoints>::all(client.clone()), every()).default_backoff(),
            endpoints_cache,
            triggers::endpoints(services),
        ))
        .run(reconcile::sync, reconcile::retry, ctx.clone())
        .boxed();

    while let Some(result) = syncs.next().await {
        while tasks.try_join_next().is_some() {}
        match result {
            Ok(_) => {}
            // The Service is gone from the cache.
            Err(controller::Error::ObjectNotFound(gone)) => {
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    let ns = gone.namespace.clone().unwrap_or_default();
                    remove_with_retries(&ctx, &ns, &gone.name).await
                });
            }
            // Already logged by the retry policy.
            Err(controller::Error::ReconcilerFailed(..)) => {}
            Err(e) => warn!(error = %e, "endpointslice loop"),
        }
    }
    Ok(())
}

async fn remove_with_retries(ctx: &Ctx, ns: &str, name: &str) {
    let mut delay = std::time::Duration::from_millis(500);
    for _ in 0..6 {
        match reconcile::remove(ctx, ns, name).await {
            Ok(()) => return,
            Err(e) => {
                warn!(service = %format!("{ns}/{name}"), error = %e, "removing a deleted Service's endpoints failed");
            }
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}
