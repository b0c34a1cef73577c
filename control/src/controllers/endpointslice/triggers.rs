//! Watches that keep the loop's caches and name the Services each change
//! concerns. A change is seen with what the cache held before it, so a pod
//! whose labels changed also reaches the Services it used to match (kube's
//! reflectors only hand on the new object).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::watcher;
use tracing::warn;

use super::desired::{SERVICE_NAME, ZONE, selector, selects};
use super::mirror::LEADER;
use super::tracker::Tracker;

pub enum Change<'a, K> {
    /// Added or modified; `before` is what the cache held. `listing`: part
    /// of the first list, before the cache was ready.
    Applied {
        before: Option<&'a K>,
        after: &'a K,
        listing: bool,
    },
    Deleted(&'a K),
    /// A new list replaced the cache.
    Relisted,
}

/// Applies `events` to `writer`'s cache and yields the Services
/// `concerns` names for each change. Objects a relist no longer shows are
/// reported deleted.
pub fn follow<K, S, F>(
    events: S,
    mut writer: Writer<K>,
    mut concerns: F,
) -> impl Stream<Item = ObjectRef<Service>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    F: FnMut(Change<'_, K>) -> Vec<ObjectRef<Service>> + Send + 'static,
{
    let reader = writer.as_reader();
    let mut listed = false;
    let mut seen: HashSet<ObjectRef<K>> = HashSet::new();
    events.flat_map(move |event| {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying");
                return stream::iter(Vec::new());
            }
        };
        let mut refs = Vec::new();
        match &event {
            watcher::Event::Apply(obj) => {
                let before = reader.get(&ObjectRef::from_obj(obj));
                if !same_version(before.as_deref(), obj) {
                    refs = concerns(Change::Applied {
                        before: before.as_deref(),
                        after: obj,
                        listing: false,
                    });
                }
            }
            watcher::Event::InitApply(obj) => {
                let key = ObjectRef::from_obj(obj);
                // The cache still holds the previous list until InitDone.
                let before = if listed { reader.get(&key) } else { None };
                seen.insert(key);
                if !same_version(before.as_deref(), obj) {
                    refs = concerns(Change::Applied {
                        before: before.as_deref(),
                        after: obj,
                        listing: !listed,
                    });
                }
            }
            watcher::Event::Delete(obj) => refs = concerns(Change::Deleted(obj)),
            watcher::Event::Init => seen.clear(),
            watcher::Event::InitDone => {
                if listed {
                    for gone in reader.state() {
                        if !seen.contains(&ObjectRef::from_obj(&*gone)) {
                            refs.extend(concerns(Change::Deleted(&gone)));
                        }
                    }
                }
                seen.clear();
            }
        }
        writer.apply_watcher_event(&event);
        if matches!(event, watcher::Event::InitDone) {
            listed = true;
            refs.extend(concerns(Change::Relisted));
        }
        stream::iter(refs)
    })
}

/// Nothing changed since the cache's copy (a relist shows it again).
fn same_version<K: Resource>(before: Option<&K>, after: &K) -> bool {
    let version = |k: &K| k.meta().resource_version.clone();
    before.is_some_and(|b| version(b).is_some() && version(b) == version(after))
}

