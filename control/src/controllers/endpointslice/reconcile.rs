//! One Service's sync through the API: its slices as planned, then its
//! Endpoints mirror; and the removal of both once the Service is gone
//! (before owner references are garbage collected, this loop deletes them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::desired::{CONTROLLER, MANAGED_BY, SERVICE_NAME, ZONE, compute, selector, selects};
use super::mirror::{self, LEADER};
use super::plan::plan;
use super::tracker::Tracker;

pub struct Ctx {
    pub client: Client,
    pub services: Store<Service>,
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    /// The slices this controller manages (the watch selects them).
    pub slices: Store<EndpointSlice>,
    pub endpoints: Store<Endpoints>,
    pub tracker: Arc<Mutex<Tracker>>,
    /// True once the caches other than the Services' have listed (see
    /// [`listed`]).
    pub listed: watch::Receiver<bool>,
    pub max_endpoints_per_slice: usize,
    /// Consecutive failures per Service, for the retry delay.
    pub failures: Mutex<HashMap<(String, String), u32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] kube::Error),
    #[error("a watch stopped before its first list")]
    NotListed,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The API server keeps the `kubernetes` Service's endpoints itself.
fn api_server(ns: &str, name: &str) -> bool {
    ns == "default" && name == "kubernetes"
}

/// Waits until the Pod, Node, EndpointSlice and Endpoints caches have
/// listed once, then says so on `done`. A store's own readiness wakes only
/// the last task that waited on it, so one task waits here and the syncs
/// watch `done`. (Syncs run only once the Services' cache has listed: the
/// Controller waits for that one itself.)
pub async fn listed(
    pods: Store<Pod>,
    nodes: Store<Node>,
    slices: Store<EndpointSlice>,
    endpoints: Store<Endpoints>,
    done: watch::Sender<bool>,
) {
    let all = async {
        pods.wait_until_ready().await?;
        nodes.wait_until_ready().await?;
        slices.wait_until_ready().await?;
        endpoints.wait_until_ready().await
    };
    if all.await.is_ok() {
        done.send_replace(true);
    }
}

impl Ctx {
    /// Every cache has listed once: a sync from a half-filled cache would
    /// delete endpoints it has not seen yet.
    async fn listed(&self) -> Result<(), Error> {
        let mut listed = self.listed.clone();
        listed
            .wait_for(|done| *done)
            .await
            .map(|_| ())
            .map_err(|_| Error::NotListed)
    }

    fn cached_slices(&self, ns: &str, name: &str) -> Vec<Arc<EndpointSlice>> {
        self.slices.state_filter(|s| {
            let labels = s.metadata.labels.as_ref();
            s.metadata.namespace.as_deref() == Some(ns)
                && labels.and_then(|l| l.get(SERVICE_NAME)).map(String::as_str) == Some(name)
                && labels.and_then(|l| l.get(MANAGED_BY)).map(String::as_str) == Some(CONTROLLER)
        })
    }
}

/// Brings the Service's slices and Endpoints to what its pods ask for.
pub async fn sync(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    ctx.listed().await?;
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let Some(selector) = selector(&svc).filter(|_| !api_server(&ns, &name)) else {
        return Ok(Action::await_change());
    };
    let pods = ctx.pods.state_filter(|p| {
        p.metadata.namespace.as_deref() == Some(ns.as_str())
            && selects(selector, p.metadata.labels.as_ref())
    });
    let pods: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
    let slices = slices(&svc, &pods, &ctx).await;
    let endpoints = endpoints(&svc, &pods, &ctx).await;
    let behind = slices? | endpoints?;
    lock(&ctx.failures).remove(&(ns, name));
    // Behind: the watch event that catches the cache up triggers a sync
    // anyway; the requeue is in case it was the last one.
    Ok(if behind {
        Action::requeue(Duration::from_secs(1))
    } else {
        Action::await_change()
    })
}

