//! One watch per kind for the loops that share it (upstream's shared
//! informers): a single cache, and every event passed on to each
//! subscriber once the cache holds it. A pod event is then decoded once,
//! not once per loop, and the API server serves one watch, not several.
//!
//! Subscribers join before the watch starts ([`Informers::start`]), so each
//! sees the first list from its beginning; relists reach them as they come.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::warn;

pub type Events<K> = BoxStream<'static, watcher::Result<Arc<watcher::Event<K>>>>;

/// A loop's view of a shared informer: the cache, and the events.
pub struct Subscription<K: Resource<DynamicType = ()> + Clone + 'static> {
    pub store: Store<K>,
    pub events: Events<K>,
}

pub struct Informer<K: Resource<DynamicType = ()> + Clone + 'static> {
    api: Api<K>,
    store: Store<K>,
    writer: Mutex<Option<reflector::store::Writer<K>>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Arc<watcher::Event<K>>>>>,
}

impl<K> Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    fn new(api: Api<K>) -> Self {
        let (store, writer) = reflector::store();
        Informer {
            api,
            store,
            writer: Mutex::new(Some(writer)),
            subscribers: Mutex::default(),
        }
    }

    /// The cache, and every event from the first list on, each after the
    /// cache applied it.
    pub fn subscribe(&self) -> Subscription<K> {
        Subscription {
            store: self.store.clone(),
            events: self.events(),
        }
    }

    fn events(&self) -> Events<K> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers.lock().expect("not poisoned").push(tx);
        futures::stream::unfold(rx, |mut rx| async move {
            let event = rx.recv().await?;
            Some((Ok(event), rx))
        })
        .boxed()
    }

    /// Runs the watch; None if nobody subscribed (or it runs already).
    fn run(self: Arc<Self>) -> Option<futures::future::BoxFuture<'static, anyhow::Result<()>>> {
        if self.subscribers.lock().expect("not poisoned").is_empty() {
            return None;
        }
        let mut writer = self.writer.lock().expect("not poisoned").take()?;
        let events =
            watcher::watcher(self.api.clone(), watcher::Config::default()).default_backoff();
        Some(Box::pin(async move {
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(e) => Arc::new(e),
                    Err(e) => {
                        warn!("watching {}: {e}", K::plural(&()));
                        continue;
                    }
                };
                writer.apply_watcher_event(&event);
                self.subscribers
                    .lock()
                    .expect("not poisoned")
                    .retain(|s| s.send(event.clone()).is_ok());
            }
            anyhow::bail!("the {} watch ended", K::plural(&()))
        }))
    }
}

/// The kinds several loops watch.
pub struct Informers {
    pub pods: Arc<Informer<Pod>>,
    pub replicasets: Arc<Informer<ReplicaSet>>,
}

impl Informers {
    pub fn new(client: &Client) -> Self {
        Informers {
            pods: Arc::new(Informer::new(Api::all(client.clone()))),
            replicasets: Arc::new(Informer::new(Api::all(client.clone()))),
        }
    }

    /// The watches that have subscribers, to run beside the loops.
    pub fn start(&self) -> Vec<futures::future::BoxFuture<'static, anyhow::Result<()>>> {
        [self.pods.clone().run(), self.replicasets.clone().run()]
            .into_iter()
            .flatten()
            .collect()
    }
}
