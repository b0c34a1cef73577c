//! Running a reconciler: reflectors fill caches from watches, the events
//! they pass on become reconcile requests, and kube-runtime's applier runs
//! the reconciler, never twice at once for one object. A failed reconcile
//! is retried with a per-object exponential backoff, as upstream's rate
//! limited work queue does.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use kube::runtime::controller::{self, Action, ReconcileRequest, applier};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

/// A reconcile error as the applier wants it (a std error).
#[derive(Debug)]
pub struct Failed(pub anyhow::Error);

impl Failed {
    /// A write lost to a newer version of the object: the next sync, on
    /// the newer version, redoes it. Routine with caches.
    fn is_conflict(&self) -> bool {
        self.0
            .chain()
            .any(|c| matches!(c.downcast_ref::<kube::Error>(), Some(kube::Error::Api(s)) if s.code == 409))
    }
}

/// An error's context chain, an API error as its message and code: for
/// logs and the failure conditions of a status.
pub fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for (i, cause) in e.chain().enumerate() {
        if i > 0 {
            out.push_str(": ");
        }
        if let Some(kube::Error::Api(s)) = cause.downcast_ref::<kube::Error>() {
            out.push_str(&format!("{} ({})", s.message, s.code));
            break;
        }
        out.push_str(&cause.to_string());
    }
    out
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(&self.0))
    }
}

impl std::error::Error for Failed {}

/// The cache of a kind and the watch events that fill it, passed on once
/// applied (so that a handler reading the cache sees the event's change).
pub fn watch<K>(
    api: Api<K>,
) -> (
    Store<K>,
    BoxStream<'static, watcher::Result<watcher::Event<K>>>,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let events = reflector::reflector(
        writer,
        watcher::watcher(api, watcher::Config::default()).default_backoff(),
    );
    (store, events.boxed())
}

pub type Requests<K> = BoxStream<'static, Result<ReconcileRequest<K>, watcher::Error>>;

/// Reconcile requests from watch events: `map` names the objects an event
/// concerns (it may keep state across events).
pub fn requests<T, K, E>(
    events: impl Stream<Item = watcher::Result<E>> + Send + 'static,
    mut map: impl FnMut(&watcher::Event<T>) -> Vec<ObjectRef<K>> + Send + 'static,
) -> Requests<K>
where
    T: Send + 'static,
    K: Resource + 'static,
    K::DynamicType: Send,
    E: Borrow<watcher::Event<T>> + Send + 'static,
{
    events
        .map_ok(move |event| {
            futures::stream::iter(map(event.borrow()).into_iter().map(|r| Ok(r.into())))
        })
        .try_flatten()
        .boxed()
}

/// Requests for the objects themselves (added, changed, deleted, relisted).
pub fn own_requests<K>(
    events: impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
) -> Requests<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    controller::trigger_self(events.touched_objects(), ()).boxed()
}

/// Requests for the objects themselves, from a shared informer's events.
pub fn own_shared_requests<K>(events: super::informer::Events<K>) -> Requests<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    requests(events, |event: &watcher::Event<K>| match event {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o) => {
            vec![ObjectRef::from_obj(o)]
        }
        watcher::Event::Init | watcher::Event::InitDone => Vec::new(),
    })
}

/// Consecutive failures per object: 50 ms, doubling up to a minute.
#[derive(Default)]
struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    fn fail(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().expect("not poisoned");
        let n = failures.entry(key.to_owned()).or_default();
        *n = n.saturating_add(1);
        delay(*n)
    }

    fn reset(&self, key: &str) {
        self.failures.lock().expect("not poisoned").remove(key);
    }
}

fn delay(failures: u32) -> Duration {
    let ms = 50u64.saturating_mul(1 << failures.saturating_sub(1).min(16));
    Duration::from_millis(ms.min(60_000))
}

fn key_of<K: Resource>(obj: &K) -> String {
    let meta = obj.meta();
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

pub type Reconcile<K, C> = fn(Arc<K>, Arc<C>) -> BoxFuture<'static, anyhow::Result<Action>>;

/// Runs `reconcile` for every request until the requests end (they do not
/// while the watches run), a few objects at a time.
pub async fn drive<K, C>(
    name: &'static str,
    store: Store<K>,
    requests: Requests<K>,
    ctx: Arc<C>,
    reconcile: Reconcile<K, C>,
) -> anyhow::Result<()>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    let backoff = Arc::new(Backoff::default());
    let on_error = backoff.clone();
    let results = applier(
        move |obj: Arc<K>, ctx: Arc<C>| {
            let backoff = backoff.clone();
            let key = key_of(&*obj);
            Box::pin(async move {
                match reconcile(obj, ctx).await {
                    Ok(action) => {
                        backoff.reset(&key);
                        Ok(action)
                    }
                    Err(e) => Err(Failed(e)),
                }
            }) as BoxFuture<'static, Result<Action, Failed>>
        },
        move |obj: Arc<K>, _: &Failed, _: Arc<C>| Action::requeue(on_error.fail(&key_of(&*obj))),
        ctx,
        store,
        requests,
        controller::Config::default().concurrency(4),
    );
    results
        .for_each(|result| async move {
            match result {
                Ok(_) => {}
                // Requested for an object deleted since: nothing to do.
                Err(controller::Error::ObjectNotFound(r)) => debug!(object = %r, "{name}: gone"),
                Err(controller::Error::ReconcilerFailed(e, r)) if e.is_conflict() => {
                    debug!(object = %r, "{name}: {e}")
                }
                Err(controller::Error::ReconcilerFailed(e, r)) => {
                    warn!(object = %r, "{name}: {e}")
                }
                Err(e) => warn!("{name}: {e}"),
            }
        })
        .await;
    anyhow::bail!("the {name} requests ended")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_minute() {
        assert_eq!(delay(1), Duration::from_millis(50));
        assert_eq!(delay(2), Duration::from_millis(100));
        assert_eq!(delay(5), Duration::from_millis(800));
        assert_eq!(delay(40), Duration::from_secs(60));
    }
}