/// A Service concerns itself; its deletion too (its sync then finds it
/// gone and removes its slices and Endpoints).
pub fn services() -> impl FnMut(Change<'_, Service>) -> Vec<ObjectRef<Service>> + Send + 'static {
    |change| match change {
        Change::Applied { after, .. } => vec![ObjectRef::from_obj(after)],
        Change::Deleted(svc) => vec![ObjectRef::from_obj(svc)],
        Change::Relisted => Vec::new(),
    }
}

/// The Services in the pod's namespace whose selector matches its labels.
pub fn services_of(services: &Store<Service>, pod: &Pod) -> Vec<ObjectRef<Service>> {
    let ns = pod.metadata.namespace.as_deref();
    let labels = pod.metadata.labels.as_ref();
    services
        .state_filter(|s| {
            s.metadata.namespace.as_deref() == ns
                && selector(s).is_some_and(|sel| selects(sel, labels))
        })
        .iter()
        .map(|s| ObjectRef::from_obj(&**s))
        .collect()
}

/// A pod concerns the Services it matches, before and after the change.
/// The first list concerns none: every Service is synced once listed.
pub fn pods(
    services: Store<Service>,
) -> impl FnMut(Change<'_, Pod>) -> Vec<ObjectRef<Service>> + Send + 'static {
    move |change| match change {
        Change::Applied { listing: true, .. } | Change::Relisted => Vec::new(),
        Change::Applied { before, after, .. } => {
            let mut refs = services_of(&services, after);
            if let Some(before) = before
                && before.metadata.labels != after.metadata.labels
            {
                refs.extend(services_of(&services, before));
            }
            refs
        }
        Change::Deleted(pod) => services_of(&services, pod),
    }
}

fn zone(node: Option<&Node>) -> Option<&String> {
    node?.metadata.labels.as_ref()?.get(ZONE)
}

/// A node whose zone changed concerns the Services of its pods (their
/// endpoints name the zone).
pub fn nodes(
    pods: Store<Pod>,
    services: Store<Service>,
) -> impl FnMut(Change<'_, Node>) -> Vec<ObjectRef<Service>> + Send + 'static {
    move |change| {
        let (node, changed) = match change {
            Change::Applied { listing: true, .. } | Change::Relisted => return Vec::new(),
            Change::Applied { before, after, .. } => (after, zone(before) != zone(Some(after))),
            Change::Deleted(node) => (node, zone(Some(node)).is_some()),
        };
        if !changed {
            return Vec::new();
        }
        let name = node.metadata.name.as_deref();
        pods.state_filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == name)
            .iter()
            .flat_map(|p| services_of(&services, p))
            .collect()
    }
}

/// The Service a managed slice belongs to, by its label.
pub fn service_of(slice: &EndpointSlice) -> Option<ObjectRef<Service>> {
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME)?;
    let ns = slice.metadata.namespace.as_deref()?;
    Some(ObjectRef::new(name).within(ns))
}

pub fn tracker_key(r: &ObjectRef<Service>) -> (String, String) {
    (r.namespace.clone().unwrap_or_default(), r.name.clone())
}

/// A managed slice concerns its Service (also when it was relabelled away
/// from it); its deletion is what the tracker waits for.
pub fn slices(
    tracker: Arc<Mutex<Tracker>>,
) -> impl FnMut(Change<'_, EndpointSlice>) -> Vec<ObjectRef<Service>> + Send + 'static {
    move |change| match change {
        Change::Applied { before, after, .. } => {
            let mut refs: Vec<_> = service_of(after).into_iter().collect();
            refs.extend(
                before
                    .and_then(service_of)
                    .filter(|b| Some(b) != refs.first()),
            );
            refs
        }
        Change::Deleted(slice) => {
            let service = service_of(slice);
            if let (Some(s), Some(name)) = (&service, &slice.metadata.name) {
                let mut tracker = tracker.lock().unwrap_or_else(|e| e.into_inner());
                tracker.forget(&tracker_key(s), name);
            }
            service.into_iter().collect()
        }
        Change::Relisted => {
            tracker.lock().unwrap_or_else(|e| e.into_inner()).clear();
            Vec::new()
        }
    }
}

/// An Endpoints object concerns the Service of its name when there is one
/// (it was changed or deleted behind the mirror's back). On the first list,
/// one without a Service is a leftover of a Service deleted while no loop
/// ran, and is named too, so that it goes; later, it may be one written
/// just before its Service and is left alone.
pub fn endpoints(
    services: Store<Service>,
) -> impl FnMut(Change<'_, Endpoints>) -> Vec<ObjectRef<Service>> + Send + 'static {
    move |change| {
        let (e, listing) = match change {
            Change::Applied { after, listing, .. } => (after, listing),
            Change::Deleted(e) => (e, false),
            Change::Relisted => return Vec::new(),
        };
        let (Some(name), Some(ns)) = (&e.metadata.name, &e.metadata.namespace) else {
            return Vec::new();
        };
        let r = ObjectRef::new(name).within(ns);
        let leader = e
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(LEADER));
        if services.get(&r).is_some() || (listing && !leader) {
            vec![r]
        } else {
            Vec::new()
        }
    }
}