/// Retries a failed sync after 0.5 s, doubling up to a minute.
pub fn retry(svc: Arc<Service>, err: &Error, ctx: Arc<Ctx>) -> Action {
    let key = (svc.namespace().unwrap_or_default(), svc.name_any());
    let mut failures = lock(&ctx.failures);
    let n = failures.entry(key.clone()).or_default();
    *n = n.saturating_add(1);
    let delay = Duration::from_millis(500)
        .saturating_mul(1 << (*n - 1).min(7))
        .min(Duration::from_secs(60));
    warn!(service = %format!("{}/{}", key.0, key.1), error = %err, retry_in = ?delay, "endpoints sync failed");
    Action::requeue(delay)
}

/// Ok(true) when the cache is behind this loop's own writes.
async fn slices(svc: &Service, pods: &[&Pod], ctx: &Ctx) -> Result<bool, Error> {
    let ns = svc.namespace().unwrap_or_default();
    let key = (ns.clone(), svc.name_any());
    let cached = ctx.cached_slices(&key.0, &key.1);
    let cached: Vec<&EndpointSlice> = cached.iter().map(|s| &**s).collect();
    if lock(&ctx.tracker).behind(&key, &cached) {
        debug!(service = %format!("{}/{}", key.0, key.1), "slice cache behind our writes; waiting");
        return Ok(true);
    }
    let zone_of = |node: &str| {
        let node = ctx.nodes.get(&ObjectRef::new(node))?;
        node.labels().get(ZONE).cloned()
    };
    let desired = compute(svc, pods, zone_of);
    let plan = plan(svc, &desired, &cached, ctx.max_endpoints_per_slice);
    if plan.is_empty() {
        return Ok(false);
    }
    debug!(
        service = %format!("{}/{}", key.0, key.1),
        create = plan.create.len(), update = plan.update.len(), delete = plan.delete.len(),
        "writing slices"
    );
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let pp = PostParams::default();
    // A Service on its way out gets no new slices.
    if svc.metadata.deletion_timestamp.is_none() {
        for slice in &plan.create {
            let made = api.create(&pp, slice).await?;
            lock(&ctx.tracker).written(&key, &made);
        }
    }
    for slice in &plan.update {
        let name = slice.name_any();
        match api.replace(&name, &pp, slice).await {
            Ok(made) => lock(&ctx.tracker).written(&key, &made),
            // Changed since cached: its watch event brings a new sync.
            Err(e) if code(&e) == Some(409) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
    for slice in &plan.delete {
        let name = slice.name_any();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => lock(&ctx.tracker).deleted(&key, &name),
            Err(e) if code(&e) == Some(404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// Ok(true) when the cached Endpoints were out of date.
async fn endpoints(svc: &Service, pods: &[&Pod], ctx: &Ctx) -> Result<bool, Error> {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let current = ctx.endpoints.get(&ObjectRef::new(&name).within(&ns));
    let Some(next) = mirror::next(svc, pods, current.as_deref()) else {
        return Ok(false);
    };
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
    let pp = PostParams::default();
    let written = match current {
        None => api.create(&pp, &next).await,
        // The resourceVersion read makes it a compare-and-swap.
        Some(_) => api.replace(&name, &pp, &next).await,
    };
    match written {
        Ok(_) => Ok(false),
        Err(e) if code(&e) == Some(409) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// The Service is gone: its slices and Endpoints go too, unless a Service
/// of that name is back (its own sync then takes over).
pub async fn remove(ctx: &Ctx, ns: &str, name: &str) -> Result<(), Error> {
    if api_server(ns, name) {
        return Ok(());
    }
    ctx.listed().await?;
    if ctx.services.get(&ObjectRef::new(name).within(ns)).is_some() {
        return Ok(());
    }
    let slices: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), ns);
    for slice in ctx.cached_slices(ns, name) {
        match slices
            .delete(&slice.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if code(&e) == Some(404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    lock(&ctx.tracker).forget_service(&(ns.to_owned(), name.to_owned()));
    let Some(current) = ctx.endpoints.get(&ObjectRef::new(name).within(ns)) else {
        return Ok(());
    };
    if current.annotations().contains_key(LEADER) {
        return Ok(());
    }
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), ns);
    let only_this = DeleteParams {
        preconditions: Some(Preconditions {
            uid: current.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &only_this).await {
        Ok(_) => Ok(()),
        // Gone already, or replaced by a newer object of that name.
        Err(e) if matches!(code(&e), Some(404 | 409)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
