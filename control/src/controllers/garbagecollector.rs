//! The garbage collector: objects whose owners (ownerReferences) are all
//! gone are deleted; an owner deleted in the foreground (finalizer
//! `foregroundDeletion`) has its dependents deleted first and goes when none
//! that block it is left; an owner deleted with `orphan` has its dependents'
//! references to it removed, then goes. Every served kind is watched, as
//! metadata alone (`PartialObjectMetadata`); a pass over the whole graph
//! follows each burst of changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, PartialObjectMeta, Patch, PatchParams,
};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use serde_json::json;
use tokio::sync::Notify;
use tracing::{info, warn};

use super::Settings;
use crate::apiserver::registry::{RESOURCES, ResourceInfo};

const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";
/// Changes arriving together are handled in one pass.
const SETTLE: Duration = Duration::from_millis(200);
/// A pass also runs this often, so work refused once is retried.
const RESYNC: Duration = Duration::from_secs(30);

fn api_resource(r: &ResourceInfo) -> ApiResource {
    ApiResource {
        group: r.group.into(),
        version: r.version.into(),
        api_version: r.group_version(),
        kind: r.kind.into(),
        plural: r.plural.into(),
    }
}

/// What the collector knows of an object: its metadata alone (a metadata
/// watch: specs and statuses are neither sent nor decoded).
type Meta = PartialObjectMeta<DynamicObject>;

/// One watched kind: its description and the objects seen.
struct Kind {
    info: &'static ResourceInfo,
    resource: ApiResource,
    store: Store<Meta>,
}

/// Where an object lives, to act on it.
#[derive(Clone)]
struct Ref {
    kind: usize,
    namespace: Option<String>,
    name: String,
}

struct Graph {
    /// uid -> the object.
    objects: HashMap<String, (Ref, Arc<Meta>)>,
}

impl Graph {
    fn build(kinds: &[Kind]) -> Graph {
        let mut objects = HashMap::new();
        for (i, k) in kinds.iter().enumerate() {
            for obj in k.store.state() {
                let Some(uid) = obj.metadata.uid.clone() else {
                    continue;
                };
                let r = Ref {
                    kind: i,
                    namespace: obj.namespace(),
                    name: obj.name_any(),
                };
                objects.insert(uid, (r, obj));
            }
        }
        Graph { objects }
    }

    /// Dependents of each owner uid.
    fn dependents(&self) -> HashMap<&str, Vec<&str>> {
        let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
        for (uid, (_, obj)) in &self.objects {
            for owner in obj.owner_references() {
                out.entry(owner.uid.as_str())
                    .or_default()
                    .push(uid.as_str());
            }
        }
        out
    }
}

fn has_finalizer(obj: &Meta, f: &str) -> bool {
    obj.finalizers().iter().any(|x| x == f)
}

fn deleting(obj: &Meta) -> bool {
    obj.metadata.deletion_timestamp.is_some()
}

fn api(client: &Client, kinds: &[Kind], r: &Ref) -> Api<DynamicObject> {
    let k = &kinds[r.kind];
    match (&r.namespace, k.info.namespaced) {
        (Some(ns), true) => Api::namespaced_with(client.clone(), ns, &k.resource),
        _ => Api::all_with(client.clone(), &k.resource),
    }
}

async fn delete(
    client: &Client,
    kinds: &[Kind],
    r: &Ref,
    policy: DeleteParams,
) -> kube::Result<()> {
    match api(client, kinds, r).delete(&r.name, &policy).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets `obj`'s finalizers (a merge patch that keeps the resourceVersion as
/// a precondition, so a concurrent change is not lost).
async fn set_finalizers(
    client: &Client,
    kinds: &[Kind],
    r: &Ref,
    obj: &Meta,
    keep: Vec<String>,
) -> kube::Result<()> {
    let patch =
        json!({"metadata": {"finalizers": keep, "resourceVersion": obj.resource_version()}});
    match api(client, kinds, r)
        .patch(&r.name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

async fn pass(client: &Client, kinds: &[Kind]) -> kube::Result<()> {
    let graph = Graph::build(kinds);
    let dependents = graph.dependents();
    let exists = |uid: &str| graph.objects.contains_key(uid);

    for (uid, (r, obj)) in &graph.objects {
        let owners = obj.owner_references();
        // Owners being deleted in the foreground take their dependents with them.
        let foreground_owner = owners.iter().any(|o| {
            graph
                .objects
                .get(o.uid.as_str())
                .is_some_and(|(_, owner)| deleting(owner) && has_finalizer(owner, FOREGROUND))
        });
        if !owners.is_empty()
            && !deleting(obj)
            && (owners.iter().all(|o| !exists(&o.uid)) || foreground_owner)
        {
            let policy = if foreground_owner {
                DeleteParams::foreground()
            } else {
                DeleteParams::background()
            };
            delete(client, kinds, r, policy).await?;
            info!(kind = kinds[r.kind].info.kind, object = %r.name, "deleted: its owners are gone");
            continue;
        }
        if !deleting(obj) {
            continue;
        }
        let deps: &[&str] = dependents
            .get(uid.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if has_finalizer(obj, ORPHAN) {
            for dep in deps {
                let Some((dr, dobj)) = graph.objects.get(*dep) else {
                    continue;
                };
                let kept: Vec<_> = dobj
                    .owner_references()
                    .iter()
                    .filter(|o| o.uid != *uid)
                    .cloned()
                    .collect();
                let patch = json!({"metadata": {"ownerReferences": kept, "resourceVersion": dobj.resource_version()}});
                match api(client, kinds, dr)
                    .patch(&dr.name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                    Err(e) => return Err(e),
                }
            }
            if deps.is_empty() {
                let keep = obj
                    .finalizers()
                    .iter()
                    .filter(|f| *f != ORPHAN)
                    .cloned()
                    .collect();
                set_finalizers(client, kinds, r, obj, keep).await?;
            }
        } else if has_finalizer(obj, FOREGROUND) {
            let blocking = deps
                .iter()
                .filter_map(|d| graph.objects.get(*d))
                .any(|(_, d)| {
                    d.owner_references()
                        .iter()
                        .any(|o| o.uid == *uid && o.block_owner_deletion == Some(true))
                });
            if !blocking {
                let keep = obj
                    .finalizers()
                    .iter()
                    .filter(|f| *f != FOREGROUND)
                    .cloned()
                    .collect();
                set_finalizers(client, kinds, r, obj, keep).await?;
            }
        }
    }
    Ok(())
}

pub async fn run(client: Client, _settings: Settings) -> anyhow::Result<()> {
    let changed = Arc::new(Notify::new());
    let mut kinds = Vec::new();
    let mut synced = Vec::new();
    for info in RESOURCES {
        let resource = api_resource(info);
        let writer = reflector::store::Writer::new(resource.clone());
        let reader = writer.as_reader();
        let api: Api<Meta> = Api::all_with(client.clone(), &resource);
        let changed = changed.clone();
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .for_each(move |event| {
                if let Err(e) = &event {
                    warn!(error = %e, "garbage collector: watch failed; retrying");
                }
                changed.notify_one();
                std::future::ready(())
            });
        tokio::spawn(stream);
        synced.push(reader.clone());
        kinds.push(Kind {
            info,
            resource,
            store: reader,
        });
    }
    for store in &synced {
        store.wait_until_ready().await.ok();
    }
    loop {
        if let Err(e) = pass(&client, &kinds).await {
            warn!(error = %e, "garbage collector: pass failed; retrying");
        }
        let _ = tokio::time::timeout(RESYNC, changed.notified()).await;
        tokio::time::sleep(SETTLE).await;
    }
}
