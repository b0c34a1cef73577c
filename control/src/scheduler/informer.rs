//! The watches the scheduler lives on, merged into one stream: nodes,
//! pods (through a reflector, whose store answers "what does this pod look
//! like now" when reporting), namespaces (their labels, for namespace
//! selectors), and Services and ReplicaSets (their selectors, for default
//! spreading). Finished pods are left out, as upstream's informer does:
//! they hold nothing on their nodes.

use futures::stream::{BoxStream, StreamExt as _};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use kube::Client;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use tracing::warn;

/// Boxed: objects differ much in size.
pub enum Update {
    Node(Box<watcher::Event<Node>>),
    Pod(Box<watcher::Event<Pod>>),
    Namespace(Box<watcher::Event<Namespace>>),
    Service(Box<watcher::Event<Service>>),
    ReplicaSet(Box<watcher::Event<ReplicaSet>>),
}

pub fn start(client: Client) -> (BoxStream<'static, Update>, Store<Pod>) {
    let (pods, writer) = reflector::store();
    let unfinished =
        watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    let pod_events = reflector::reflector(
        writer,
        watcher(Api::<Pod>::all(client.clone()), unfinished).default_backoff(),
    )
    .map(|r| r.map(|e| Update::Pod(Box::new(e))));
    let node_events = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .map(|r| r.map(|e| Update::Node(Box::new(e))));
    let namespace_events = watcher(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|r| r.map(|e| Update::Namespace(Box::new(e))));
    let service_events = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|r| r.map(|e| Update::Service(Box::new(e))));
    let replica_set_events = watcher(Api::<ReplicaSet>::all(client), watcher::Config::default())
        .default_backoff()
        .map(|r| r.map(|e| Update::ReplicaSet(Box::new(e))));
    let merged = futures::stream::select_all([
        pod_events.boxed(),
        node_events.boxed(),
        namespace_events.boxed(),
        service_events.boxed(),
        replica_set_events.boxed(),
    ])
    .filter_map(|r| async move {
        // The watcher lists again after an error; nothing is lost.
        r.map_err(|e| warn!(error = %e, "scheduler watch failed; retrying"))
            .ok()
    })
    .boxed();
    (merged, pods)
}
